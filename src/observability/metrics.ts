/**
 * Prometheus metrics, one registry per app (tests run many apps in one process; the global registry
 * would mix them). GraphQL operation metrics come from yoga's prometheus plugin (server.ts); the
 * product's own are here, fed by the edges in app.ts (the LCIC client's events, the pacer, the
 * service's results) and, for the pending rows, read by SQL when scraped. Label values are bounded:
 * actions, codes, outcomes and states, never user ids or originIds.
 */
import { createServer, type Server } from "node:http";
import { and, count, eq, min } from "drizzle-orm";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Database } from "../db/client.js";
import { classroomUsers } from "../db/schema.js";
import type { LcicAction } from "../lcic/client.js";

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const PACER_BUCKETS = [0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5];
const CIRCUIT_STATES = ["closed", "open", "half_open"] as const;

/**
 * How often Node samples the event loop's delay for prom-client's `nodejs_eventloop_lag_*` summary
 * (`monitorEventLoopDelay`'s resolution), ms. prom-client's default, 10 ms, is a timer that wakes the
 * process 100 times a second for as long as it lives: an idle replica spent ~7 ms of CPU a second
 * (0.7 % of a core) on it, 0.5 ms with 100 ms (built start, idle after 30 s, /proc CPU time). 100 ms
 * still gives 10 samples a second, 150 per 15-second scrape, and a stall of the loop delays whichever
 * sample is due, so long stalls still show in the maximum and the percentiles.
 */
export const EVENT_LOOP_MONITORING_PRECISION_MS = 100;

export type RegistrationOutcome = "created" | "existing" | string;

export interface ProductMetrics {
  registry: Registry;
  lcicCall(action: LcicAction, outcome: string, durationMs: number, pacedMs: number): void;
  pacerQueued(action: LcicAction, delta: 1 | -1): void;
  registration(outcome: RegistrationOutcome): void;
  tokenIssued(source: "stored" | "lcic"): void;
  reconciled(outcome: string): void;
  clientRefused(limit: string): void;
  /** Serialised exposition, as /metrics serves it. */
  text(): Promise<string>;
}

export interface MetricsSources {
  db: Database;
  /** Each LCIC action's circuit breaker state. */
  circuitStates: () => Record<string, string>;
}

export function createMetrics(sources: MetricsSources): ProductMetrics {
  const registry = new Registry();
  const lcicCalls = new Counter({
    name: "classroom_users_lcic_calls_total",
    help: "LCIC call attempts by action and outcome (ok, or the error code: LCIC's, or ours such as Network.Timeout)",
    labelNames: ["action", "outcome"],
    registers: [registry],
  });
  const lcicLatency = new Histogram({
    name: "classroom_users_lcic_call_duration_seconds",
    help: "LCIC call attempt latency (after the pacer slot), by action",
    labelNames: ["action"],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const pacerWait = new Histogram({
    name: "classroom_users_lcic_pacer_wait_seconds",
    help: "Time an LCIC call waited for its rate-limit slot, by action",
    labelNames: ["action"],
    buckets: PACER_BUCKETS,
    registers: [registry],
  });
  const pacerQueued = new Gauge({
    name: "classroom_users_lcic_pacer_queued_calls",
    help: "LCIC calls waiting for a rate-limit slot now, by action",
    labelNames: ["action"],
    registers: [registry],
  });
  new Gauge({
    name: "classroom_users_lcic_circuit_state",
    help: "LCIC circuit breaker state per action: 1 for the current state (closed, open, half_open), 0 for the others",
    labelNames: ["action", "state"],
    registers: [registry],
    collect() {
      for (const [action, current] of Object.entries(sources.circuitStates())) {
        for (const state of CIRCUIT_STATES) this.set({ action, state }, state === current ? 1 : 0);
      }
    },
  });
  const registrations = new Counter({
    name: "classroom_users_registrations_total",
    help: "registerClassroomUser results by outcome: created, existing, or the error type",
    labelNames: ["outcome"],
    registers: [registry],
  });
  const tokens = new Counter({
    name: "classroom_users_tokens_issued_total",
    help: "LCIC login tokens handed out, by source: stored (still fresh in PostgreSQL) or lcic (RegisterUser, LoginUser, LoginOriginId)",
    labelNames: ["source"],
    registers: [registry],
  });
  const refreshes = new Counter({
    name: "classroom_users_token_refreshes_total",
    help: "Successful LoginUser calls: stored tokens refreshed because they were about to expire",
    registers: [registry],
  });
  const reconciled = new Counter({
    name: "classroom_users_reconciler_completions_total",
    help: "Pending registrations the reconciler handled, by outcome (registered, cleared, withdrawn, skipped, failed), and deletions whose outcome was lost that it finished (deletion_erased, deletion_kept, deletion_skipped, deletion_failed)",
    labelNames: ["outcome"],
    registers: [registry],
  });
  const refusals = new Counter({
    name: "classroom_users_client_refusals_total",
    help: "Requests refused by a per-client limit, by limit",
    labelNames: ["limit"],
    registers: [registry],
  });
  const pendingRows = new Gauge({ name: "classroom_users_pending_registrations", help: "Rows in classroom_users still pending (read when scraped)", registers: [registry] });
  const oldestPending = new Gauge({
    name: "classroom_users_oldest_pending_age_seconds",
    help: "Age of the oldest pending registration, 0 when none (read when scraped)",
    registers: [registry],
  });
  const pendingQuery = sources.db
    .select({ rows: count(), oldest: min(classroomUsers.createdAt) })
    .from(classroomUsers)
    .where(and(eq(classroomUsers.status, "pending")))
    .prepare("metrics_pending_registrations");

  const readPending = async () => {
    try {
      const [row] = await pendingQuery.execute();
      pendingRows.set(row?.rows ?? 0);
      oldestPending.set(row?.oldest ? Math.max(0, (Date.now() - new Date(row.oldest).getTime()) / 1000) : 0);
    } catch {
      // Database down: the last values stay; /readyz says why.
    }
  };

  return {
    registry,
    lcicCall(action, outcome, durationMs, pacedMs) {
      lcicCalls.inc({ action, outcome });
      lcicLatency.observe({ action }, durationMs / 1000);
      pacerWait.observe({ action }, pacedMs / 1000);
      if (action === "LoginUser" && outcome === "ok") refreshes.inc();
    },
    pacerQueued: (action, delta) => pacerQueued.inc({ action }, delta),
    registration: (outcome) => registrations.inc({ outcome }),
    tokenIssued: (source) => tokens.inc({ source }),
    reconciled: (outcome) => reconciled.inc({ outcome }),
    clientRefused: (limit) => refusals.inc({ limit }),
    async text() {
      await readPending();
      return registry.metrics();
    },
  };
}

let processMetricsRegistry: Registry | undefined;

export interface MetricsListener {
  port: number;
  url: string;
  close(): Promise<void>;
}

/**
 * `/metrics` on its own listener (never the GraphQL port), with Node's default process metrics added
 * once per process (they watch process-wide things: GC, event loop, memory).
 */
export async function startMetricsServer(metrics: ProductMetrics, port: number, host: string): Promise<MetricsListener> {
  if (!processMetricsRegistry) {
    processMetricsRegistry = new Registry();
    collectDefaultMetrics({ register: processMetricsRegistry, eventLoopMonitoringPrecision: EVENT_LOOP_MONITORING_PRECISION_MS });
  }
  const processRegistry = processMetricsRegistry;
  const server: Server = createServer((req, res) => {
    if ((req.url?.split("?")[0] ?? "") !== "/metrics" || (req.method !== "GET" && req.method !== "HEAD")) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found: GET /metrics\n");
      return;
    }
    void Promise.all([metrics.text(), processRegistry.metrics()]).then(
      ([product, process]) => {
        res.writeHead(200, { "content-type": metrics.registry.contentType, "cache-control": "no-store" });
        res.end(`${product}\n${process}`);
      },
      (error: unknown) => {
        res.writeHead(500, { "content-type": "text/plain" }).end(`metrics failed: ${error instanceof Error ? error.message : String(error)}\n`);
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  const actual = typeof address === "object" && address ? address.port : port;
  return {
    port: actual,
    url: `http://${host.includes(":") ? `[${host}]` : host}:${actual}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
