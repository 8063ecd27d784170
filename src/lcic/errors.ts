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
  action?: string;
  httpStatus?: number;
  /** For rate limits: how long the caller should wait before trying again. */
  retryAfterMs?: number;
  cause?: unknown;
}

export class LcicError extends Error {
  override readonly name = "LcicError";
  readonly code: string;
  readonly kind: LcicErrorKind;
  readonly retryable: boolean;
  readonly outcomeUnknown: boolean;
  readonly requestId: string | undefined;
  readonly action: string | undefined;
  readonly httpStatus: number | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(init: LcicErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.code = init.code;
    this.kind = init.kind;
    this.retryable = init.retryable;
    this.outcomeUnknown = init.outcomeUnknown ?? false;
    this.requestId = init.requestId || undefined;
    this.action = init.action;
    this.httpStatus = init.httpStatus;
    this.retryAfterMs = init.retryAfterMs;
  }
}

export function isLcicError(error: unknown, code?: string): error is LcicError {
  return error instanceof LcicError && (code === undefined || error.code === code);
}
