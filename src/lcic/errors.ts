import ExMod from "tencentcloud-sdk-nodejs/tencentcloud/common/exception/tencent_cloud_sdk_exception.js";
import type { LcicAction } from "./client.js";

/**
 * One error class for everything that can go wrong when talking to LCIC.
 *
 * `kind` is what callers switch on; `code` is LCIC's own code where LCIC answered
 * (e.g. `FailedOperation.OriginIdExists`) and ours (`Network.*`) for transport failures.
 */
export type LcicErrorKind =
  /** LCIC answered and refused on a business rule (OriginIdExists, ResourceNotFound.User, ...). */
  | "business"
  /** LCIC answered that a parameter is missing, malformed or unknown (incl. InvalidParameter.SdkAppId). */
  | "invalid_parameter"
  /** LCIC answered RequestLimitExceeded*, or we refused to wait for our own pacer. */
  | "rate_limited"
  /** Credentials, signature, clock or permissions: a configuration problem on our side. */
  | "auth"
  /** LCIC could not be reached or failed internally (timeout, reset, non-200, InternalError). */
  | "unavailable";

export interface LcicErrorInit {
  code: string;
  message: string;
  kind: LcicErrorKind;
  /** Safe to send the same request again (nothing changed, or the action is idempotent). */
  retryable: boolean;
  /**
   * True when the request may have reached LCIC and been applied although we got no answer
   * (timeout, reset, 5xx). Callers of non-idempotent actions must reconcile before retrying.
   */
  outcomeUnknown?: boolean;
  requestId?: string;
  /** X-TC-TraceId of the exchange (LCIC's answer header, or the one we sent): quote it to Tencent support. */
  traceId?: string;
  action?: string;
  httpStatus?: number;
  /** For rate limits: how long the caller should wait before trying again. */
  retryAfterMs?: number;
  /**
   * For the operator only (logs), never for callers: LCIC's own explanation of a credential or
   * configuration refusal, whose `message` is generic.
   */
  detail?: string;
  cause?: unknown;
}

export class LcicError extends Error {
  override readonly name = "LcicError";
  readonly code: string;
  readonly kind: LcicErrorKind;
  readonly retryable: boolean;
  readonly outcomeUnknown: boolean;
  readonly requestId: string | undefined;
  readonly traceId: string | undefined;
  readonly action: string | undefined;
  readonly httpStatus: number | undefined;
  readonly retryAfterMs: number | undefined;
  /** Operator-only detail (see LcicErrorInit.detail): log it, never show it to a caller. */
  readonly detail: string | undefined;

  constructor(init: LcicErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.code = init.code;
    this.kind = init.kind;
    this.retryable = init.retryable;
    this.outcomeUnknown = init.outcomeUnknown ?? false;
    this.requestId = init.requestId || undefined;
    this.traceId = init.traceId || undefined;
    this.action = init.action;
    this.httpStatus = init.httpStatus;
    this.retryAfterMs = init.retryAfterMs;
    this.detail = init.detail;
  }
}

export function isLcicError(error: unknown, code?: string): error is LcicError {
  return error instanceof LcicError && (code === undefined || error.code === code);
}

// ---------------------------------------------------------------------------------------------
// Normalization: every failure the SDK can produce becomes one LcicError.
// ---------------------------------------------------------------------------------------------

// The module is CommonJS with `exports.default = class`, so under Node's ESM the class is `.default`.
// Vitest's CJS interop already unwraps `default` (the module sets __esModule), so accept both shapes.
type SdkExceptionClass = typeof ExMod.default;
const TencentCloudSDKHttpException: SdkExceptionClass =
  typeof ExMod.default === "function" ? ExMod.default : (ExMod as unknown as SdkExceptionClass);

export interface LcicCodeClass {
  kind: LcicErrorKind;
  retryable: boolean;
  /** LCIC may have applied the action although the caller did not get a success. */
  outcomeUnknown: boolean;
}

const BUSINESS: LcicCodeClass = { kind: "business", retryable: false, outcomeUnknown: false };
const INVALID: LcicCodeClass = { kind: "invalid_parameter", retryable: false, outcomeUnknown: false };
const AUTH: LcicCodeClass = { kind: "auth", retryable: false, outcomeUnknown: false };
// LCIC refused before doing anything, so a retry after a pause is safe.
const RATE_LIMITED: LcicCodeClass = { kind: "rate_limited", retryable: true, outcomeUnknown: false };
const UNAVAILABLE_KNOWN: LcicCodeClass = { kind: "unavailable", retryable: true, outcomeUnknown: false };
// The request may have been executed: non-idempotent callers must reconcile before retrying.
const UNAVAILABLE_UNKNOWN: LcicCodeClass = { kind: "unavailable", retryable: true, outcomeUnknown: true };

/** Prefix rules, checked in order; the first match wins, so specific codes come first. */
const CODE_TABLE: ReadonlyArray<readonly [test: (code: string) => boolean, cls: LcicCodeClass]> = [
  // A timeout inside LCIC: it may have acted.
  [(c) => c === "FailedOperation.RequestTimedOut", UNAVAILABLE_UNKNOWN],
  [(c) => c === "InternalError" || c.startsWith("InternalError."), UNAVAILABLE_UNKNOWN],
  [(c) => c === "ServiceUnavailable" || family(c, "ResourceUnavailable"), UNAVAILABLE_KNOWN],
  [(c) => c === "Network.ConnectionRefused" || c === "Network.DnsFailure", UNAVAILABLE_KNOWN],
  [(c) => c.startsWith("Network."), UNAVAILABLE_UNKNOWN],
  [(c) => c === "Lcic.InvalidResponse", UNAVAILABLE_UNKNOWN],
  [(c) => family(c, "RequestLimitExceeded"), RATE_LIMITED],
  [
    (c) =>
      family(c, "AuthFailure") ||
      family(c, "UnauthorizedOperation") ||
      c === "InvalidAction" ||
      c === "NoSuchVersion" ||
      c === "UnsupportedRegion",
    AUTH,
  ],
  [
    (c) =>
      family(c, "InvalidParameter") ||
      family(c, "InvalidParameterValue") ||
      c === "MissingParameter" ||
      c === "UnknownParameter",
    INVALID,
  ],
  [
    (c) =>
      family(c, "FailedOperation") ||
      family(c, "ResourceNotFound") ||
      c === "ResourceInUse" ||
      c === "LimitExceeded" ||
      c === "OperationDenied" ||
      family(c, "UnsupportedOperation"),
    BUSINESS,
  ],
];

function family(code: string, root: string): boolean {
  return code === root || code.startsWith(root + ".");
}

/** How a code is handled. Unknown codes are business errors: LCIC answered, so do not retry blindly. */
export function classifyLcicCode(code: string): LcicCodeClass {
  for (const [test, cls] of CODE_TABLE) if (test(code)) return cls;
  return BUSINESS;
}

/**
 * What a caller reads for credential and configuration refusals (`kind: auth`): they are this
 * service's problem, not the caller's, and LCIC's own text (which SecretId, which signature step,
 * which region) helps an attacker more than a user. The code stays; LCIC's text goes to `detail`.
 */
export const LCIC_AUTH_MESSAGE = "LCIC refused this service's credentials or configuration; the operator has been told (see the service log)";

/** One second: LCIC's limits are per second, so by then a new window has opened. */
const RATE_LIMIT_RETRY_AFTER_MS = 1000;

function make(
  code: string,
  message: string,
  action: LcicAction,
  extra: Partial<LcicErrorInit> = {},
): LcicError {
  const cls = classifyLcicCode(code);
  const masked = cls.kind === "auth";
  return new LcicError({
    code,
    message: masked ? LCIC_AUTH_MESSAGE : message,
    ...(masked ? { detail: message } : {}),
    action,
    kind: cls.kind,
    retryable: cls.retryable,
    outcomeUnknown: cls.outcomeUnknown,
    retryAfterMs: cls.kind === "rate_limited" ? RATE_LIMIT_RETRY_AFTER_MS : undefined,
    ...extra,
  });
}

/** A success reply that lacks a field our interface promises, or a body that is not LCIC's envelope. */
export function invalidResponse(action: LcicAction, detail: string, requestId?: string): LcicError {
  return make("Lcic.InvalidResponse", `LCIC ${action} answered an unexpected body: ${detail}`, action, {
    requestId,
  });
}

/** Our own deadline ran out (the SDK reports that as a plain abort). */
export function timeoutError(action: LcicAction, cause?: unknown): LcicError {
  return make("Network.Timeout", `LCIC ${action}: ${TRANSPORT_MESSAGES["Network.Timeout"]}`, action, { cause });
}

/**
 * Transport failures reach us as the SDK's exception carrying only node-fetch's message
 * (the SDK drops the original error), so the message text is all there is to classify.
 */
function transportCode(message: string): string {
  if (/network timeout at|ETIMEDOUT|ESOCKETTIMEDOUT/i.test(message)) return "Network.Timeout";
  if (/ECONNREFUSED/.test(message)) return "Network.ConnectionRefused";
  if (/ECONNRESET|socket hang up|EPIPE|Premature close|ECONNABORTED/i.test(message)) return "Network.ConnectionReset";
  if (/aborted a request|AbortError|This operation was aborted/i.test(message)) return "Network.Aborted";
  if (/ENOTFOUND|EAI_AGAIN/.test(message)) return "Network.DnsFailure";
  return "Network.Failure";
}

const TRANSPORT_MESSAGES: Record<string, string> = {
  "Network.Timeout": "timed out waiting for LCIC",
  "Network.ConnectionRefused": "LCIC refused the connection (nothing was sent)",
  "Network.ConnectionReset": "the connection to LCIC was closed before a reply arrived",
  "Network.Aborted": "the request was aborted by the caller",
  "Network.DnsFailure": "the LCIC host name could not be resolved (nothing was sent)",
  "Network.Failure": "the request to LCIC failed",
};

interface FetchErrorLike extends Error {
  type?: string;
}

/**
 * Turn anything thrown while calling LCIC into an LcicError.
 *
 * Messages are LCIC's own (for answers) or written here; never a token or a key. node-fetch's
 * "invalid json" message can quote the body (which may hold a token), so it is not kept, and
 * such errors get no `cause` for the same reason.
 */
export function toLcicError(error: unknown, action: LcicAction): LcicError {
  if (error instanceof LcicError) return error;

  if (error instanceof TencentCloudSDKHttpException) {
    const requestId = error.requestId || undefined;
    const traceId = error.traceId || undefined;
    if (typeof error.code === "string" && error.code !== "") {
      // LCIC answered with an error envelope.
      return make(error.code, error.message, action, { requestId, traceId, cause: error });
    }
    if (typeof error.httpCode === "number") {
      // Non-200: a gateway or LCIC failed; the SDK ignores the body, so LCIC may have acted.
      return make("Network.HttpStatus", `LCIC ${action} answered HTTP ${error.httpCode} ${error.message}`.trim(), action, {
        httpStatus: error.httpCode,
        traceId,
        cause: error,
      });
    }
    const code = transportCode(error.message);
    return make(code, `LCIC ${action}: ${TRANSPORT_MESSAGES[code] ?? "request failed"} (${error.message})`, action, {
      traceId,
      cause: error,
    });
  }

  if (error instanceof Error) {
    const fetchError = error as FetchErrorLike;
    // Escapes: parseResponse runs outside the SDK's try, so node-fetch errors on the body arrive raw.
    if (fetchError.name === "FetchError") {
      if (fetchError.type === "invalid-json") return invalidResponse(action, "the body is not JSON");
      if (fetchError.type === "body-timeout") {
        return make("Network.Timeout", `LCIC ${action}: ${TRANSPORT_MESSAGES["Network.Timeout"]} (reading the body)`, action, {
          cause: error,
        });
      }
      const code = transportCode(fetchError.message);
      return make(code === "Network.Failure" ? "Network.ConnectionReset" : code, `LCIC ${action}: ${fetchError.message}`, action, {
        cause: error,
      });
    }
    if (error.name === "AbortError") {
      return make("Network.Aborted", `LCIC ${action}: ${TRANSPORT_MESSAGES["Network.Aborted"]}`, action, { cause: error });
    }
    // `data.Response.Error` on a JSON body without `Response`.
    if (error instanceof TypeError) return invalidResponse(action, "no Response object");
  }

  // Not something the SDK throws: keep it, but claim nothing about whether LCIC acted.
  return new LcicError({
    code: "Lcic.Unexpected",
    message: `LCIC ${action}: unexpected failure${error instanceof Error ? `: ${error.message}` : ""}`,
    kind: "unavailable",
    retryable: false,
    outcomeUnknown: true,
    action,
    cause: error,
  });
}
