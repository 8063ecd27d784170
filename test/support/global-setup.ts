import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";
import { startEmbeddedPostgres } from "../../src/db/embedded.js";
import { applyMigrations } from "../../src/db/migrate.js";

export const TEMPLATE_DATABASE = "classroom_users_template";

declare module "vitest" {
  export interface ProvidedContext {
    /** URL of the maintenance database of the run's PostgreSQL, e.g. postgres://...:PORT/postgres */
    postgresUrl: string;
    templateDatabase: string;
  }
}

export default async function setup(project: TestProject) {
  // The process-wide http_proxy would reroute the SDK even to loopback; the client passes its own
  // agent, and tests must not depend on the developer's proxy settings either way.
  delete process.env.http_proxy;
  const dir = await mkdtemp(path.join(tmpdir(), "classroom-users-test-pg-"));
  // mkdtemp makes it 0700; as root, PostgreSQL runs as the `postgres` user, which must reach the data dir.
  await chmod(dir, 0o755);
  const pg = await startEmbeddedPostgres({ dataDir: path.join(dir, "data"), persistent: false, fast: true });
  await pg.createDatabase(TEMPLATE_DATABASE);
  await applyMigrations(pg.urlFor(TEMPLATE_DATABASE));
  project.provide("postgresUrl", pg.url);
  project.provide("templateDatabase", TEMPLATE_DATABASE);
  return async () => {
    await pg.stop();
    await rm(dir, { recursive: true, force: true });
  };
}
