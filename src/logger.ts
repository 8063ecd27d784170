import { destination, pino, type DestinationStream, type Logger } from "pino";

export type { Logger };

/**
 * Structured JSON logs. Anything that looks like a credential is redacted by path, as a second line
 * of defence: code must not log tokens or keys in the first place.
 */
export function createLogger(options: { level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  return pino(
    {
      level: options.level ?? "info",
      base: { service: "classroom-users" },
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
