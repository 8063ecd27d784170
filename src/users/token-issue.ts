import { ClassroomUserNotFoundError } from "./errors.js";
import type { ClassroomUserRow } from "./repository.js";
import type { UserSteps } from "./steps.js";
import { parseTokenInput } from "./validation.js";
import { resolveSdkAppId } from "./context.js";
import { callLcic } from "./lcic-errors.js";
import { rowAfterUnfinishedDelete } from "./deletion.js";
import { withKeyLock } from "./registration-lock.js";
import { sealToken, readStoredToken } from "./tokens.js";

/** What `issueClassroomUserToken` returns when minValiditySeconds is not given: one hour. */
export const DEFAULT_MIN_VALIDITY_SECONDS = 3600;

export interface IssuedToken {
  user: ClassroomUserRow;
  /** LCIC login token: a credential for that user's client only. Never log it. */
  token: string;
  tokenExpiresAt: Date;
  /** True when the stored token was handed out and this request made no LCIC login call. */
  fromCache: boolean;
  requestId: string | undefined;
}

/**
 * `issueClassroomUserToken`: a login token valid for at least `minValiditySeconds`.
 *
 * Served from the stored (encrypted) token while it is valid long enough, with no LCIC call; else
 * LCIC's LoginUser under the key's registration lock, stored encrypted and returned. The lock makes
 * it single-flight across requests and replicas: concurrent callers for one user queue behind the
 * first (in memory within a process), re-read the row, and find the token it stored.
 */
export async function issueClassroomUserToken(steps: UserSteps, rawInput: unknown): Promise<IssuedToken> {
  const input = parseTokenInput(rawInput);
  const { repository, lcic, logger } = steps.ctx;
  const minValidityMs = (input.minValiditySeconds ?? DEFAULT_MIN_VALIDITY_SECONDS) * 1000;
  const lookup = { userId: input.userId ?? undefined, originId: input.originId ?? undefined, sdkAppId: input.sdkAppId ?? undefined };

  let row = await storedRow(steps, input);
  let adopted = false;
  if (!row) {
    // Not stored: adopt it from LCIC as `classroomUser` does (by originId that also stores a token).
    row = await steps.find({ userId: input.userId, originId: input.originId, sdkAppId: input.sdkAppId });
    adopted = true;
  }
  // (A row whose delete was requested goes under the lock: the delete is finished first.)
  const cached = row.deletionRequestedAt === null ? validToken(steps, row, minValidityMs) : undefined;
  if (cached) return { ...cached, fromCache: !adopted };

  const userId = row.userId!;
  const key = { sdkAppId: row.sdkAppId, originId: row.originId };
  return withKeyLock(steps.ctx.lock, key, steps.ctx.lockTimeoutMs, async () => {
    // A delete of this user whose outcome was lost is finished first (no token for a user LCIC may no
    // longer have); LCIC refusing it (the user is in a group) leaves the user, and the token is served.
    const current = await rowAfterUnfinishedDelete(steps.ctx, await repository.findByOriginId(key.sdkAppId, key.originId));
    // Deleted (or re-registered as someone else) while we waited.
    if (!current || current.status !== "registered" || current.userId !== userId) throw new ClassroomUserNotFoundError({ ...lookup, sdkAppId: key.sdkAppId });
    // Another request refreshed it while we waited for the lock.
    const refreshed = validToken(steps, current, minValidityMs);
    if (refreshed) return { ...refreshed, fromCache: true };
    const login = await callLcic(steps.ctx.logger, () => lcic.loginUser(userId), { ...lookup, sdkAppId: key.sdkAppId });
    const updated = await repository.updateToken(current.id, sealToken(steps.ctx.cipher, login, steps.ctx.now()));
    logger.info({ sdkAppId: key.sdkAppId, userId }, "issued a new classroom user token");
    return { user: updated, token: login.token, tokenExpiresAt: updated.tokenExpiresAt!, fromCache: false, requestId: login.requestId || undefined };
  });
}

/** The registered row the input names, from PostgreSQL only. */
async function storedRow(
  steps: UserSteps,
  input: { userId?: string | null; originId?: string | null; sdkAppId?: number | null },
): Promise<ClassroomUserRow | undefined> {
  const { repository } = steps.ctx;
  if (input.userId != null) {
    const row = await repository.findByUserId(input.userId);
    return row && (input.sdkAppId == null || row.sdkAppId === input.sdkAppId) ? row : undefined;
  }
  const row = await repository.findByOriginId(resolveSdkAppId(steps.ctx, input.sdkAppId), input.originId!);
  return row?.status === "registered" ? row : undefined;
}

function validToken(steps: UserSteps, row: ClassroomUserRow, minValidityMs: number): Omit<IssuedToken, "fromCache"> | undefined {
  if (!row.tokenExpiresAt || row.tokenExpiresAt.getTime() - steps.ctx.now().getTime() < minValidityMs) return undefined;
  const token = readStoredToken(steps.ctx.cipher, row, steps.ctx.logger);
  if (!token) return undefined;
  return { user: row, token, tokenExpiresAt: row.tokenExpiresAt, requestId: row.lcicRequestId ?? undefined };
}
