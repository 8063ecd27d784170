import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { useApolloInlineTrace } from "@graphql-yoga/plugin-apollo-inline-trace";
import { useCSRFPrevention } from "@graphql-yoga/plugin-csrf-prevention";
import { usePersistedOperations } from "@graphql-yoga/plugin-persisted-operations";
import { GraphQLError, type GraphQLSchema } from "graphql";
import { createYoga, maskError, type Plugin, type YogaServerInstance } from "graphql-yoga";
import type { AuthConfig } from "./auth/config.js";
import { AuthenticationError, AuthenticationUnavailableError, createAuthenticator, type Authenticator, type Principal } from "./auth/jwt.js";
import type { SecurityConfig } from "./config.js";
import type { DatabaseHandle } from "./db/client.js";
import { databaseFailureReason, isDatabaseUnavailable } from "./db/unavailable.js";
import type { RegistrationLimiter } from "./limits/registration-limiter.js";
import type { Logger } from "./logger.js";
import { graphqlMetrics, graphqlSpans } from "./observability/graphql.js";
import type { ProductMetrics } from "./observability/metrics.js";
import { currentRequestContext, requestIdFrom, runWithRequestContext, type RequestContext } from "./observability/request-context.js";
import type { Tracing } from "./observability/tracing.js";
import { buildSeparateSchema, type GraphQLContext } from "./schema/index.js";
import { releaseAuthScopeCache } from "./schema/request-cache.js";
import { disableIntrospection, requestLimits } from "./security/request-limits.js";
import { operationIdOf } from "./security/trusted-documents.js";
import type { BulkRegistration } from "./users/bulk-registration.js";
import type { UsersService } from "./users/service.js";
import { createFastLane, type FastLane } from "./http/fast-lane.js";
import { jitExecution, type JitStats } from "./http/jit-execution.js";
import { createValidationCache } from "./http/validation-cache.js";
import { mostSevereCircuitState, type CircuitState } from "./lcic/breaker.js";

export interface ServerDeps {
  db: Pick<DatabaseHandle, "ping">;
  users: UsersService;
  bulkRegistration: BulkRegistration;
  logger: Logger;
  /**
   * Each LCIC action's circuit state, reported by /readyz for operators with the most severe of them;
   * LCIC being down does not make the service unready (reads still work).
   */
  lcicCircuits?: () => Record<string, CircuitState>;
  auth: AuthConfig;
  /** LCIC_SDK_APP_ID: self-service of a token without the application claim is bound to it. */
  defaultSdkAppId?: number;
  security: SecurityConfig;
  registrationLimiter: RegistrationLimiter;
  /** Defaults to one built from `auth`; tests may pass their own (e.g. with a short JWKS cooldown). */
  authenticator?: Authenticator;
  /** Operation id → document; when set, only these operations run. */
  trustedDocuments?: ReadonlyMap<string, string>;
  /** GraphQL operation metrics go to this app's registry (served by the metrics listener, not here). */
  metrics?: ProductMetrics;
  /** OpenTelemetry, when an OTLP endpoint is configured: server span per request, GraphQL phase spans. */
  tracing?: Tracing;
  /**
   * `DATABASE_UNAVAILABLE_TIMEOUT_MS`: an operation still running this long while the database does
   * not answer a ping is answered DATABASE_UNAVAILABLE (a partitioned network hangs statements).
   */
  databaseUnavailableTimeoutMs?: number;
  /** HTTP_FAST_LANE: plain JSON POSTs to /graphql skip yoga's Fetch layer (src/http/fast-lane.ts). */
  fastLane?: boolean;
  /** GRAPHQL_JIT: operations compiled by graphql-jit where the answer is the same (src/http/jit-execution.ts). */
  jit?: boolean;
}

export interface AppServer {
  yoga: YogaServerInstance<Record<string, unknown>, GraphQLContext>;
  http: Server;
  /** HTTP_FAST_LANE: whether it runs (a plugin it does not know turns it off) and how many requests it answered. */
  fastLane: { enabled: boolean; served(): number };
  /** GRAPHQL_JIT: operations run compiled, and those handed to the interpreting executor. */
  jit: { enabled: boolean; stats: Readonly<JitStats> };
  listen(port: number, host: string): Promise<{ port: number; url: string }>;
  /** Stops accepting, lets in-flight requests finish (up to `graceMs`), then closes the sockets. */
  close(graceMs?: number): Promise<void>;
}

/** Headers a non-browser client (or a gateway) may send to show a request is not a CSRF "simple request". */
export const CSRF_HEADERS = ["x-graphql-csrf", "graphql-preflight", "apollo-require-preflight", "x-apollo-operation-name"] as const;

export const EXAMPLE_OPERATIONS = /* GraphQL */ `# Register a classroom user (safe to run twice: the same originId returns the same user).
mutation Register {
  registerClassroomUser(input: { originId: "student-42", name: "Ada Lovelace", avatar: "https://example.com/ada.png" }) {
    __typename
    ... on RegisterClassroomUserSuccess {
      created
      token
      tokenExpiresAt
      user { userId sdkAppId originId name avatar createdAt }
    }
    ... on ValidationError { fieldErrors { path message } }
    ... on Error { code message }
  }
}

# Enrol several at once (1 to 1,000 users, one LCIC BatchRegister call; safe to repeat: users stored
# here come back created: false). npm run roster:import does this from a CSV file, with progress.
mutation Enrol {
  registerClassroomUsers(input: { users: [{ originId: "student-43", name: "Alan Turing" }, { originId: "student-44", name: "Grace Hopper" }] }) {
    __typename
    ... on RegisterClassroomUsersSuccess { createdCount existingCount users { originId created user { userId name } } }
    ... on ValidationError { fieldErrors { path message } }
    ... on Error { code message }
  }
}

# Find the user again, by originId (or by userId).
query FindUser {
  classroomUser(originId: "student-42") {
    __typename
    ... on ClassroomUser { userId sdkAppId originId name avatar createdAt updatedAt }
    ... on Error { code message }
  }
}

# A login token right before the student enters a classroom (the stored one while valid long enough).
mutation IssueToken {
  issueClassroomUserToken(input: { originId: "student-42", minValiditySeconds: 3600 }) {
    __typename
    ... on ClassroomUserToken { token tokenExpiresAt fromCache user { userId name } }
    ... on Error { code message }
  }
}

# Rename the student (avatar: "" removes the avatar).
mutation Rename {
  updateClassroomUser(input: { originId: "student-42", name: "Ada King" }) {
    __typename
    ... on UpdateClassroomUserSuccess { user { userId name avatar updatedAt } }
    ... on ValidationError { fieldErrors { path message } }
    ... on Error { code message }
  }
}

# Everyone registered, 50 at a time (first: 1-500): pass pageInfo.endCursor as "after" for the next page.
query ListUsers {
  classroomUsers(filter: { originIdPrefix: "student-" }) {
    __typename
    ... on ClassroomUserConnection {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { node { userId originId name updatedAt } }
    }
    ... on Error { code message }
  }
}

# The student leaves: deleted in LCIC, erased here (safe to repeat).
mutation Remove {
  deleteClassroomUser(input: { originId: "student-42" }) {
    __typename
    ... on DeleteClassroomUserSuccess { userId originId }
    ... on ClassroomUserInGroupError { userId }
    ... on Error { code message }
  }
}
`;

/** Where the fast lane leaves a request's principal in the server context it builds (a key no client can set). */
const LANE_PRINCIPAL = Symbol("classroom-users.principal");

export function createServer(deps: ServerDeps): AppServer {
  const { logger, security } = deps;
  const authenticator = deps.authenticator ?? createAuthenticator(deps.auth);
  const corsOrigins = new Set(security.corsOrigins);
  const trusted = deps.trustedDocuments;

  // Authenticated before the document is even parsed: an anonymous caller must not learn field
  // names from validation errors. The context reads the principal found here.
  const principals = new WeakMap<Request, Principal>();
  const authenticateFirst: Plugin = {
    async onRequestParse({ request }) {
      principals.set(request, await authenticateRequest(authenticator, request.headers.get("authorization"), logger));
    },
  };

  // Browsers send "simple" cross-site requests (forms, text/plain, GET without headers) without a
  // CORS preflight; refusing them stops CSRF even if a cookie-based proxy ever fronts this service.
  const csrfPrevention: Plugin = useCSRFPrevention({ requestHeaders: [...CSRF_HEADERS] });
  const validation = createValidationCache();
  const plugins: Plugin[] = [authenticateFirst, csrfPrevention, requestLimits(security), validation.plugin, releaseAuthScopeCache()];
  // First of the execution hooks, so the deadline and metrics below wrap the compiled execution too.
  const jitStats: JitStats = { executed: 0, delegated: 0, firstRuns: 0 };
  if (deps.jit) plugins.push(jitExecution(jitStats));
  // Apollo federated tracing: `extensions.ftv1` when the router sends `apollo-federation-include-trace: ftv1`.
  // It acts only on requests with that header, which the fast lane hands to yoga.
  const inlineTrace: Plugin = useApolloInlineTrace();
  plugins.push(inlineTrace);
  if (deps.databaseUnavailableTimeoutMs) plugins.push(databaseDeadline(deps.db, deps.databaseUnavailableTimeoutMs, logger));
  if (deps.metrics) plugins.push(graphqlMetrics(deps.metrics.registry));
  if (deps.tracing) plugins.push(graphqlSpans(deps.tracing.tracer));
  if (!security.introspection) plugins.push(disableIntrospection());
  if (trusted) {
    plugins.push(
      usePersistedOperations({
        getPersistedOperation: (id) => trusted.get(id) ?? null,
        extractPersistedOperationId: operationIdOf,
        allowArbitraryOperations: false,
        // The plugin's defaults answer 200; these are client errors.
        customErrors: {
          persistedQueryOnly: { message: "Only trusted documents may run here: send documentId", extensions: { code: "PERSISTED_QUERY_ONLY", http: { status: 400 } } },
          notFound: { message: "Unknown document id", extensions: { code: "PERSISTED_QUERY_NOT_FOUND", http: { status: 400 } } },
          keyNotFound: { message: "Unknown document id", extensions: { code: "PERSISTED_QUERY_NOT_FOUND", http: { status: 400 } } },
        },
      }),
    );
  }

  const auth = { scopes: deps.auth.scopes, defaultSdkAppId: deps.defaultSdkAppId };
  const contextFor = (principal: Principal, req: IncomingMessage | undefined) => {
    const clientKey = clientKeyOf(principal, req);
    const requestContext = currentRequestContext();
    if (requestContext) requestContext.actor = clientKey;
    return {
      users: deps.users,
      bulkRegistration: deps.bulkRegistration,
      principal,
      auth,
      clientKey,
      registrationLimiter: deps.registrationLimiter,
    };
  };

  // One yoga per plugin list, each on a schema of its own (a plugin may wrap its schema's resolvers).
  const yogaWith = (plugins: Plugin[], schema: GraphQLSchema) => createYoga<Record<string, unknown>, GraphQLContext>({
    schema,
    // Authentication happened once per request in `authenticateFirst`, before parsing.
    // Synchronous when the principal is known (always, after authenticateFirst or the lane): no promise per request.
    context: (initial) => {
      const { request, req } = initial;
      const known = (initial as { [LANE_PRINCIPAL]?: Principal })[LANE_PRINCIPAL] ?? principals.get(request);
      if (known) return contextFor(known, req as IncomingMessage | undefined);
      return Promise.resolve(authenticateRequest(authenticator, request.headers.get("authorization"), logger)).then((principal) =>
        contextFor(principal, req as IncomingMessage | undefined),
      );
    },
    graphqlEndpoint: "/graphql",
    // bodyRefusal() below already refuses bodies by their declared length (and chunked ones) before
    // yoga sees them; yoga's own limit streamed every body through a second check (an AbortController
    // and an AbortError per request) and cost ~30% of lookup throughput.
    maxRequestBodySize: false,
    // Parsed documents cached by yoga; validation results by `validation` above (yoga's keys its
    // cache by every rule's name on every request).
    parserAndValidationCache: { validationCache: false },
    landingPage: false,
    // Served from our own dependency: yoga's default GraphiQL loads from a public CDN.
    // Loaded on the first GraphiQL page, not at start: its bundle is ~30 MB of heap a production
    // start (GraphiQL off) would carry for nothing.
    renderGraphiQL: async (options) => (await import("@graphql-yoga/render-graphiql")).renderGraphiQL(options),
    graphiql: security.graphiql ? { title: "classroom-users", defaultQuery: EXAMPLE_OPERATIONS } : false,
    // Unexpected errors reach clients as "Unexpected error." only; the detail goes to the log.
    maskedErrors: {
      isDev: false,
      maskError: (error, message) => {
        const original = error instanceof GraphQLError && error.originalError ? error.originalError : error;
        if (isDatabaseUnavailable(original)) {
          // Not a bug: PostgreSQL is restarting or unreachable. Say so, so clients retry.
          logger.error({ ...databaseFailureReason(original), path: error instanceof GraphQLError ? error.path : undefined }, "database unavailable: request failed");
          return new GraphQLError("The database is unavailable; retry shortly.", {
            ...(error instanceof GraphQLError ? { nodes: error.nodes, path: error.path } : {}),
            extensions: { code: "DATABASE_UNAVAILABLE" },
          });
        }
        const masked = maskError(error, message, false);
        if (masked !== error) {
          logger.error({ err: original, path: error instanceof GraphQLError ? error.path : undefined }, "unexpected error (masked for the client)");
        }
        return masked;
      },
    },
    // Off unless configured: a batch multiplies everything a single request may cost.
    batching: security.maxBatch > 0 ? { limit: security.maxBatch } : false,
    cors:
      corsOrigins.size === 0
        ? false
        : (request) => {
            const origin = request.headers.get("origin");
            if (!origin || !corsOrigins.has(origin)) return false;
            return {
              origin: [origin],
              methods: ["GET", "POST"],
              allowedHeaders: ["authorization", "content-type", ...CSRF_HEADERS],
              credentials: false,
              maxAge: 600,
            };
          },
    plugins,
    logging: {
      // yoga logs at debug three times per request: build nothing unless the level is on.
      debug: (...args) => {
        if (logger.isLevelEnabled("debug")) logger.debug({ args: args.map(String) }, "yoga");
      },
      info: (...args) => logger.info({ args: args.map(String) }, "yoga"),
      warn: (...args) => logger.warn({ args: args.map(String) }, "yoga"),
      error: (...args) => logger.error({ err: args.find((a) => a instanceof Error), args: args.filter((a) => !(a instanceof Error)).map(String) }, "yoga error"),
    },
  });
  const yoga = yogaWith(plugins, buildSeparateSchema());

  // Trusted documents are sent as extensions/documentId, which the lane hands to yoga anyway.
  let fastLane: FastLane | undefined;
  if (deps.fastLane && !trusted) {
    const reproduced = new Map<Plugin, "authenticate" | "csrf" | "handed-over">([
      [authenticateFirst, "authenticate"],
      [csrfPrevention, "csrf"],
      [inlineTrace, "handed-over"],
    ]);
    fastLane = createFastLane<Principal>({
      yoga,
      plugins,
      reproduced,
      // Without Apollo inline tracing (its requests are handed to `yoga`), whose resolver wrappers would
      // otherwise run on every field of every lane request.
      laneYoga: () => yogaWith(plugins.filter((plugin) => reproduced.get(plugin) !== "handed-over"), buildSeparateSchema()),
      authenticate: (header) => authenticateRequest(authenticator, header, logger),
      remember: (serverContext, principal) => {
        serverContext[LANE_PRINCIPAL] = principal;
      },
      // A document validated before without errors is not validated again: every onValidate hook here
      // does nothing for it (the cache answers, the limits' rules do not run, metrics count failures),
      // except tracing's, which opens a span per validation.
      ...(deps.tracing ? {} : { knownValid: validation.knownValid }),
      onDisabled: (reason) => logger.warn({ reason }, "HTTP_FAST_LANE is off: a yoga plugin has hooks the lane does not reproduce, so every request goes through yoga"),
    });
  }

  // Responses not yet closed, for close()'s grace period. A count, not a Set of the responses: a
  // long-lived Set's table sits in the old generation, and V8 then keeps every response it held
  // through young-generation GCs (README, Performance: "Long-lived Sets and Maps of short-lived objects").
  let inFlight = 0;
  const responseClosed = (): void => {
    inFlight--;
  };
  const tracing = deps.tracing;
  const http = createHttpServer((req: IncomingMessage, res: ServerResponse) => {
    // Every log line and span while serving this request carries its id; the caller gets it back.
    const requestId = requestIdFrom(req.headers["x-request-id"]);
    res.setHeader("x-request-id", requestId);
    const context: RequestContext = { requestId };
    if (tracing) {
      const path = req.url?.split("?")[0] ?? "/";
      // A W3C traceparent (Hive Gateway, Apollo Router) continues the caller's trace.
      const parent = tracing.extract(req.headers);
      const span = tracing.tracer.startSpan(
        `${req.method ?? "GET"} ${path === "/graphql" || path === "/healthz" || path === "/readyz" ? path : "other"}`,
        { kind: SpanKind.SERVER, attributes: { "http.request.method": req.method ?? "GET", "url.path": path, "http.request.header.x-request-id": requestId } },
        parent,
      );
      context.traceId = span.spanContext().traceId;
      context.trace = trace.setSpan(parent, span);
      res.once("close", () => {
        span.setAttribute("http.response.status_code", res.statusCode);
        if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
        span.end();
      });
    }
    runWithRequestContext(context, () => handle(req, res));
  });
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const path = req.url?.split("?")[0];
    if (path === "/healthz") return sendJson(res, 200, { status: "ok" });
    if (path === "/readyz") {
      void deps.db.ping(1000).then((ok) => {
        // One read of the circuits, so the summary and the list agree.
        const lcicCircuits = deps.lcicCircuits?.();
        const lcicCircuit = lcicCircuits && mostSevereCircuitState(Object.values(lcicCircuits));
        sendJson(res, ok ? 200 : 503, { status: ok ? "ready" : "unavailable", database: ok, lcicCircuit, lcicCircuits });
      });
      return;
    }
    const refusal = bodyRefusal(req, security.maxBodyBytes);
    if (refusal) return sendRefusal(res, refusal.status, refusal.message);
    inFlight++;
    res.once("close", responseClosed);
    if (fastLane?.(req, res)) return;
    void yoga.requestListener(req, res);
  };
  http.keepAliveTimeout = 65_000;

  return {
    yoga,
    http,
    fastLane: { enabled: fastLane !== undefined, served: () => fastLane?.served ?? 0 },
    jit: { enabled: deps.jit === true, stats: jitStats },
    listen(port, host) {
      return new Promise((resolve, reject) => {
        http.once("error", reject);
        http.listen(port, host, () => {
          http.off("error", reject);
          const address = http.address();
          const actual = typeof address === "object" && address ? address.port : port;
          const shownHost = host.includes(":") ? `[${host}]` : host;
          resolve({ port: actual, url: `http://${shownHost}:${actual}` });
        });
      });
    },
    async close(graceMs = 10_000) {
      const closed = new Promise<void>((resolve) => http.close(() => resolve()));
      http.closeIdleConnections();
      const deadline = Date.now() + graceMs;
      while (inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      http.closeAllConnections();
      await closed;
    },
  };
}

function sendJson(res: ServerResponse, status: number, body: unknown) {
  const payload = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(payload), "cache-control": "no-store" });
  res.end(payload);
}

/** The principal, synchronously when the authenticator already knows it (see `authenticateKnown`), else a promise. */
function authenticateRequest(authenticator: Authenticator, header: string | null, logger: Logger): Principal | Promise<Principal> {
  return authenticator.authenticateKnown?.(header) ?? authenticateFully(authenticator, header, logger);
}

async function authenticateFully(authenticator: Authenticator, header: string | null, logger: Logger): Promise<Principal> {
  let principal: Principal | null;
  try {
    principal = await authenticator.authenticate(header);
  } catch (error) {
    if (error instanceof AuthenticationError) {
      // The reason and jose's explanation, never the token itself.
      logger.info({ reason: error.message, cause: (error.cause as Error | undefined)?.message }, "request refused: not authenticated");
      throw new GraphQLError(error.message, {
        extensions: { code: "UNAUTHENTICATED", http: { status: 401, headers: { "www-authenticate": 'Bearer error="invalid_token"' } } },
      });
    }
    if (error instanceof AuthenticationUnavailableError) {
      logger.error({ cause: (error.cause as Error | undefined)?.message }, "authentication unavailable: key set could not be fetched");
      throw new GraphQLError(error.message, { extensions: { code: "AUTH_UNAVAILABLE", http: { status: 503, headers: { "retry-after": "5" } } } });
    }
    throw error;
  }
  if (!principal) {
    throw new GraphQLError("Authentication required", { extensions: { code: "UNAUTHENTICATED", http: { status: 401, headers: { "www-authenticate": "Bearer" } } } });
  }
  return principal;
}

/** The registration rate limit counts per JWT subject, else per network address. */
function clientKeyOf(principal: Principal, req: IncomingMessage | undefined): string {
  if (principal.subject) return `sub:${principal.subject}`;
  return `ip:${req?.socket.remoteAddress ?? "unknown"}`;
}

/**
 * Bodies are judged by their declared length before a byte is read: a request without
 * Content-Length (chunked) is refused, so the declared length is an upper bound Node's parser enforces.
 */
function bodyRefusal(req: IncomingMessage, maxBytes: number): { status: number; message: string } | undefined {
  const method = req.method ?? "GET";
  if (method === "GET" || method === "HEAD" || method === "OPTIONS") return undefined;
  const declared = req.headers["content-length"];
  if (declared === undefined) {
    return req.headers["transfer-encoding"] ? { status: 411, message: "Content-Length required" } : undefined;
  }
  if (!/^\d+$/.test(declared) || Number(declared) > maxBytes) {
    return { status: 413, message: `Request body larger than ${maxBytes} bytes` };
  }
  return undefined;
}

function sendRefusal(res: ServerResponse, status: number, message: string) {
  const payload = JSON.stringify({ errors: [{ message, extensions: { code: status === 413 ? "PAYLOAD_TOO_LARGE" : "LENGTH_REQUIRED" } }] });
  // The unread body is not drained: closing the connection is cheaper than reading what was refused.
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(payload), connection: "close" });
  res.end(payload);
}

/**
 * No request hangs on an unreachable database: an execution still running after `timeoutMs` is
 * answered DATABASE_UNAVAILABLE if the database does not answer a ping then; while it does (a slow
 * LCIC call, say), the operation goes on. The abandoned execution finishes on its own in the
 * background, like one whose client went away (registrations are safe to complete later).
 */
function databaseDeadline(db: Pick<DatabaseHandle, "ping">, timeoutMs: number, logger: Logger): Plugin {
  // One watchdog for all executions (a list and a coarse interval while any runs), not a timer and a
  // Promise.race per request: that cost every lookup a timer and a handful of promises.
  // The executions are a doubly linked list through the entries themselves, not a Set: a long-lived
  // Set's table is in the old generation, and V8 then keeps each entry (and the request behind its
  // `answer`) alive through young-generation GCs (README, Performance: "Long-lived Sets and Maps of
  // short-lived objects"). A removed entry points at nothing. Entries are appended in deadline order
  // (one timeout for all; an entry given more time moves to the end), so a check stops at the first
  // entry not yet due.
  interface Watched {
    dueAt: number;
    answer(result: unknown): void;
    prev: Watched | undefined;
    next: Watched | undefined;
    listed: boolean;
  }
  let head: Watched | undefined;
  let tail: Watched | undefined;
  const append = (w: Watched) => {
    w.prev = tail;
    w.next = undefined;
    if (tail) tail.next = w;
    else head = w;
    tail = w;
    w.listed = true;
  };
  const remove = (w: Watched): boolean => {
    if (!w.listed) return false;
    if (w.prev) w.prev.next = w.next;
    else head = w.next;
    if (w.next) w.next.prev = w.prev;
    else tail = w.prev;
    w.prev = w.next = undefined;
    w.listed = false;
    return true;
  };
  const tickMs = Math.max(10, Math.min(100, Math.floor(timeoutMs / 10)));
  let ticker: NodeJS.Timeout | undefined;
  let checking = false;
  const check = async () => {
    if (checking) return;
    const now = performance.now();
    const due: Watched[] = [];
    for (let w = head; w && w.dueAt <= now; w = w.next) due.push(w);
    if (due.length === 0) return;
    checking = true;
    try {
      const reachable = await db.ping(Math.min(1000, timeoutMs));
      if (reachable) {
        // Slow for another reason (an LCIC call, say): look again after another period.
        const next = performance.now() + timeoutMs;
        for (const w of due) {
          if (!remove(w)) continue;
          w.dueAt = next;
          append(w);
        }
        return;
      }
      const answered = due.filter(remove);
      if (answered.length === 0) return;
      logger.error({ timeoutMs, requests: answered.length }, "database unavailable: request answered after DATABASE_UNAVAILABLE_TIMEOUT_MS");
      for (const w of answered) {
        w.answer({ errors: [new GraphQLError("The database is unavailable; retry shortly.", { extensions: { code: "DATABASE_UNAVAILABLE" } })] });
      }
    } finally {
      checking = false;
      if (!head) stop();
    }
  };
  const stop = () => {
    if (ticker) clearInterval(ticker);
    ticker = undefined;
  };
  const watch = (w: Watched) => {
    append(w);
    if (!ticker) {
      ticker = setInterval(() => void check(), tickMs);
      ticker.unref();
    }
  };
  const unwatch = (w: Watched) => {
    remove(w);
    if (!head && !checking) stop();
  };
  return {
    onExecute({ executeFn, setExecuteFn }) {
      setExecuteFn((args) => {
        const result = executeFn(args) as unknown;
        if (!(result instanceof Promise)) return result as ReturnType<typeof executeFn>;
        return new Promise((resolve, reject) => {
          const w: Watched = { dueAt: performance.now() + timeoutMs, answer: resolve, prev: undefined, next: undefined, listed: false };
          watch(w);
          result.then(
            (value) => {
              unwatch(w);
              resolve(value);
            },
            (error: unknown) => {
              unwatch(w);
              reject(error);
            },
          );
        }) as ReturnType<typeof executeFn>;
      });
    },
  };
}
