import { ClassroomUserNotFoundError } from "./errors.js";
import type { ClassroomUserRow } from "./repository.js";
import type { UserSteps } from "./steps.js";
import { parseUpdateInput } from "./validation.js";
import { callLcic } from "./lcic-errors.js";
import { withKeyLock } from "./registration-lock.js";

export interface UpdateResult {
  user: ClassroomUserRow;
  /** LCIC's RequestId of the ModifyUserProfile call. */
  requestId: string | undefined;
}

/**
 * `updateClassroomUser`: LCIC's ModifyUserProfile (its `Nickname` is our `name`), then the row.
 *
 * A user LCIC knows but we do not is adopted first (as `classroomUser` does). The change runs under
 * the key's registration lock, so it cannot interleave with a delete or a re-registration of the
 * same key. ModifyUserProfile sets values, so the resilient client resends it after a lost reply;
 * if LCIC stays unreachable the caller gets LcicUnavailableError and the row is unchanged (LCIC may
 * have applied it: the same update again, or `users:sync`, brings the row in line).
 */
export async function updateClassroomUser(steps: UserSteps, rawInput: unknown): Promise<UpdateResult> {
  const input = parseUpdateInput(rawInput);
  const { repository, lcic, logger } = steps.ctx;
  const lookup = { userId: input.userId ?? undefined, originId: input.originId ?? undefined, sdkAppId: input.sdkAppId ?? undefined };
  const located = await steps.find({ userId: input.userId, originId: input.originId, sdkAppId: input.sdkAppId });
  const key = { sdkAppId: located.sdkAppId, originId: located.originId };
  // null clears a field (avatar: ""); undefined leaves it as it is.
  const fields: { name?: string | null; avatar?: string | null } = {};
  if (input.name != null) fields.name = input.name;
  if (input.avatar != null) fields.avatar = input.avatar === "" ? null : input.avatar;

  return withKeyLock(steps.ctx.lock, key, steps.ctx.lockTimeoutMs, async () => {
    // Re-read under the lock: a delete may have erased it since.
    const row = await repository.findByOriginId(key.sdkAppId, key.originId);
    if (!row || row.status !== "registered" || row.userId !== located.userId) throw new ClassroomUserNotFoundError(lookup);
    const userId = row.userId!;
    const { requestId } = await callLcic(steps.ctx.logger, 
      () =>
        lcic.modifyUserProfile({
          userId,
          ...(input.name != null ? { nickname: input.name } : {}),
          // "" is LCIC's "no avatar" too.
          ...(input.avatar != null ? { avatar: input.avatar } : {}),
        }),
      lookup,
    );
    const updated = await repository.updateProfile(row.id, fields);
    if (!updated) throw new ClassroomUserNotFoundError(lookup);
    logger.info({ sdkAppId: row.sdkAppId, userId, fields: Object.keys(fields) }, "updated classroom user profile");
    return { user: updated, requestId: requestId || undefined };
  });
}
