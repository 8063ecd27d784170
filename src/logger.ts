import { destination, pino, stdSerializers, type DestinationStream, type Logger } from "pino";
import { currentRequestContext } from "./observability/request-context.js";

export type { Logger };

/**
 * Properties a database error carries that hold the values of the statement's parameters (token
 * ciphertext, names, origin ids): postgres.js sets `parameters` and `args` on its PostgresError,
 * drizzle's DrizzleQueryError has `params`, and PostgreSQL's `detail` quotes key values
 * ("Key (sdk_app_id, origin_id)=(1, ada) already exists"). The statement (`query`) and the
 * SQLSTATE, constraint, table and column names stay: they say what failed without saying about whom.
 */
const PARAMETER_KEYS: ReadonlySet<string> = new Set(["parameters", "params", "args", "detail"]);

/** drizzle's DrizzleQueryError message is "Failed query: <sql>\nparams: <values>"; the values go. */
function withoutParams(text: string): string {
  return text.replace(/\nparams: [\s\S]*?(?=\n {4}at |$)/, "");
}

/**
 * A copy of an error (and its cause chain) without SQL parameter values, for logging. Non-errors and
 * errors without such properties are returned as they are.
 */
export function withoutSqlParameters(value: unknown, depth = 0): unknown {
  if (!(value instanceof Error) || depth > 8) return value;
  const copy = Object.create(Object.getPrototypeOf(value) as object) as Record<string, unknown>;
  for (const key of Object.getOwnPropertyNames(value)) {
    if (PARAMETER_KEYS.has(key)) continue;
    const field = (value as unknown as Record<string, unknown>)[key];
    copy[key] = key === "message" || key === "stack" ? (typeof field === "string" ? withoutParams(field) : field) : key === "cause" ? withoutSqlParameters(field, depth + 1) : field;
  }
  // Non-enumerable like the original's, so serializers do not print them twice.
  for (const key of ["message", "stack", "cause"]) {
    if (key in copy) Object.defineProperty(copy, key, { value: copy[key], enumerable: false, writable: true, configurable: true });
  }
  return copy;
}

const errorSerializer = (value: unknown) => {
  const scrubbed = withoutSqlParameters(value);
  return scrubbed instanceof Error ? stdSerializers.err(scrubbed) : scrubbed;
};

/**
 * Structured JSON logs. A line written while serving a request carries its request id as `reqId`
 * (and `traceId` when tracing is on), taken from the request's AsyncLocalStorage context. Anything that looks like a credential is redacted by path, as a second line
 * of defence: code must not log tokens or keys in the first place. Errors logged under `err`,
 * `error` or `cause` lose their SQL parameter values (see PARAMETER_KEYS).
 */
export function createLogger(options: { level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  return pino(
    {
      level: options.level ?? "info",
      base: { service: "classroom-users" },
      mixin() {
        const request = currentRequestContext();
        if (!request) return {};
        // `reqId` (pino-http's name), not `requestId`: log lines already use that for LCIC's RequestId.
        return request.traceId ? { reqId: request.requestId, traceId: request.traceId } : { reqId: request.requestId };
      },
      serializers: { err: errorSerializer, error: errorSerializer, cause: errorSerializer },
      redact: {
        paths: [
          "token",
          "*.token",
          "*.*.token",
          "Token",
          "*.Token",
          "secretKey",
          "*.secretKey",
          "authorization",
          "*.authorization",
          "headers.authorization",
          "req.headers.authorization",
          "tokenCiphertext",
          "*.tokenCiphertext",
        ],
        censor: "[redacted]",
      },
    },
    (options.destination as DestinationStream | undefined) ?? destination(1),
  );
}

/**
 * pino-pretty's stream for a developer's terminal (`npm start` on a TTY outside production), or
 * undefined when it is not installed (a production install without dev dependencies): JSON then.
 */
export async function prettyDestination(): Promise<NodeJS.WritableStream | undefined> {
  try {
    const { default: pretty } = await import("pino-pretty");
    return pretty({ colorize: true, translateTime: "SYS:HH:MM:ss.l", ignore: "pid,hostname,service" });
  } catch {
    return undefined;
  }
}
