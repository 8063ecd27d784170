import { adoptLcicUser, lcicUserIdByOriginId } from "./adoption.js";
import type { UsersContext } from "./context.js";
import { finishDeletionUnderLock, type DeletionFinished } from "./deletion.js";
import { ClassroomUserNotFoundError } from "./errors.js";
import { callLcic } from "./lcic-errors.js";
import type { ClassroomUserRow } from "./repository.js";

/**
 * What reconciling one pending row did:
 * - `registered`: LCIC has the user our attempt created; the row now holds it.
 * - `cleared`: LCIC does not have the user; the row is gone (its caller was told the request failed).
 * - `withdrawn`: a registration without an originId whose caller never got a success (it failed or
 *   its replica died): the LCIC user its late RegisterUser created was deleted in LCIC, and the row
 *   with it. Nobody else can name that generated originId, so the user would be an orphan.
 * - `skipped`: another request or replica holds the key's lock (it is being handled), or the row
 *   changed meanwhile.
 */
export type ReconcileOutcome = "registered" | "cleared" | "withdrawn" | "skipped";

/**
 * Completes or clears one pending registration left by a crash or a lost reply. Takes the key's lock
 * without waiting. Call it only for rows unchanged for longer than any request can be in flight
 * (RECONCILER_STALE_AFTER_MS): only then does "LCIC does not have it" mean no RegisterUser can still land.
 * Throws the domain error when LCIC cannot be asked; the row then stays pending.
 */
export async function reconcilePendingRegistration(ctx: UsersContext, row: ClassroomUserRow): Promise<ReconcileOutcome> {
  const key = { sdkAppId: row.sdkAppId, originId: row.originId };
  const outcome = await ctx.lock.withLock(key, { timeoutMs: 0, wait: false }, async (): Promise<ReconcileOutcome> => {
    const current = await ctx.repository.findByOriginId(key.sdkAppId, key.originId);
    if (!current || current.status !== "pending" || current.id !== row.id) return "skipped";
    if (current.attempts === 0) {
      // Its request died before calling LCIC: nothing to complete.
      await ctx.repository.deletePending(current.id);
      return "cleared";
    }
    const background = { priority: "background" } as const;
    if (current.originIdGenerated) {
      // Generated originId: no caller holds this user (a success would have left the row registered).
      const userId = await lcicUserIdByOriginId(ctx, key, background);
      if (userId !== undefined) {
        try {
          await callLcic(ctx.logger, () => ctx.lcic.deleteUser(userId, background), { userId, sdkAppId: key.sdkAppId });
        } catch (error) {
          if (!(error instanceof ClassroomUserNotFoundError)) throw error;
        }
        ctx.logger.info({ sdkAppId: key.sdkAppId, userId }, "deleted the LCIC user of a failed registration without originId");
      }
      await ctx.repository.deletePending(current.id);
      return userId === undefined ? "cleared" : "withdrawn";
    }
    const adopted = await adoptLcicUser(ctx, current, "our-attempt", background);
    if (adopted) return "registered";
    // LCIC never created it; the caller was told it failed and may retry.
    await ctx.repository.deletePending(current.id);
    return "cleared";
  });
  return outcome ?? "skipped";
}

/**
 * Finishes a delete whose outcome was lost: a row still carrying its deletion intent once stale (both
 * DeleteUser replies lost, or the process died between DeleteUser and the erasure), under the key's
 * lock taken without waiting (`skipped` when another request or replica holds it, or the row changed
 * meanwhile). LCIC is asked as a background call. Throws the domain error when LCIC cannot be asked;
 * the intent then stays for a later sweep.
 */
export async function finishRequestedDeletion(ctx: UsersContext, row: ClassroomUserRow): Promise<DeletionFinished> {
  const key = { sdkAppId: row.sdkAppId, originId: row.originId };
  const finished = await ctx.lock.withLock(key, { timeoutMs: 0, wait: false }, async (): Promise<DeletionFinished> => {
    const current = await ctx.repository.findByOriginId(key.sdkAppId, key.originId);
    if (!current || current.id !== row.id || current.deletionRequestedAt === null) return { outcome: "skipped" };
    return finishDeletionUnderLock(ctx, current, { priority: "background" });
  });
  return finished ?? { outcome: "skipped" };
}

/** Backoff of a row whose reconciliation keeps failing: doubling from `baseMs`, at most `maxMs`, with jitter. */
export interface ReconcileBackoff {
  baseMs: number;
  maxMs: number;
}

/** Pushes back a row whose reconciliation failed, so the rows after it get their turn. */
export async function deferReconciliation(
  ctx: UsersContext,
  row: ClassroomUserRow,
  backoff: ReconcileBackoff,
  now: Date,
  random: () => number = Math.random,
): Promise<Date> {
  const exponential = Math.min(backoff.maxMs, backoff.baseMs * 2 ** Math.min(row.reconcileFailures, 30));
  // Between half and all of it, so replicas do not retry a row in step.
  const delayMs = Math.round(exponential * (0.5 + random() * 0.5));
  const notBefore = new Date(now.getTime() + delayMs);
  await ctx.repository.deferReconciliation(row.id, notBefore);
  return notBefore;
}
