import { drizzle, type PostgresJsDatabase } from "drizzle-orm/postgres-js";
import type { Tracer } from "@opentelemetry/api";
import postgres from "postgres";
import { traceSql } from "../observability/sql-tracing.js";
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
  /** When tracing is on: one span per statement (observability/sql-tracing.ts). */
  tracer?: Tracer;
  /**
   * `DATABASE_UNAVAILABLE_TIMEOUT_MS`: how long opening a connection may take before the statement
   * waiting for it fails, so an unreachable database fails requests instead of hanging them.
   */
  connectTimeoutMs?: number;
}

export function connectDatabase(url: string, options: ConnectOptions = {}): DatabaseHandle {
  const { onQuery, tracer } = options;
  const connectTimeout = Math.max(1, Math.ceil((options.connectTimeoutMs ?? 30_000) / 1000));
  const traced = (client: postgres.Sql) => (tracer ? traceSql(client, tracer) : client);
  // postgres.js waits up to 20 s (exponential) before reconnecting after failures, with statements
  // queued meanwhile: after a restart or failover the service would stay unusable that long. Retry
  // within half a second instead; a refused connection costs nothing.
  const backoff = (retries: number) => Math.min(0.05 * 2 ** retries, 0.5);
  const sql = traced(postgres(url, {
    max: options.poolSize ?? 10,
    ...(onQuery ? { debug: (_connection: number, query: string) => onQuery(query) } : {}),
    // Server notices (e.g. "relation already exists, skipping") are not ours to print.
    onnotice: () => {},
    connection: { application_name: options.applicationName ?? "classroom-users" },
    connect_timeout: connectTimeout,
    backoff,
  }));
  const db = drizzle(sql, { schema });
  return {
    db,
    sql,
    openSession: () =>
      traced(
        postgres(url, {
          max: 1,
          onnotice: () => {},
          connection: { application_name: `${options.applicationName ?? "classroom-users"}:lock` },
          connect_timeout: connectTimeout,
          backoff,
        }),
      ),
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
