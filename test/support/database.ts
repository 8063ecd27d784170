import { randomBytes } from "node:crypto";
import postgres from "postgres";
import { inject } from "vitest";
import { connectDatabase, type DatabaseHandle } from "../../src/db/client.js";

/**
 * A fresh, migrated database for one test file, cloned from the run's template database.
 * Returns its URL and an open handle; `close()` closes the handle (the database is dropped with the cluster).
 */
export async function createTestDatabase(): Promise<DatabaseHandle & { url: string }> {
  const maintenanceUrl = inject("postgresUrl");
  const template = inject("templateDatabase");
  const name = `t_${randomBytes(6).toString("hex")}`;
  const admin = postgres(maintenanceUrl, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`CREATE DATABASE ${name} TEMPLATE ${template}`);
  } finally {
    await admin.end({ timeout: 5 });
  }
  const url = maintenanceUrl.replace(/\/postgres$/, `/${name}`);
  return Object.assign(connectDatabase(url, { poolSize: 20 }), { url });
}
