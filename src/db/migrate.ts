import { fileURLToPath } from "node:url";
import { drizzle } from "drizzle-orm/postgres-js";
import { migrate } from "drizzle-orm/postgres-js/migrator";
import postgres from "postgres";

export const MIGRATIONS_FOLDER = fileURLToPath(new URL("../../drizzle", import.meta.url));

/** Applies the committed drizzle-kit migrations. Safe to run concurrently from several replicas. */
export async function applyMigrations(url: string): Promise<void> {
  // One dedicated connection: the advisory lock below is session-scoped.
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    // Replicas starting together would otherwise race to create the same tables.
    await sql`select pg_advisory_lock(hashtext('classroom-users:migrations'))`;
    await migrate(drizzle(sql), { migrationsFolder: MIGRATIONS_FOLDER });
  } finally {
    await sql.end({ timeout: 5 });
  }
}

// `npm run db:migrate`: apply the migrations to DATABASE_URL and exit.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const url = process.env.DATABASE_URL;
  if (!url) {
    console.error("DATABASE_URL is not set: db:migrate needs the PostgreSQL to migrate (e.g. postgres://user:pass@host:5432/db).");
    process.exit(1);
  }
  applyMigrations(url).then(
    () => console.log("migrations applied"),
    (error: unknown) => {
      console.error("migration failed:", error instanceof Error ? error.message : error);
      process.exit(1);
    },
  );
}
