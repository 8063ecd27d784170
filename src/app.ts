import type { Authenticator } from "./auth/jwt.js";
import type { Config } from "./config.js";
import { connectDatabase, type DatabaseHandle } from "./db/client.js";
import { CircuitBreaker } from "./lcic/breaker.js";
import { createLcicClient, type LcicClient } from "./lcic/client.js";
import { createPostgresPacer, type Pacer } from "./lcic/pacer.js";
import { createResilientLcicClient, type ResilientLcicClient } from "./lcic/resilient.js";
import { startReconciler, type Reconciler } from "./jobs/reconciler.js";
import { startTokenWarming, type TokenWarming, type TokenWarmingOptions } from "./jobs/token-warming.js";
import { RegistrationLimiter } from "./limits/registration-limiter.js";
import type { Logger } from "./logger.js";
import { audit, noteLcicToken, withTokenSources } from "./observability/audit.js";
import { createMetrics, type ProductMetrics } from "./observability/metrics.js";
import { recordSpan, type Tracing } from "./observability/tracing.js";
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
  /** OpenTelemetry, when config.tracing is set: `await createTracing(config.tracing)` (observability/tracing-sdk.ts). */
  tracing?: Tracing;
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
  /** This app's Prometheus registry and product metrics (main.ts serves them on METRICS_PORT). */
  metrics: ProductMetrics;
  tracing: Tracing | undefined;
  tokenWarming: TokenWarming | undefined;
  close(graceMs?: number): Promise<void>;
}

/** LCIC actions whose success hands us a login token. */
const TOKEN_ACTIONS: ReadonlySet<string> = new Set(["RegisterUser", "LoginUser", "LoginOriginId"]);

/** Wires config → database → LCIC client → service → server. No I/O beyond opening the pool (and reading TRUSTED_DOCUMENTS_FILE). */
export function createApp(deps: AppDeps): App {
  const { config, logger } = deps;
  const tracing = deps.tracing;
  const db = connectDatabase(deps.databaseUrl, {
    poolSize: config.database.poolSize,
    connectTimeoutMs: config.database.unavailableTimeoutMs,
    ...(deps.onQuery ? { onQuery: deps.onQuery } : {}),
    ...(tracing ? { tracer: tracing.tracer } : {}),
  });
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
  // Declared before the LCIC client, whose events feed it; reads the client's breakers when scraped.
  const metrics: ProductMetrics = createMetrics({
    db: db.db,
    circuitStates: () => lcic.circuitStates(),
  });
  // Pacing is shared by every replica through PostgreSQL; the breakers are per process, one per action.
  const lcic = createResilientLcicClient(sdkClient, {
    pacer: countQueued(createPostgresPacer(db.db, { maxQueueMs: config.lcic.maxQueueMs, scope: config.lcic.rateLimitScope }), metrics),
    breaker: (action) =>
      new CircuitBreaker({
        ...(config.lcic.circuitFailures === 0
          ? // Off: nothing ever opens it.
            { consecutiveFailures: Number.POSITIVE_INFINITY, failureRatio: 2 }
          : { consecutiveFailures: config.lcic.circuitFailures }),
        coolDownMs: config.lcic.circuitCooldownMs,
        onStateChange: ({ from, to }) => logger.warn({ action, from, to }, `LCIC circuit of ${action} ${to}`),
      }),
    maxQueueMs: config.lcic.maxQueueMs,
    onEvent: (event) => {
      if (event.type === "retry") logger.info(event, "retrying LCIC call");
      else if (event.type === "call" && event.detail) logger.error(event, "LCIC refused this service's credentials or configuration");
      else if (event.type === "call" && event.outcome === "error") logger.warn(event, "LCIC call failed");
      if (event.type !== "call") return;
      metrics.lcicCall(event.action, event.outcome === "ok" ? "ok" : (event.code ?? "error"), event.durationMs, event.pacedMs);
      if (event.outcome === "ok" && TOKEN_ACTIONS.has(event.action)) noteLcicToken(event.action);
      if (tracing) {
        const endTime = Date.now();
        recordSpan(tracing.tracer, `lcic ${event.action}`, {
          startTime: endTime - event.durationMs - event.pacedMs,
          endTime,
          attributes: {
            "rpc.system": "tencentcloud",
            "rpc.service": "lcic",
            "rpc.method": event.action,
            "lcic.action": event.action,
            "lcic.outcome": event.outcome === "ok" ? "ok" : (event.code ?? "error"),
            "lcic.attempt": event.attempt,
            "lcic.pacer_wait_ms": event.pacedMs,
            ...(event.lcicRequestId ? { "lcic.request_id": event.lcicRequestId } : {}),
          },
          ...(event.outcome === "error" ? { error: event.code ?? "error" } : {}),
        });
      }
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
      batch: config.lookups.batch,
      // The same per-client fixed-window counter as registrations, under its own keys (`lookup:<client>`).
      fallbackBudget: countRefusals(new RegistrationLimiter(db.db, { limit: config.lookups.fallbacksPerMinute }), metrics, "lookup_fallback"),
    },
  });
  observeUsers(users, metrics, logger);
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
    finishDeletion: (sdkAppId, originId) => users.finishDeletionOfKey(sdkAppId, originId),
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
  countRefusals(registrationLimiter, metrics, "registration");
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
    lcicCircuits: () => lcic.circuitStates(),
    databaseUnavailableTimeoutMs: config.database.unavailableTimeoutMs,
    // METRICS_PORT=0: nobody scrapes, so GraphQL requests do not pay for the prometheus plugin.
    ...(config.metrics.port !== 0 ? { metrics } : {}),
    ...(tracing ? { tracing } : {}),
    ...(deps.authenticator ? { authenticator: deps.authenticator } : {}),
    ...(trustedDocuments ? { trustedDocuments } : {}),
    fastLane: config.httpFastLane,
    jit: config.graphqlJit,
  });
  return {
    server,
    db,
    users,
    bulkRegistration,
    lcic,
    reconciler,
    metrics,
    tracing,
    tokenWarming,
    async close(graceMs) {
      await reconciler?.stop();
      await tokenWarming?.stop();
      await server.close(graceMs);
      await lock.close();
      await db.close();
      await tracing?.shutdown().catch(() => undefined);
    },
  };
}

/** A per-client limit whose refusals are counted (`classroom_users_client_refusals_total{limit}`). */
function countRefusals<D extends { allowed: boolean }, L extends { consume(clientKey: string): Promise<D> }>(limiter: L, metrics: ProductMetrics, limit: string): L {
  const consume = limiter.consume.bind(limiter);
  limiter.consume = async (clientKey) => {
    const decision = await consume(clientKey);
    if (!decision.allowed) metrics.clientRefused(limit);
    return decision;
  };
  return limiter;
}

/** The pacer, counting the calls waiting for a slot. */
function countQueued(pacer: Pacer, metrics: ProductMetrics): Pacer {
  return {
    async acquire(action, sdkAppId, options) {
      metrics.pacerQueued(action, 1);
      try {
        return await pacer.acquire(action, sdkAppId, options);
      } finally {
        metrics.pacerQueued(action, -1);
      }
    },
  };
}

/**
 * Registration and reconciliation outcomes, and an audit event for every token handed out, observed
 * at the service's edge (its public methods) rather than inside its rules.
 */
function observeUsers(users: UsersService, metrics: ProductMetrics, logger: Logger): void {
  const register = users.register.bind(users);
  users.register = async (input, options) => {
    try {
      const { result, lcicActions } = await withTokenSources(() => register(input, options));
      const fromLcic = result.created || lcicActions.length > 0;
      metrics.registration(result.created ? "created" : "existing");
      metrics.tokenIssued(fromLcic ? "lcic" : "stored");
      audit(logger, {
        event: "token.issued",
        operation: "registerClassroomUser",
        sdkAppId: result.user.sdkAppId,
        userId: result.user.userId ?? "",
        originId: result.user.originId,
        source: fromLcic ? "lcic" : "stored",
        ...(fromLcic ? { lcicAction: lcicActions.at(-1) ?? "RegisterUser" } : {}),
      });
      return result;
    } catch (error) {
      metrics.registration(error instanceof Error ? error.constructor.name : "UnknownError");
      throw error;
    }
  };
  const issueToken = users.issueToken.bind(users);
  users.issueToken = async (input, caller) => {
    const issued = await issueToken(input, caller);
    metrics.tokenIssued(issued.fromCache ? "stored" : "lcic");
    audit(logger, {
      event: "token.issued",
      operation: "issueClassroomUserToken",
      sdkAppId: issued.user.sdkAppId,
      userId: issued.user.userId ?? "",
      originId: issued.user.originId,
      source: issued.fromCache ? "stored" : "lcic",
      ...(issued.fromCache ? {} : { lcicAction: "LoginUser" }),
    });
    return issued;
  };
  const deleteUser = users.delete.bind(users);
  users.delete = async (input, caller) => {
    const deleted = await deleteUser(input, caller);
    audit(logger, {
      event: "user.deleted",
      operation: "deleteClassroomUser",
      sdkAppId: deleted.sdkAppId,
      userId: deleted.userId,
      originId: deleted.originId,
      ...(deleted.requestId ? { lcicRequestId: deleted.requestId } : {}),
    });
    return deleted;
  };
  const finishDeletion = users.finishDeletion.bind(users);
  users.finishDeletion = async (row) => {
    try {
      const finished = await finishDeletion(row);
      metrics.reconciled(`deletion_${finished.outcome}`);
      if (finished.outcome === "erased" && finished.userId) {
        audit(logger, {
          event: "user.deleted",
          operation: "reconciler",
          sdkAppId: row.sdkAppId,
          userId: finished.userId,
          originId: row.originId,
          ...(finished.requestId ? { lcicRequestId: finished.requestId } : {}),
        });
      }
      return finished;
    } catch (error) {
      metrics.reconciled("deletion_failed");
      throw error;
    }
  };
  const reconcilePending = users.reconcilePending.bind(users);
  users.reconcilePending = async (row) => {
    try {
      const outcome = await reconcilePending(row);
      metrics.reconciled(outcome);
      return outcome;
    } catch (error) {
      metrics.reconciled("failed");
      throw error;
    }
  };
}
