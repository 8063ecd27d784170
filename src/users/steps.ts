import type { LcicToken } from "../lcic/client.js";
import type { LcicError } from "../lcic/errors.js";
import type { ClassroomUserRow } from "./repository.js";
import type { UsersServiceDeps } from "./service.js";
import type { LookupInput } from "./validation.js";

/**
 * The steps registration and lookup share with the use cases on an existing user (profile.ts,
 * deletion.ts, token-issue.ts, listing.ts, sync.ts): one function each, not copies.
 */
export interface UserSteps {
  deps: UsersServiceDeps;
  now(): Date;
  /** `sdkAppId`, or LCIC_SDK_APP_ID; InvalidSdkAppIdError when this service may not use it. */
  resolveSdkAppId(sdkAppId: number | null | undefined): number;
  /** Calls LCIC; ResourceNotFound.User becomes ClassroomUserNotFoundError(lookup), others their domain error. */
  callLcic<T>(call: () => Promise<T>, lookup?: { userId?: string; originId?: string; sdkAppId?: number }): Promise<T>;
  /** An LcicError already caught, as the domain error callLcic would have thrown. */
  toDomainError(error: LcicError, sdkAppId?: number): Error;
  /** Runs `fn` holding the registration lock of the key (Registration.Busy past the lock timeout). */
  withLock<T>(key: { sdkAppId: number; originId: string }, fn: () => Promise<T>): Promise<T>;
  /** The columns that store a token: ciphertext bound to the user, expiry, LCIC request id. */
  sealToken(login: LcicToken): { tokenCiphertext: string; tokenExpiresAt: Date; lcicRequestId: string | null };
  /** The stored token in clear, or undefined when absent or unreadable. */
  readToken(row: ClassroomUserRow): string | undefined;
  /** `classroomUser`: the stored user, else adopted from LCIC; deleted ones are not found. */
  find(lookup: LookupInput): Promise<ClassroomUserRow>;
}
