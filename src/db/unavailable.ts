/**
 * Whether an error means "the database cannot be reached right now" (stopped, restarting, failing
 * over, unreachable) rather than a bug: such errors reach clients as DATABASE_UNAVAILABLE (retry),
 * not as an unexpected error. Drizzle wraps the driver's error, so the cause chain is searched.
 */
const CONNECTION_CODES = new Set([
  // postgres.js
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "CONNECT_TIMEOUT",
  // Node's sockets
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EPIPE",
  // PostgreSQL: admin_shutdown, crash_shutdown, cannot_connect_now (starting up, shutting down, in recovery)
  "57P01",
  "57P02",
  "57P03",
]);

export function isDatabaseUnavailable(error: unknown): boolean {
  for (let current = error, depth = 0; current && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code;
    // SQLSTATE class 08: connection exceptions.
    if (typeof code === "string" && (CONNECTION_CODES.has(code) || /^08[0-9A-Z]{3}$/.test(code))) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/** The driver's own error at the end of the cause chain: its code and message carry no SQL parameters. */
export function databaseFailureReason(error: unknown): { code?: string; reason: string } {
  let current = error;
  for (let depth = 0; depth < 5 && (current as { cause?: unknown })?.cause; depth++) current = (current as { cause?: unknown }).cause;
  const code = (current as { code?: unknown })?.code;
  return { ...(typeof code === "string" ? { code } : {}), reason: current instanceof Error ? current.message : String(current) };
}
