import { destination, pino, type DestinationStream, type Logger } from "pino";
import { currentRequestContext } from "./observability/request-context.js";

export type { Logger };

/**
 * Structured JSON logs. A line written while serving a request carries its request id as `reqId` (and `traceId`
 * when tracing is on), taken from the request's AsyncLocalStorage context. Anything that looks like a credential is redacted by path, as a second line
 * of defence: code must not log tokens or keys in the first place.
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
