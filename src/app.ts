import type { Authenticator } from "./auth/jwt.js";
import type { Config } from "./config.js";
import { connectDatabase, type DatabaseHandle } from "./db/client.js";
import { CircuitBreaker } from "./lcic/breaker.js";
import { createLcicClient, type LcicClient } from "./lcic/client.js";
import { createPostgresPacer } from "./lcic/pacer.js";
import { createResilientLcicClient, type ResilientLcicClient } from "./lcic/resilient.js";
import { startReconciler, type Reconciler } from "./jobs/reconciler.js";
import { startTokenWarming, type TokenWarming, type TokenWarmingOptions } from "./jobs/token-warming.js";
import { RegistrationLimiter } from "./limits/registration-limiter.js";
import type { Logger } from "./logger.js";
import { loadTrustedDocuments } from "./security/trusted-documents.js";
import { createServer, type AppServer } from "./server.js";
import { BulkRegistration } from "./users/bulk-registration.js";
import { BulkRegistrationRepository } from "./users/bulk-repository.js";
import { RegistrationLock } from "./users/registration-lock.js";
import { UsersRepository } from "./users/repository.js";
import { TokenWarmingRepository } from "./users/token-warming-repository.js";
import { UsersService } from "./users/service.js";
import { TokenCipher } from "./users/tokens.js";

export interface AppDeps {
  config: Config;
  logger: Logger;
  databaseUrl: string;
  /** Overrides the LCIC client built from config (credentials, endpoint): e.g. the in-process emulator's. */
  lcic?: LcicClient;
  lcicCredentials?: { endpoint: string; secretId: string; secretKey: string };
  tokenKeys: Buffer[];
  /** Run the background reconciler of pending registrations (default: as config.reconciler says). */
  reconciler?: boolean | { intervalMs?: number; staleAfterMs?: number };
  /** Sees every SQL statement the app's pool sends (tests count queries). */
  onQuery?: (query: string) => void;
  /** Overrides the authenticator built from config.auth (tests: short JWKS cooldowns). */
  authenticator?: Authenticator;
  /** Background token warming (default: as config.tokenWarming says); an object overrides its timing. */
  tokenWarming?: boolean | Pick<TokenWarmingOptions, "scanIntervalMs" | "now">;
}

export interface App {
  server: AppServer;
  db: DatabaseHandle;
  users: UsersService;
  bulkRegistration: BulkRegistration;
  lcic: ResilientLcicClient;
  reconciler: Reconciler | undefined;
  tokenWarming: TokenWarming | undefined;
  close(graceMs?: number): Promise<void>;
}

/** Wires config → database → LCIC client → service → server. No I/O beyond opening the pool (and reading TRUSTED_DOCUMENTS_FILE). */
export function createApp(deps: AppDeps): App {
  const { config, logger } = deps;
  const db = connectDatabase(deps.databaseUrl, { poolSize: config.database.poolSize, ...(deps.onQuery ? { onQuery: deps.onQuery } : {}) });
  const credentials = deps.lcicCredentials ?? {
    endpoint: config.lcic.endpoint,
    secretId: config.lcic.secretId ?? "",
    secretKey: config.lcic.secretKey ?? "",
  };
  const sdkClient =
    deps.lcic ??
    createLcicClient({
      ...credentials,
      timeoutMs: config.lcic.timeoutMs,
      ...(config.lcic.region ? { region: config.lcic.region } : {}),
    });
  // Pacing is shared by every replica through PostgreSQL; the breaker is per process.
  const lcic = createResilientLcicClient(sdkClient, {
    pacer: createPostgresPacer(db.db, { maxQueueMs: config.lcic.maxQueueMs, scope: config.lcic.rateLimitScope }),
    breaker: new CircuitBreaker({
      ...(config.lcic.circuitFailures === 0
        ? // Off: nothing ever opens it.
          { consecutiveFailures: Number.POSITIVE_INFINITY, failureRatio: 2 }
        : { consecutiveFailures: config.lcic.circuitFailures }),
      coolDownMs: config.lcic.circuitCooldownMs,
      onStateChange: ({ from, to }) => logger.warn({ from, to }, `LCIC circuit ${to}`),
    }),
    maxQueueMs: config.lcic.maxQueueMs,
    onEvent: (event) => {
      if (event.type === "retry") logger.info(event, "retrying LCIC call");
      else if (event.type === "call" && event.detail) logger.error(event, "LCIC refused this service's credentials or configuration");
      else if (event.type === "call" && event.outcome === "error") logger.warn(event, "LCIC call failed");
    },
  });
  const lock = new RegistrationLock(db.openSession);
  const repository = new UsersRepository(db.db);
  const cipher = new TokenCipher(deps.tokenKeys);
  const users = new UsersService({
    repository,
    lock,
    lcic,
    cipher,
    logger,
    sdkAppId: config.lcic.sdkAppId,
    sdkAppIds: config.lcic.sdkAppIds,
    lookup: {
      missTtlMs: config.lookups.missTtlMs,
      // The same per-client fixed-window counter as registrations, under its own keys (`lookup:<client>`).
      fallbackBudget: new RegistrationLimiter(db.db, { limit: config.lookups.fallbacksPerMinute }),
    },
  });
  const warmingEnabled = deps.tokenWarming === undefined ? config.tokenWarming.enabled : deps.tokenWarming !== false;
  const tokenWarming = warmingEnabled
    ? startTokenWarming({
        databaseUrl: deps.databaseUrl,
        users: repository,
        warming: new TokenWarmingRepository(db.db),
        lcic,
        cipher,
        logger,
        refreshAheadHours: config.tokenWarming.refreshAheadHours,
        keepWarmDays: config.tokenWarming.keepWarmDays,
        ...(typeof deps.tokenWarming === "object" ? deps.tokenWarming : {}),
      })
    : undefined;
  const bulkRegistration = new BulkRegistration({
    repository: new BulkRegistrationRepository(db.db),
    lock,
    lcic,
    logger,
    sdkAppId: config.lcic.sdkAppId,
    sdkAppIds: config.lcic.sdkAppIds,
    // New users get their tokens in the background; a failed scan is retried by the periodic one.
    onCreated: () => void tokenWarming?.scan().catch(() => undefined),
  });
  const reconcilerOptions = {
    intervalMs: config.reconciler.intervalMs,
    staleAfterMs: config.reconciler.staleAfterMs,
    ...(typeof deps.reconciler === "object" ? deps.reconciler : {}),
  };
  const reconcilerEnabled = deps.reconciler === undefined ? config.reconciler.enabled : deps.reconciler !== false;
  const reconciler = reconcilerEnabled ? startReconciler({ users, logger, completeBatches: (rows) => bulkRegistration.completeStale(rows), ...reconcilerOptions }) : undefined;
  const registrationLimiter = new RegistrationLimiter(db.db, { limit: config.security.registrationsPerMinute });
  const trustedDocuments = config.security.trustedDocumentsFile ? loadTrustedDocuments(config.security.trustedDocumentsFile) : undefined;
  const server = createServer({
    db,
    users,
    bulkRegistration,
    logger,
    auth: config.auth,
    defaultSdkAppId: config.lcic.sdkAppId,
    security: config.security,
    registrationLimiter,
    lcicCircuit: () => lcic.circuitState(),
    ...(deps.authenticator ? { authenticator: deps.authenticator } : {}),
    ...(trustedDocuments ? { trustedDocuments } : {}),
    fastLane: config.httpFastLane,
  });
  return {
    server,
    db,
    users,
    bulkRegistration,
    lcic,
    reconciler,
    tokenWarming,
    async close(graceMs) {
      await reconciler?.stop();
      await tokenWarming?.stop();
      await server.close(graceMs);
      await lock.close();
      await db.close();
    },
  };
}
