/**
 * The service's domain errors. The schema layer exposes each as a member of the result unions;
 * `code` is LCIC's code where LCIC answered and ours otherwise.
 */

export interface FieldError {
  /** Path of the offending input field, e.g. ["input", "avatar"]. */
  path: string[];
  message: string;
}

export class ValidationError extends Error {
  override readonly name = "ValidationError";
  readonly code = "ValidationFailed";
  constructor(readonly fieldErrors: FieldError[]) {
    super(`Invalid input: ${summarise(fieldErrors)}`);
  }
}

/** The message names every field and why, up to a few; `fieldErrors` always holds them all. */
const NAMED_IN_MESSAGE = 3;
function summarise(fieldErrors: FieldError[]): string {
  const named = fieldErrors.slice(0, NAMED_IN_MESSAGE).map((e) => `${e.path.join(".")}: ${e.message}`);
  const more = fieldErrors.length - named.length;
  return named.join("; ") + (more > 0 ? `; and ${more} more (see fieldErrors)` : "");
}

export class InvalidSdkAppIdError extends Error {
  override readonly name = "InvalidSdkAppIdError";
  readonly code = "InvalidParameter.SdkAppId";
  constructor(
    readonly sdkAppId: number,
    readonly requestId?: string,
  ) {
    super(`SdkAppId ${sdkAppId} is not an LCIC application this service may use`);
  }
}

export class OriginIdExistsError extends Error {
  override readonly name = "OriginIdExistsError";
  readonly code = "FailedOperation.OriginIdExists";
  constructor(
    readonly originId: string,
    readonly userId: string | undefined,
    readonly requestId?: string,
  ) {
    super(`A classroom user with originId "${originId}" already exists in this application`);
  }
}

export class ClassroomUserNotFoundError extends Error {
  override readonly name = "ClassroomUserNotFoundError";
  readonly code = "ResourceNotFound.User";
  constructor(
    readonly lookup: { userId?: string; originId?: string; sdkAppId?: number },
    readonly requestId?: string,
  ) {
    super(
      lookup.userId !== undefined
        ? `No classroom user with userId "${lookup.userId}"`
        : `No classroom user with originId "${lookup.originId}" in application ${lookup.sdkAppId}`,
    );
  }
}

export class LcicRateLimitedError extends Error {
  override readonly name = "LcicRateLimitedError";
  constructor(
    readonly code: string,
    readonly retryAfterMs: number,
    readonly requestId?: string,
  ) {
    super(`LCIC's request rate limit is reached; try again in ${Math.ceil(retryAfterMs / 100) / 10} s`);
  }
}

export class LcicUnavailableError extends Error {
  override readonly name = "LcicUnavailableError";
  constructor(
    readonly code: string,
    readonly requestId?: string,
  ) {
    super("LCIC is unavailable right now; try again shortly");
  }
}

/**
 * This client used up its own budget (registrations, or lookups that fall back to LCIC) for the
 * current window; LCIC was not called. `code` is `Client.RateLimited`.
 */
export class ClientRateLimitedError extends Error {
  override readonly name = "ClientRateLimitedError";
  readonly code = "Client.RateLimited";
  constructor(
    /** What the budget counts: "registrations" or "LCIC lookups". */
    readonly budget: string,
    readonly retryAfterMs: number,
  ) {
    super(`This client's ${budget} budget for the current minute is used up; try again in ${Math.ceil(retryAfterMs / 100) / 10} s`);
  }
}

/**
 * Another request (here or on another replica) was registering the same originId, and did not finish
 * within the bounded wait. Nothing was sent to LCIC by this request. `code` is `Registration.Busy`.
 */
export class RegistrationBusyError extends Error {
  override readonly name = "RegistrationBusyError";
  readonly code = "Registration.Busy";
  constructor(
    readonly originId: string,
    /** How long this request waited for the other one. */
    readonly waitedMs: number,
  ) {
    super(`Another request is registering originId "${originId}" and did not finish within ${Math.ceil(waitedMs / 100) / 10} s; try again`);
  }
}

/**
 * Any other error LCIC answered with (the LCIC layer's error, in the service's words). `code` is
 * LCIC's code.
 */
export class LcicRequestError extends Error {
  override readonly name = "LcicRequestError";
  constructor(
    readonly code: string,
    message: string,
    readonly requestId?: string,
  ) {
    super(message);
  }
}

/** LCIC refuses to delete a user who is still a member of a group: remove them from the group first. */
export class ClassroomUserInGroupError extends Error {
  override readonly name = "ClassroomUserInGroupError";
  readonly code = "FailedOperation.UserIsAlreadyInGroup";
  constructor(
    readonly userId: string,
    readonly requestId?: string,
  ) {
    super(`Classroom user "${userId}" is still a member of a group in LCIC; remove them from the group first`);
  }
}
