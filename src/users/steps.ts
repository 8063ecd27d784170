import type { UsersContext } from "./context.js";
import type { ClassroomUserRow } from "./repository.js";
import type { LookupInput } from "./validation.js";

/**
 * What the use cases on an existing user (profile.ts, deletion.ts, token-issue.ts, listing.ts,
 * sync.ts) are given: the users context (whose shared steps they call: withKeyLock, callLcic,
 * sealToken, readStoredToken, resolveSdkAppId) and `find`, the lookup of `classroomUser` bound to the
 * caller (its LCIC fallback is counted per client).
 */
export interface UserSteps {
  ctx: UsersContext;
  /** The stored user, else adopted from LCIC; deleted ones are not found. */
  find(lookup: Pick<LookupInput, "userId" | "originId" | "sdkAppId">): Promise<ClassroomUserRow>;
}
