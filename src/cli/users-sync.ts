/**
 * `npm run users:sync -- --sdk-app-id N [--prune] [--page-size N]`: stores every user LCIC has for
 * the application that this service does not (registered outside it), updates profiles changed in
 * LCIC directly, and reports stored users LCIC no longer has (removing them only with --prune).
 * A thin command over UsersService.sync; progress and summary on stdout, logs on stderr.
 */
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import type { SyncProgress, SyncReport } from "../users/sync.js";

const USAGE = "usage: npm run users:sync -- --sdk-app-id N [--prune] [--page-size N]";

function fail(message: string, code = 2): never {
  console.error(message);
  process.exit(code);
}

function positiveInt(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) fail(`--${name} must be a positive integer, got ${JSON.stringify(value)}\n${USAGE}`);
  return n;
}

export function progressLine(p: SyncProgress): string {
  return `page ${p.page}: ${p.pageUsers} users (${p.seen}/${p.total} seen) added ${p.added}, updated ${p.updated}, unchanged ${p.unchanged}${p.skipped ? `, skipped ${p.skipped}` : ""}`;
}

export function summaryLines(report: SyncReport, prune: boolean, ms: number): string[] {
  const lines = [
    `synced application ${report.sdkAppId} in ${(ms / 1000).toFixed(1)} s, ${report.pages} page(s): seen ${report.seen}, added ${report.added}, updated ${report.updated}, unchanged ${report.unchanged}, skipped ${report.skipped}`,
  ];
  if (report.missing.length === 0) {
    lines.push("stored users missing from LCIC: none");
  } else {
    lines.push(
      `stored users missing from LCIC: ${report.missing.length}` +
        (prune ? `, pruned ${report.pruned.length} (the rest LCIC still has)` : " (run with --prune to remove them)"),
    );
    for (const u of report.missing.slice(0, 50)) lines.push(`  missing userId=${u.userId} originId=${u.originId}`);
    if (report.missing.length > 50) lines.push(`  … and ${report.missing.length - 50} more`);
  }
  return lines;
}

async function main(): Promise<void> {
  let args;
  try {
    args = parseArgs({
      options: { "sdk-app-id": { type: "string" }, prune: { type: "boolean", default: false }, "page-size": { type: "string" }, help: { type: "boolean" } },
      strict: true,
    }).values;
  } catch (error) {
    fail(`${(error as Error).message}\n${USAGE}`);
  }
  if (args.help) {
    console.log(USAGE);
    return;
  }
  const sdkAppId = positiveInt("sdk-app-id", args["sdk-app-id"]) ?? fail(`--sdk-app-id is required\n${USAGE}`);
  const pageSize = positiveInt("page-size", args["page-size"]);
  const prune = args.prune === true;

  // Loaded only once the arguments are good: a usage error answers at once.
  const [{ createApp }, { ConfigError, loadConfig }, { applyMigrations }, { createLogger }] = await Promise.all([
    import("../app.js"),
    import("../config.js"),
    import("../db/migrate.js"),
    import("../logger.js"),
  ]);
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message);
    throw error;
  }
  // The zero-configuration start keeps its PostgreSQL and emulator inside the server process; a sync
  // needs both to be reachable from here.
  if (!config.database.url) fail("users:sync needs DATABASE_URL (the service's PostgreSQL)");
  if (config.lcic.mode !== "remote") {
    fail("users:sync needs TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY (and LCIC_ENDPOINT for a standalone emulator)");
  }
  const logger = createLogger({ level: process.env.LOG_LEVEL || "warn", destination: process.stderr });
  if (config.database.migrateOnStart) await applyMigrations(config.database.url);
  // Sync stores no tokens; a throwaway key stands in when none is configured.
  const app = createApp({ config, logger, databaseUrl: config.database.url, tokenKeys: config.tokenEncryptionKeys ?? [randomBytes(32)], reconciler: false, tokenWarming: false });
  const started = Date.now();
  try {
    const report = await app.users.sync({ sdkAppId, prune, ...(pageSize ? { pageSize } : {}), onPage: (p) => console.log(progressLine(p)) });
    for (const line of summaryLines(report, prune, Date.now() - started)) console.log(line);
  } finally {
    await app.close(0);
  }
}

main().catch((error: unknown) => {
  const typed = error as { name?: string; code?: string; message?: string };
  console.error(`users:sync failed: ${typed.name ?? "Error"}${typed.code ? ` (${typed.code})` : ""}: ${typed.message ?? String(error)}`);
  process.exit(1);
});
