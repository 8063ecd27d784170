import { LcicError } from "../lcic/errors.js";
import { ClassroomUserInGroupError, ClassroomUserNotFoundError } from "./errors.js";
import type { CallOptions } from "../lcic/client.js";
import type { ClassroomUserRow, ClassroomUserTombstoneRow } from "./repository.js";
import type { UserSteps } from "./steps.js";
import { parseDeleteInput } from "./validation.js";
import { resolveSdkAppId, type UsersContext } from "./context.js";
import { lcicUserIdByOriginId } from "./adoption.js";
import { callLcic, toDomainError } from "./lcic-errors.js";
import { withKeyLock, type RegistrationKey } from "./registration-lock.js";

export interface DeleteResult {
  userId: string;
  sdkAppId: number;
  originId: string;
  /** LCIC's RequestId of the DeleteUser call; absent when the user was already gone. */
  requestId: string | undefined;
}

/** LCIC's refusal to delete a group member (LCIC-NOTES §1), and its family. */
const IN_GROUP_CODE = "FailedOperation.UserIsAlreadyInGroup";

function fromTombstone(t: ClassroomUserTombstoneRow): DeleteResult {
  return { userId: t.userId, sdkAppId: t.sdkAppId, originId: t.originId, requestId: t.lcicRequestId ?? undefined };
}

/**
 * `deleteClassroomUser`: LCIC's DeleteUser, then the row is erased (name, avatar, token) and a
 * tombstone with the ids and time is left.
 *
 * - Serialised with registration by the key's registration lock: a register waiting behind a delete
 *   registers anew afterwards, and a delete behind a register deletes what it registered, so neither
 *   an LCIC user without a row nor a row without an LCIC user is left.
 * - Idempotent: LCIC answering ResourceNotFound.User (already gone, e.g. our earlier reply was lost)
 *   is success, and so is a repeat after the row was erased (the tombstone answers).
 * - LCIC refusing because the user is in a group: ClassroomUserInGroupError, nothing erased.
 * - A reply lost on the way back (outcome unknown): DeleteUser is sent once more; "not found" then
 *   means the first one worked.
 */
export async function deleteClassroomUser(steps: UserSteps, rawInput: unknown): Promise<DeleteResult> {
  const input = parseDeleteInput(rawInput);
  const { repository, lcic, logger } = steps.ctx;
  const lookup = { userId: input.userId ?? undefined, originId: input.originId ?? undefined, sdkAppId: input.sdkAppId ?? undefined };

  // Which key's lock to take.
  let key: { sdkAppId: number; originId: string };
  if (input.userId != null) {
    const userId = input.userId;
    const row = await repository.findByUserId(userId);
    if (row) {
      if (input.sdkAppId != null && row.sdkAppId !== input.sdkAppId) throw new ClassroomUserNotFoundError(lookup);
      key = { sdkAppId: row.sdkAppId, originId: row.originId };
    } else {
      const tombstone = await repository.findTombstoneByUserId(userId);
      if (tombstone && (input.sdkAppId == null || tombstone.sdkAppId === input.sdkAppId)) return fromTombstone(tombstone);
      // Registered outside this service: LCIC tells whose it is.
      const described = await callLcic(steps.ctx.logger, () => lcic.describeUser({ userId }), lookup);
      if (!steps.ctx.sdkAppIds.includes(described.sdkAppId) || (input.sdkAppId != null && described.sdkAppId !== input.sdkAppId)) {
        throw new ClassroomUserNotFoundError(lookup);
      }
      key = { sdkAppId: described.sdkAppId, originId: described.originId || userId };
    }
  } else {
    key = { sdkAppId: resolveSdkAppId(steps.ctx, input.sdkAppId), originId: input.originId! };
  }

  return withKeyLock(steps.ctx.lock, key, steps.ctx.lockTimeoutMs, async () => {
    const row = await repository.findByOriginId(key.sdkAppId, key.originId);
    let target = input.userId ?? (row?.status === "registered" ? row.userId! : undefined);
    if (target === undefined) {
      // Not stored, or a registration of it is pending: LCIC may still have a user for the key.
      try {
        target = (await callLcic(steps.ctx.logger, () => lcic.loginOriginId(key), { ...lookup, sdkAppId: key.sdkAppId })).userId;
      } catch (error) {
        if (!(error instanceof ClassroomUserNotFoundError)) throw error;
        const tombstone = await repository.findTombstoneByOriginId(key.sdkAppId, key.originId);
        if (tombstone) return fromTombstone(tombstone);
        throw error;
      }
    }
    const userId = target;
    // The row goes if it is this user's, or the pending registration LCIC had already made.
    const erased = row && (row.userId === userId || row.status === "pending") ? row : undefined;
    const requestId = await deleteAndErase(steps.ctx, key, userId, erased);
    logger.info({ sdkAppId: key.sdkAppId, userId }, "deleted classroom user");
    return { userId, sdkAppId: key.sdkAppId, originId: key.originId, requestId };
  });
}

/**
 * Under the key's lock: LCIC's DeleteUser for `userId`, then the erasure of `row` (its user's row, if
 * stored) with a tombstone. Returns DeleteUser's RequestId (undefined when LCIC already had no such user).
 *
 * The row's deletion intent (`deletion_requested_at`) is committed before DeleteUser is sent, so a
 * delete whose outcome is lost (both replies, or this process before the erasure) is finished by the
 * reconciler (reconciliation.ts finishRequestedDeletion) instead of leaving a stored user LCIC no
 * longer has. LCIC refusing for sure clears it again, unless an earlier request's DeleteUser (the row
 * carried an intent already) may still have worked; a user in a group is refused and exists, so its
 * intent is always cleared.
 */
export async function deleteAndErase(
  ctx: UsersContext,
  key: RegistrationKey,
  userId: string,
  row: ClassroomUserRow | undefined,
  callOptions: CallOptions = {},
): Promise<string | undefined> {
  const { repository } = ctx;
  const earlierMayHaveLanded = row?.deletionRequestedAt != null;
  if (row) await repository.markDeletionRequested(row.id, ctx.now());
  let requestId: string | undefined;
  try {
    requestId = (await sendDeleteUser(ctx, userId, callOptions)).requestId || undefined;
  } catch (error) {
    if (!(error instanceof LcicError)) throw error; // may have been sent: the intent stays
    if (error.code === "ResourceNotFound.User") {
      // Already gone in LCIC (deleted elsewhere, or our earlier call's reply was lost): still success.
      requestId = undefined;
    } else {
      const inGroup = error.code.startsWith(IN_GROUP_CODE);
      if (row && (inGroup || (!error.outcomeUnknown && !earlierMayHaveLanded))) await repository.clearDeletionRequest(row.id);
      if (inGroup) throw new ClassroomUserInGroupError(userId, error.requestId);
      throw toDomainError(error, ctx.logger, key.sdkAppId);
    }
  }
  const tombstone = { userId, sdkAppId: key.sdkAppId, originId: key.originId, lcicRequestId: requestId ?? null };
  if (row) await repository.eraseUser(row.id, tombstone);
  else await repository.recordTombstone(tombstone);
  return requestId;
}

/**
 * What finishing a requested deletion did (finishDeletionUnderLock):
 * - `erased`: LCIC no longer has the user (the earlier DeleteUser worked, or this one did); the row is erased.
 * - `kept`: LCIC refused the delete because the user is in a group: the user lives on, and the row is
 *   a live user's again (its intent cleared).
 * - `skipped`: (the reconciler) another request or replica holds the key's lock, or the row changed.
 */
export type DeletionOutcome = "erased" | "kept" | "skipped";

export interface DeletionFinished {
  outcome: DeletionOutcome;
  /** The LCIC user deleted or kept, when the row named one or LCIC had one for its originId. */
  userId?: string;
  /** DeleteUser's RequestId, when this call deleted it (not when LCIC already had no such user). */
  requestId?: string;
}

/**
 * Under the key's lock, for a row still carrying a deletion intent whose outcome was lost: DeleteUser
 * again ("not found" means the earlier one worked), then the erasure. Run by the reconciler, and by a
 * request about to hand out a credential for the key (registration, token): the user was asked to be
 * deleted, so that is finished first. A pending registration's row without an LCIC user just goes.
 * Throws the domain error when LCIC cannot be asked or refuses otherwise; the intent then stays.
 */
export async function finishDeletionUnderLock(ctx: UsersContext, row: ClassroomUserRow, callOptions: CallOptions = {}): Promise<DeletionFinished> {
  const key = { sdkAppId: row.sdkAppId, originId: row.originId };
  const userId = row.userId ?? (await lcicUserIdByOriginId(ctx, key, callOptions));
  if (userId === undefined) {
    await ctx.repository.deleteRow(row.id);
    return { outcome: "erased" };
  }
  let requestId: string | undefined;
  try {
    requestId = await deleteAndErase(ctx, key, userId, row, callOptions);
  } catch (error) {
    if (error instanceof ClassroomUserInGroupError) return { outcome: "kept", userId };
    throw error;
  }
  ctx.logger.info({ sdkAppId: key.sdkAppId, userId }, "finished a deletion whose outcome was lost");
  return { outcome: "erased", userId, ...(requestId ? { requestId } : {}) };
}

/**
 * Under the key's lock, the key's row as a request about to hand out a credential or answer an
 * existing user may use it (registration, bulk registration, token): a row still carrying the intent
 * of a delete whose outcome was lost has that delete finished first (finishDeletionUnderLock), so
 * nothing is handed out for a user LCIC may no longer have. Undefined once erased (the originId is
 * free); re-read when LCIC refused (the user is in a group, lives on, its intent cleared); any other
 * row as it is.
 */
export async function rowAfterUnfinishedDelete(ctx: UsersContext, row: ClassroomUserRow | undefined): Promise<ClassroomUserRow | undefined> {
  if (row?.deletionRequestedAt == null) return row;
  const finished = await finishDeletionUnderLock(ctx, row);
  return finished.outcome === "erased" ? undefined : ctx.repository.findByOriginId(row.sdkAppId, row.originId);
}

/**
 * DeleteUser, sent a second time when the first reply was lost: the resilient client does not resend
 * it (a second answer of "not found" would hide the first outcome from a caller that cannot tell),
 * but here "not found" the second time means exactly that the first call worked.
 */
async function sendDeleteUser(ctx: UsersContext, userId: string, callOptions: CallOptions): Promise<{ requestId: string }> {
  const { lcic, logger } = ctx;
  try {
    return await lcic.deleteUser(userId, callOptions);
  } catch (error) {
    if (!(error instanceof LcicError) || !error.outcomeUnknown) throw error;
    logger.warn({ action: "DeleteUser", code: error.code, userId }, "DeleteUser outcome unknown; sending it again");
    return lcic.deleteUser(userId, callOptions);
  }
}
