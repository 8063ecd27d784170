import { drizzle, type PostgresJsDatabase } from "drizzle-orm/postgres-js";
import postgres from "postgres";
import * as schema from "./schema.js";

export type Database = PostgresJsDatabase<typeof schema>;

export interface DatabaseHandle {
  db: Database;
  /** The underlying postgres.js pool, for health checks and shutdown. */
  sql: postgres.Sql;
  /**
   * A new single-connection client, for session state that must outlive one statement (the
   * registration lock). The caller ends it. It reconnects by itself if its connection drops.
   */
  openSession(): postgres.Sql;
  /** `SELECT 1` with a short timeout: true while the database answers. */
  ping(timeoutMs?: number): Promise<boolean>;
  close(): Promise<void>;
}

export interface ConnectOptions {
  poolSize?: number;
  applicationName?: string;
  /** Called with the text of every statement sent (postgres.js `debug`): tests count queries with it. */
  onQuery?: (query: string) => void;
}

export function connectDatabase(url: string, options: ConnectOptions = {}): DatabaseHandle {
  const { onQuery } = options;
  const sql = postgres(url, {
    max: options.poolSize ?? 10,
    ...(onQuery ? { debug: (_connection: number, query: string) => onQuery(query) } : {}),
    // Server notices (e.g. "relation already exists, skipping") are not ours to print.
    onnotice: () => {},
    connection: { application_name: options.applicationName ?? "classroom-users" },
  });
  const db = drizzle(sql, { schema });
  return {
    db,
    sql,
    openSession: () =>
      postgres(url, {
        max: 1,
        onnotice: () => {},
        connection: { application_name: `${options.applicationName ?? "classroom-users"}:lock` },
      }),
    async ping(timeoutMs = 1000) {
      let timer: NodeJS.Timeout | undefined;
      try {
        const query = sql`select 1`;
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            query.cancel();
            reject(new Error("database ping timed out"));
          }, timeoutMs);
        });
        await Promise.race([query, timeout]);
        return true;
      } catch {
        return false;
      } finally {
        clearTimeout(timer);
      }
    },
    close: () => sql.end({ timeout: 5 }),
  };
}
