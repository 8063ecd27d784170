import { AsyncResource } from "node:async_hooks";
import { createRequire } from "node:module";
import type { IncomingMessage, ServerResponse } from "node:http";
import { sendNodeResponse } from "@whatwg-node/server";
import { STATUS_CODES } from "node:http";
import { getOperationAST, type DocumentNode, type ExecutionArgs, type GraphQLError, type GraphQLSchema } from "graphql";
import { isAsyncIterable, processRegularResult, type GraphQLParams, type Plugin, type YogaServerInstance } from "graphql-yoga";

/**
 * HTTP_FAST_LANE: the plain `POST /graphql` + `application/json` request of a gateway or a
 * backend, answered from node:http without yoga's Fetch layer (no Request body stream, no
 * AbortController, no onRequest/onResponse round) but through yoga's own operation pipeline, step
 * by step as its `getResultForParams` runs it (onParams hooks: parameter checks; then parse →
 * validate → context → execute through `getEnveloped`, with the parser/validation cache, Armor
 * limits, masking; onExecutionResult hooks; errors through yoga's `handleError`) and as its regular
 * result writer answers (`getResponseInitByRespectingErrors`, its serialiser). Statuses, headers and
 * bodies therefore come from the same code as on the normal path; `test/http/fast-lane.test.ts`
 * compares them byte for byte.
 *
 * Only requests whose every feature the lane reproduces take it; anything else goes to yoga
 * untouched (before the body is read) or, when only the body shows it (batch, extensions, a
 * body that is not a plain object of query/variables/operationName, invalid JSON), with the
 * body already read handed to yoga as `req.body` — yoga then does all of its own work. Handed to
 * yoga: another method/path/query string; any `Origin` (CORS); an `Accept` for which yoga would
 * not pick its regular JSON result writer (event streams, multipart, nothing acceptable); a content type other than `application/json[; charset=utf-8]`;
 * no or zero Content-Length, or Transfer-Encoding; tracing headers (`traceparent`,
 * `apollo-federation-include-trace`, …).
 *
 * The lane is built only when every yoga plugin given is one it was written for or touches only
 * envelop's execution hooks (which `getEnveloped` runs): a plugin with HTTP-level hooks
 * (onRequest, onRequestParse, onParams, onResultProcess, onResponse, instrumentation, …) that the
 * lane was not taught switches the lane off, so no plugin is ever bypassed.
 */

/** Hooks envelop runs inside `getEnveloped()` (parse/validate/context/execute): honoured by the lane as is. */
const ENVELOP_HOOKS = new Set(["onParse", "onValidate", "onContextBuilding", "onExecute", "onSubscribe", "onSchemaChange", "onEnveloped"]);

/** Request headers asking for something only the full path provides. */
const HANDED_OVER_HEADERS = [
  "origin",
  "transfer-encoding",
  "traceparent",
  "tracestate",
  "baggage",
  "apollo-federation-include-trace",
  "x-b3-traceid",
  "b3",
  "uber-trace-id",
  "sentry-trace",
] as const;

const JSON_TYPES = new Set(["application/json", "application/json; charset=utf-8", "application/json;charset=utf-8"]);
const PARAM_KEYS = new Set(["query", "variables", "operationName"]);

// yoga's own error normaliser (the one its `handle` uses when a request fails before execution);
// not re-exported by the package index, so it is loaded from the same installed copy.
const yogaRequire = createRequire(createRequire(import.meta.url).resolve("graphql-yoga"));
const { handleError, getResponseInitByRespectingErrors, areGraphQLErrors, isGraphQLError } = yogaRequire("./error.js") as {
  handleError(error: unknown, maskedErrorsOpts: unknown, logger: unknown): GraphQLError[];
  getResponseInitByRespectingErrors(result: unknown, headers: Record<string, string>, isApplicationJson: boolean): { status: number; headers: Record<string, string> };
  areGraphQLErrors(errors: unknown): errors is GraphQLError[];
  isGraphQLError(error: unknown): boolean;
};
// yoga's own serialiser of a result (drops internal fields), as its regular result writer uses it.
const { jsonStringifyResultWithoutInternals } = yogaRequire("./plugins/result-processor/stringify.js") as {
  jsonStringifyResultWithoutInternals(result: unknown): string;
};

type Hook = (payload: Record<string, unknown>) => unknown;
type ParamsHandler = (payload: { request: Request; params: GraphQLParams; context: Record<string, unknown> }) => unknown;
interface Enveloped {
  parse(source: string): DocumentNode;
  validate(schema: GraphQLSchema, document: DocumentNode): readonly GraphQLError[];
  contextFactory(): unknown;
  execute(args: ExecutionArgs): unknown;
  subscribe(args: ExecutionArgs): unknown;
  schema: GraphQLSchema;
}
/** The parts of a yoga instance its `getResultForParams` is made of (public fields of the class, untyped in its .d.ts). */
interface YogaPipeline {
  maskedErrorsOpts: unknown;
  logger: { debug(message: string): void; error(error: unknown): void };
  waitUntil: (p: Promise<unknown>) => void;
  onParamsHooks: Hook[];
  onExecutionResultHooks: Hook[];
  handleParams: ParamsHandler;
  getEnveloped(context: Record<string, unknown>): Enveloped;
}

const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  value !== null && (typeof value === "object" || typeof value === "function") && typeof (value as { then?: unknown }).then === "function";

export interface FastLaneOptions<TPrincipal> {
  /**
   * The yoga instance whose operation pipeline (onParams hooks, `getEnveloped`: parse/validate/
   * context/execute with every envelop plugin, masking, onExecutionResult hooks) the lane runs, and
   * to which it hands every request it does not take.
   */
  yoga: YogaServerInstance<any, any>;
  /** The plugins given to yoga, in order. */
  plugins: readonly Plugin[];
  /**
   * The yoga whose pipeline runs the lane's own requests, when not `yoga`: the same options and
   * plugins, without those the lane only hands over (`handed-over`), on a schema of its own. Apollo
   * inline tracing wraps every field resolver of its schema to time it, on every request (~9% of a
   * lookup): the lane never serves a traced request, so it runs on a schema that is not wrapped.
   */
  laneYoga?: () => YogaServerInstance<any, any>;
  /**
   * Plugins whose HTTP-level hooks this lane reproduces, with how: `authenticate` (the
   * authenticate-before-parse plugin), `csrf` (a preflighted content type, which every lane
   * request has, always passes it), `handed-over` (a plugin that acts only on requests carrying a
   * header the lane hands to yoga, e.g. Apollo inline tracing and `apollo-federation-include-trace`).
   */
  reproduced: ReadonlyMap<Plugin, "authenticate" | "csrf" | "handed-over">;
  /**
   * The principal of an Authorization header (synchronously when already known); throws or rejects
   * with the same GraphQLError as the plugin.
   */
  authenticate(header: string | null): TPrincipal | Promise<TPrincipal>;
  /**
   * Hands the principal to the context factory, as the plugin does: through the server context the
   * lane builds for the request (yoga's context factory receives that object).
   */
  remember(serverContext: Record<string | symbol, unknown>, principal: TPrincipal): void;
  /** Called once when the lane refuses to run (why), so operators see it. */
  onDisabled?(reason: string): void;
  /**
   * Documents whose validation step the lane skips: those that validated before, against the same
   * schema, without errors (`createValidationCache().knownValid`). For such a document envelop's
   * validation runs every plugin's onValidate hook (a payload object with four closures each, and a
   * new rule closure from each of Armor's limits and the cost rule) only for the cache to answer
   * "valid" again: 5-8% of a lookup's CPU (interleaved A/Bs of 6 rounds). Give it only when no onValidate
   * hook does anything for a valid document: the limits' rules do not run when the cache answers,
   * the metrics count failures only; a tracing hook that opens a span per validation must not be
   * skipped (server.ts leaves it out when tracing is on). Documents that failed validation, or are
   * new, are validated by envelop as before.
   */
  knownValid?(schema: GraphQLSchema, document: DocumentNode): boolean;
}

export interface FastLane {
  /** Takes the request (true) or leaves it to the caller, untouched (false). */
  (req: IncomingMessage, res: ServerResponse): boolean;
  /** Requests answered by the lane itself (not handed over), for tests and operators. */
  readonly served: number;
}

/** Returns the lane (it answers `true` when it took the request), or undefined when a plugin forbids it. */
export function createFastLane<TPrincipal>(options: FastLaneOptions<TPrincipal>): FastLane | undefined {
  const unsupported = unsupportedPlugin(options.plugins, options.reproduced);
  if (unsupported) {
    options.onDisabled?.(unsupported);
    return undefined;
  }
  const { yoga, authenticate, remember, knownValid } = options;
  // yoga is a whatwg-node server adapter: a Proxy whose every read of a method builds a new bound
  // function. Each part is read once here (they are set once, in yoga's constructor).
  const adapter = (options.laneYoga?.() ?? yoga) as unknown as YogaPipeline;
  const pipeline: YogaPipeline = {
    maskedErrorsOpts: adapter.maskedErrorsOpts,
    logger: adapter.logger,
    waitUntil: adapter.waitUntil,
    onParamsHooks: adapter.onParamsHooks,
    onExecutionResultHooks: adapter.onExecutionResultHooks,
    handleParams: adapter.handleParams,
    getEnveloped: adapter.getEnveloped,
  };
  const fetchAPI = yoga.fetchAPI;

  const respond = (req: IncomingMessage, res: ServerResponse, mediaType: string, result: Parameters<typeof processRegularResult>[0]) =>
    sendNodeResponse(processRegularResult(result, fetchAPI, mediaType) as any, res as any, req as any, true);

  const handOver = (req: IncomingMessage, res: ServerResponse, body: Buffer) => {
    // whatwg-node takes a body a framework has already read from `req.body`.
    (req as IncomingMessage & { body?: Buffer }).body = body;
    void yoga.requestListener(req, res);
  };

  // Callbacks rather than async functions: on a plain lookup this path creates no promise of its own
  // (each one costs, more so while AsyncLocalStorage's promise hooks are on).
  function fail(req: IncomingMessage, res: ServerResponse, error: unknown) {
    // As whatwg-node answers a request handler that threw.
    pipeline.logger.error(error);
    if (!res.headersSent) {
      res.writeHead(500, { "content-type": "text/plain; charset=utf-8" });
      res.end();
    } else {
      res.destroy();
    }
  }

  const refuse = (req: IncomingMessage, res: ServerResponse, mediaType: string, error: unknown) => {
    // As yoga's `handle` answers an error thrown while the request is parsed; the body is not read.
    served++;
    respond(req, res, mediaType, { errors: handleError(error, pipeline.maskedErrorsOpts, pipeline.logger) });
  };

  function run(req: IncomingMessage, res: ServerResponse, mediaType: string) {
    let principal: TPrincipal | Promise<TPrincipal>;
    try {
      principal = authenticate(req.headers.authorization ?? null);
    } catch (error) {
      return refuse(req, res, mediaType, error);
    }
    if (principal instanceof Promise) {
      principal.then(
        (known) => readBody(req, (body) => executeSafely(req, res, mediaType, known, body)),
        (error: unknown) => refuse(req, res, mediaType, error),
      ).catch((error: unknown) => fail(req, res, error));
    } else {
      const known = principal;
      readBody(req, (body) => executeSafely(req, res, mediaType, known, body));
    }
  }

  /** From an event handler: a throw here must become a 500, not an uncaught exception. */
  function executeSafely(req: IncomingMessage, res: ServerResponse, mediaType: string, principal: TPrincipal, body: Buffer | undefined) {
    try {
      execute(req, res, mediaType, principal, body);
    } catch (error) {
      fail(req, res, error);
    }
  }

  function execute(req: IncomingMessage, res: ServerResponse, mediaType: string, principal: TPrincipal, body: Buffer | undefined) {
    if (body === undefined) return; // the client went away
    let params: unknown;
    try {
      params = JSON.parse(body.toString("utf8"));
    } catch {
      return handOver(req, res, body);
    }
    if (!isPlainParams(params)) return handOver(req, res, body);
    const headers = req.headers;
    const request = new fetchAPI.Request(`http://${headers.host ?? "localhost"}/graphql`, { method: "POST", headers: headers as HeadersInit });
    served++;
    const serverContext: Record<string | symbol, unknown> = { req, res, waitUntil: pipeline.waitUntil };
    remember(serverContext, principal);
    // Every step below continues through callbacks: one promise per asynchronous step (the resolver's
    // database read), none of yoga's promise helpers.
    const answer = (result: unknown) => {
      try {
        write(req, res, mediaType, result);
      } catch (error) {
        fail(req, res, error);
      }
    };
    try {
      resultForParams(params, request, serverContext, answer);
    } catch (error) {
      answer(errorResult(error));
    }
  }

  const errorResult = (error: unknown) => ({ errors: handleError(error, pipeline.maskedErrorsOpts, pipeline.logger) });

  /**
   * Calls `next` with the value, at once or once the promise fulfils. A rejection, or a throw from
   * `next` once asynchronous, goes to `deliver` as yoga's error result (as yoga's promise chain
   * would turn it into one), never into an unhandled rejection.
   */
  function then(value: unknown, next: (result: unknown) => void, deliver: (result: unknown) => void): void {
    if (!isThenable(value)) return next(value);
    value.then(
      (settled) => {
        try {
          next(settled);
        } catch (error) {
          deliver(errorResult(error));
        }
      },
      (error: unknown) => deliver(errorResult(error)),
    );
  }

  /**
   * yoga's `getResultForParams` (server.js), `handleParams` and `processRequest` (process-request.js)
   * in one, synchronous wherever the steps are: its onParams hooks in order (each may set the params,
   * the params handler or the result), parse → validate → context → execute through `getEnveloped`
   * (errors, thrown or rejected, become `{ errors }` through yoga's `handleError`), then its
   * onExecutionResult hooks. The result goes to `deliver`. (yoga chains each step through promise
   * helpers even when nothing is asynchronous; errors in its hooks end as `{ errors }` there as here.)
   */
  function resultForParams(params: GraphQLParams, request: Request, context: Record<string, unknown>, deliver: (result: unknown) => void): void {
    let result: unknown;
    let current = params;
    let paramsHandler = pipeline.handleParams;
    const hooks = pipeline.onParamsHooks;
    const resultHooks = pipeline.onExecutionResultHooks;
    const afterExecution = (produced: unknown) => {
      let final = produced;
      const from = (index: number): void => {
        for (let i = index; i < resultHooks.length; i++) {
          const done = resultHooks[i]!({ result: final, setResult: (r: unknown) => (final = r), request, context });
          if (isThenable(done)) return then(done, () => from(i + 1), deliver);
        }
        deliver(final);
      };
      from(0);
    };
    const afterParams = () => {
      if (result) return afterExecution(result);
      if (paramsHandler === pipeline.handleParams) return handleParams(current, request, context, afterExecution);
      then(paramsHandler({ request, params: current, context }), afterExecution, deliver);
    };
    const fromHook = (index: number): void => {
      for (let i = index; i < hooks.length; i++) {
        const done = hooks[i]!({
          params: current,
          request,
          setParams: (p: GraphQLParams) => (current = p),
          paramsHandler,
          setParamsHandler: (h: ParamsHandler) => (paramsHandler = h),
          setResult: (r: unknown) => (result = r),
          fetchAPI,
          context,
        });
        if (isThenable(done)) return then(done, () => fromHook(i + 1), deliver);
      }
      afterParams();
    };
    fromHook(0);
  }

  function handleParams(params: GraphQLParams, request: Request, context: Record<string, unknown>, next: (result: unknown) => void): void {
    // As yoga's handleParams: a failure of the operation is its `{ errors }` result (then seen by the
    // onExecutionResult hooks).
    Object.assign(context, context.request === request ? { params } : { request, params });
    pipeline.logger.debug("Processing GraphQL Parameters");
    const done = (result: unknown) => {
      pipeline.logger.debug("Processing GraphQL Parameters done.");
      next(result);
    };
    let produced: unknown;
    try {
      const enveloped = pipeline.getEnveloped(context);
      const document = enveloped.parse(params.query!);
      if (!knownValid?.(enveloped.schema, document)) {
        const errors = enveloped.validate(enveloped.schema, document);
        if (errors.length > 0) return done({ errors });
      }
      const run = (contextValue: unknown) => {
        const args = { schema: enveloped.schema, document, contextValue, variableValues: params.variables, operationName: params.operationName } as ExecutionArgs;
        const operation = getOperationAST(document, params.operationName);
        return operation?.operation === "subscription" ? enveloped.subscribe(args) : enveloped.execute(args);
      };
      const contextValue = enveloped.contextFactory();
      produced = isThenable(contextValue) ? Promise.resolve(contextValue).then(run) : run(contextValue);
    } catch (error) {
      return next(errorResult(error));
    }
    then(produced, done, next);
  }

  /**
   * yoga's regular result writer (`processRegularResult`: status and headers from the errors'
   * `extensions.http`, its serialiser) and whatwg-node's `sendNodeResponse` for a string body, written
   * with one `writeHead` and one `end` (header and body leave in one write) instead of a Response object.
   */
  function write(req: IncomingMessage, res: ServerResponse, mediaType: string, result: unknown) {
    if (res.closed || res.destroyed || res.writableEnded) return;
    if (isAsyncIterable(result) || result === null || typeof result !== "object") {
      return respond(req, res, mediaType, result as Parameters<typeof processRegularResult>[0]);
    }
    const errors = (result as { errors?: unknown }).errors;
    const init = getResponseInitByRespectingErrors(
      result,
      { "Content-Type": `${mediaType}; charset=utf-8` },
      mediaType === "application/json" &&
        !Array.isArray(result) &&
        areGraphQLErrors(errors) &&
        errors.some((err) => !err.extensions?.["originalError"] || isGraphQLError(err.extensions["originalError"])),
    );
    const payload = jsonStringifyResultWithoutInternals(result);
    init.headers["content-length"] = String(Buffer.byteLength(payload));
    res.writeHead(init.status, STATUS_CODES[init.status] || "OK", init.headers);
    res.end(payload);
  }

  let served = 0;
  const lane = (req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== "POST" || req.url !== "/graphql") return false;
    const headers = req.headers;
    const contentType = headers["content-type"];
    if (contentType === undefined || !JSON_TYPES.has(contentType.toLowerCase())) return false;
    const mediaType = regularMediaTypeFor(headers.accept);
    if (mediaType === undefined) return false;
    for (const name of HANDED_OVER_HEADERS) if (headers[name] !== undefined) return false;
    const declared = headers["content-length"];
    if (declared === undefined || !/^[1-9]\d*$/.test(declared)) return false;
    try {
      run(req, res, mediaType);
    } catch (error) {
      fail(req, res, error);
    }
    return true;
  };
  return Object.defineProperty(lane, "served", { get: () => served }) as FastLane;
}

function unsupportedPlugin(plugins: readonly Plugin[], reproduced: ReadonlyMap<Plugin, string>): string | undefined {
  for (const plugin of plugins) {
    if (!plugin || reproduced.has(plugin)) continue;
    const extra = Object.keys(plugin).filter((key) => !ENVELOP_HOOKS.has(key));
    if (extra.length > 0 && !addsOnlyEnvelopPlugins(plugin)) return `a yoga plugin has hooks the fast lane does not reproduce (${extra.join(", ")})`;
  }
  return undefined;
}

/**
 * A plugin that only registers others from onPluginInit (GraphQL Armor: onParse/onValidate
 * plugins) is fine when all it adds are envelop-only: the init is called with a recorder to see.
 */
function addsOnlyEnvelopPlugins(plugin: Plugin, depth = 0): boolean {
  const init = (plugin as { onPluginInit?: (ctx: { addPlugin(p: Plugin): void }) => void }).onPluginInit;
  if (depth > 3 || Object.keys(plugin).some((key) => key !== "onPluginInit" && !ENVELOP_HOOKS.has(key)) || !init) return false;
  const added: Plugin[] = [];
  try {
    init({ addPlugin: (p: Plugin) => added.push(p), plugins: [], setSchema: () => {}, registerContextErrorHandler: () => {} } as never);
  } catch {
    return false;
  }
  // An added plugin may itself add others (envelop's prometheus plugin does): the same rule, nested.
  return added.every((p) => Object.keys(p).every((key) => ENVELOP_HOOKS.has(key)) || addsOnlyEnvelopPlugins(p, depth + 1));
}

/** The shape yoga's parameter checks accept and the lane runs: no extensions, no batch, nothing unexpected. */
function isPlainParams(value: unknown): value is GraphQLParams {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
  const params = value as Record<string, unknown>;
  for (const key in params) {
    if (!PARAM_KEYS.has(key)) return false;
  }
  if (typeof params.query !== "string") return false;
  const { variables, operationName } = params;
  if (variables != null && (typeof variables !== "object" || Array.isArray(variables))) return false;
  if (operationName != null && typeof operationName !== "string") return false;
  return true;
}

/** Calls `done` once with the whole body, or with undefined when the client went away first. */
function readBody(req: IncomingMessage, done: (body: Buffer | undefined) => void): void {
  const chunks: Buffer[] = [];
  let received = 0;
  let finished = false;
  const finish = (body: Buffer | undefined) => {
    if (finished) return;
    finished = true;
    done(body);
  };
  // Body events arrive in the connection's async context: continue in the request's (its request id,
  // actor). An AsyncResource rather than AsyncLocalStorage.bind, which defines deprecated accessors on
  // every bound function (3% of a lookup's CPU).
  const scope = new AsyncResource("classroom-users.request-body");
  const finishInContext = (body: Buffer | undefined) => scope.runInAsyncScope(finish, undefined, body);
  req.on("data", (chunk: Buffer) => {
    chunks.push(chunk);
    received += chunk.length;
  });
  req.once("end", () => finishInContext(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, received)));
  req.once("error", () => finishInContext(undefined));
  // The client went away before the whole body arrived.
  req.once("close", () => {
    if (!req.complete) finishInContext(undefined);
  });
}

const PROCESSORS: ReadonlyArray<readonly [kind: "sse" | "multipart" | "regular", mediaTypes: readonly string[]]> = [
  ["sse", ["text/event-stream"]],
  ["multipart", ["multipart/mixed"]],
  ["regular", ["application/graphql-response+json", "application/json"]],
];
const mediaTypeByAccept = new Map<string | undefined, string | null>();

/**
 * The media type yoga's result processors pick for a (non-streamed) result and this Accept header,
 * when it is one the regular JSON writer serves; undefined for the others. The same walk as
 * yoga's `useResultProcessors` (plugins/use-result-processor.js, result-processor/accept.js):
 * the last match wins. Results here are never streams: the schema has no subscriptions, no @defer.
 */
export function regularMediaTypeFor(accept: string | undefined): string | undefined {
  let known = mediaTypeByAccept.get(accept);
  if (known === undefined) {
    const requested: string[] = [];
    for (const part of (accept || "*/*").replace(/\s/g, "").toLowerCase().split(",")) {
      const [mediaType, ...params] = part.split(";");
      if (mediaType === undefined) continue;
      const charset = params.find((param) => param.includes("charset=")) || "charset=utf-8";
      if (charset !== "charset=utf-8") continue;
      requested.push(mediaType);
    }
    requested.reverse();
    let kind: string | undefined;
    let chosen: string | undefined;
    for (const [processor, mediaTypes] of PROCESSORS) {
      for (const wanted of requested) {
        for (const offered of mediaTypes) {
          if (matches(offered, wanted)) {
            kind = processor;
            chosen = offered;
          }
        }
      }
    }
    known = kind === "regular" && chosen ? chosen : null;
    if (mediaTypeByAccept.size < 256) mediaTypeByAccept.set(accept, known);
  }
  return known ?? undefined;
}

function matches(offered: string, wanted: string): boolean {
  const [offeredType, offeredSub] = offered.split("/");
  const [type, sub] = wanted.split("/");
  return (type === "*" || type === offeredType) && (sub === "*" || sub === offeredSub);
}
