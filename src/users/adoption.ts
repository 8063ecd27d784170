import type { CallOptions } from "../lcic/client.js";
import type { UsersContext } from "./context.js";
import { ClassroomUserNotFoundError } from "./errors.js";
import { callLcic } from "./lcic-errors.js";
import type { RegisterResult } from "./registration.js";
import type { RegistrationKey } from "./registration-lock.js";
import type { ClassroomUserRow } from "./repository.js";
import { sealToken } from "./tokens.js";

/**
 * Whose RegisterUser created the LCIC user found for a pending row: one of this row's own attempts
 * (so the row's proposed profile is what LCIC holds), or someone outside this service (so LCIC's
 * profile is the truth).
 */
export type LcicUserProvenance = "our-attempt" | "registered-elsewhere";

/**
 * Adopts the LCIC user of a pending row's key into that row, if LCIC has one. Call it holding the
 * key's lock (withKeyLock). LoginOriginId is scoped to the application and yields a token too; for a
 * user registered elsewhere DescribeUser supplies the profile. Returns undefined when LCIC does not
 * know the key; throws the domain error when LCIC cannot be asked.
 */
export async function adoptLcicUser(
  ctx: UsersContext,
  row: ClassroomUserRow,
  provenance: LcicUserProvenance,
  options: CallOptions = {},
): Promise<RegisterResult | undefined> {
  const key = { sdkAppId: row.sdkAppId, originId: row.originId };
  let login;
  try {
    login = await callLcic(ctx.logger, () => ctx.lcic.loginOriginId(key, options), key);
  } catch (error) {
    if (error instanceof ClassroomUserNotFoundError) return undefined;
    throw error;
  }
  let name = row.name;
  let avatar = row.avatar;
  if (provenance === "registered-elsewhere") {
    const described = await callLcic(ctx.logger, () => ctx.lcic.describeUser({ userId: login.userId }, options), key);
    // LCIC answers "" for a profile field never set; we store and show that as absent (null).
    name = described.name || null;
    avatar = described.avatar || null;
  }
  const stored = await ctx.repository.markRegistered(row.id, { userId: login.userId, name, avatar, ...sealToken(ctx.cipher, login, ctx.now()) });
  ctx.logger.info(
    { sdkAppId: row.sdkAppId, userId: login.userId, provenance },
    provenance === "our-attempt" ? "completed an earlier registration" : "adopted a user registered outside this service",
  );
  return { user: stored, token: login.token, tokenExpiresAt: stored.tokenExpiresAt!, requestId: login.requestId, created: provenance === "our-attempt" };
}

/**
 * The LCIC userId holding `key`, asked with LoginOriginId (which also issues a token, discarded here);
 * undefined when LCIC does not know the key or cannot be asked. For error details only.
 */
export async function lcicUserIdByOriginIdOrUndefined(ctx: UsersContext, key: RegistrationKey): Promise<string | undefined> {
  try {
    return (await ctx.lcic.loginOriginId(key)).userId;
  } catch {
    return undefined;
  }
}

/**
 * The LCIC userId holding `key` (LoginOriginId, scoped to the application), or undefined when LCIC
 * does not know it. Throws the domain error when LCIC cannot be asked.
 */
export async function lcicUserIdByOriginId(ctx: UsersContext, key: RegistrationKey, options: CallOptions = {}): Promise<string | undefined> {
  try {
    return (await callLcic(ctx.logger, () => ctx.lcic.loginOriginId(key, options), key)).userId;
  } catch (error) {
    if (error instanceof ClassroomUserNotFoundError) return undefined;
    throw error;
  }
}
