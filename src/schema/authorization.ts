import { canRead, type ReadTarget } from "../auth/rules.js";
import type { ClassroomUserReference } from "../users/lookup.js";
import { forbidden, type GraphQLContext } from "./builder.js";

/**
 * What the read rule compares with a caller who lacks the read scope. Whose user a userId names is
 * known only from the stored row (read-only: no LCIC call, no write); an unknown userId is refused
 * like someone else's, so existence is not revealed.
 */
export async function readTargetOf(ctx: GraphQLContext, lookup: { userId: string | undefined; originId: string | undefined; sdkAppId: number | undefined }): Promise<ReadTarget> {
  const { userId, originId, sdkAppId } = lookup;
  if (userId === undefined) return { originId, sdkAppId };
  const stored = await ctx.users.storedKeyOf(userId);
  return { userId, originId, sdkAppId, storedOriginId: stored?.originId, storedSdkAppId: stored?.sdkAppId };
}

/**
 * `_entities` is a way to read users too, so it follows `classroomUser`'s rule: the read scope, or
 * the caller's own user. Checked per reference before anything is loaded from LCIC.
 */
export async function assertMayResolve(ref: ClassroomUserReference, ctx: GraphQLContext): Promise<void> {
  if (ctx.principal.scopes.has(ctx.auth.scopes.read)) return;
  const target = await readTargetOf(
    ctx,
    "userId" in ref ? { userId: ref.userId, originId: undefined, sdkAppId: undefined } : { userId: undefined, originId: ref.originId, sdkAppId: ref.sdkAppId },
  );
  if (!canRead(ctx.principal, target, ctx.auth)) throw forbidden();
}
