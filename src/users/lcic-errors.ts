import { LcicError } from "../lcic/errors.js";
import type { Logger } from "../logger.js";
import {
  ClassroomUserNotFoundError,
  InvalidSdkAppIdError,
  LcicRateLimitedError,
  LcicRequestError,
  LcicUnavailableError,
} from "./errors.js";

/** Which user an LCIC call was about, for the errors it may turn into. */
export interface LcicCallSubject {
  userId?: string;
  originId?: string;
  sdkAppId?: number;
}

/** LCIC errors the caller can act on become specific domain errors; the rest become LcicRequestError. */
export function toDomainError(error: LcicError, logger: Logger, sdkAppId?: number): Error {
  if (error.code === "InvalidParameter.SdkAppId" && sdkAppId !== undefined) return new InvalidSdkAppIdError(sdkAppId, error.requestId);
  if (error.kind === "rate_limited") return new LcicRateLimitedError(error.code, error.retryAfterMs ?? 1000, error.requestId);
  if (error.kind === "unavailable") return new LcicUnavailableError(error.code, error.requestId);
  if (error.kind === "auth") {
    logger.error({ code: error.code, action: error.action, requestId: error.requestId }, "LCIC refused this service's credentials or configuration");
  }
  return new LcicRequestError(error.code, error.message, error.requestId);
}

/** Calls LCIC and turns its errors into domain errors (`ResourceNotFound.User` into ClassroomUserNotFoundError). */
export async function callLcic<T>(logger: Logger, call: () => Promise<T>, subject: LcicCallSubject = {}): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof LcicError) {
      if (error.code === "ResourceNotFound.User") throw new ClassroomUserNotFoundError(subject, error.requestId);
      throw toDomainError(error, logger, subject.sdkAppId);
    }
    throw error;
  }
}
