/**
 * Who may do what with classroom users. Pure functions of the principal and the target, so the
 * schema layer can call them from scope-auth rules and tests can cover every case cheaply.
 *
 * Rules:
 * - Register: a caller holding the register scope may register any originId. Otherwise a caller
 *   may register only themself: their subject must equal the originId, in their own application. Without an originId there
 *   is nobody to compare with (the id would be generated), so self-service callers are refused.
 * - Read: a caller holding the read scope may read any user. Otherwise a caller may read only
 *   themself: every origin id that identifies the target (the one asked for, and the one stored
 *   on the user found by userId) must equal their subject, and at least one must be known. A
 *   lookup by userId alone cannot be checked until the user is loaded, so the schema layer passes
 *   its stored originId; a user that does not exist is refused the same way as someone else's, so
 *   the answer does not reveal which userIds exist.
 * - Self-service is bound to one LCIC application: the one the token's AUTH_SDK_APP_ID_CLAIM claim
 *   names, or, for a token without it, LCIC_SDK_APP_ID. Subject `42` is student 42 of one school;
 *   originId `42` in another application is someone else (and RETURN_EXISTING would hand out their
 *   token). A target without an sdkAppId means the service's default application.
 * - Update and token (canManage): the register scope, or self-service as for reads. Delete: the
 *   delete scope only. Listing everyone: the read scope only.
 * - The scopes are independent: registering someone does not grant reading them later.
 * - In AUTH_MODE=none the anonymous principal holds both scopes, so everything is allowed.
 * Comparisons are exact (case-sensitive): identity providers treat subjects as opaque strings.
 */
import type { AuthConfig } from "./config.js";
import type { Principal } from "./jwt.js";

export interface RuleConfig extends Pick<AuthConfig, "scopes"> {
  /** LCIC_SDK_APP_ID: the application of a target that names none, and of a token without the claim. */
  defaultSdkAppId?: number | undefined;
}

export interface RegisterTarget {
  originId: string | undefined;
  /** The application asked for; undefined = the default one. */
  sdkAppId?: number | undefined;
}

export interface ReadTarget {
  /** The application asked for (originId lookups, federation references); undefined = the default one. */
  sdkAppId?: number | undefined;
  /** The application stored on the user found by userId, once loaded. */
  storedSdkAppId?: number | undefined;
  /** originId the caller asked for, if the lookup is by originId. */
  originId?: string;
  /** userId the caller asked for, if the lookup is by userId. */
  userId?: string;
  /** originId stored on the user found (by userId or originId), once loaded. */
  storedOriginId?: string;
}

/** An empty subject identifies nobody, so it can never match (even an empty originId). */
function isSelf(principal: Principal, originId: string | undefined): boolean {
  return principal.subject !== undefined && principal.subject !== "" && principal.subject === originId;
}

/** Whether the application asked for is the caller's own (both sides fall back to the default). */
function isOwnApplication(principal: Principal, sdkAppId: number | undefined, config: RuleConfig): boolean {
  return (principal.sdkAppId ?? config.defaultSdkAppId) === (sdkAppId ?? config.defaultSdkAppId);
}

export function canRegister(principal: Principal, target: RegisterTarget, config: RuleConfig): boolean {
  if (principal.scopes.has(config.scopes.register)) return true;
  return isSelf(principal, target.originId) && isOwnApplication(principal, target.sdkAppId, config);
}

export function canRead(principal: Principal, target: ReadTarget, config: RuleConfig): boolean {
  if (principal.scopes.has(config.scopes.read)) return true;
  return isSelfTarget(principal, target, config);
}

/** Whether the target is the caller's own user, in the caller's own application (the self-service rule). */
function isSelfTarget(principal: Principal, target: ReadTarget, config: RuleConfig): boolean {
  const { originId, userId, storedOriginId, sdkAppId, storedSdkAppId } = target;
  // A userId says nothing about whose user it is until the stored originId (and application) is known.
  if (userId !== undefined && (storedOriginId === undefined || storedSdkAppId === undefined)) return false;
  const identifying = [originId, storedOriginId].filter((id): id is string => id !== undefined);
  if (identifying.length === 0 || !identifying.every((id) => isSelf(principal, id))) return false;
  // By userId the stored application decides (an sdkAppId argument, if any, must agree with it).
  const applications = userId !== undefined ? [storedSdkAppId, ...(sdkAppId !== undefined ? [sdkAppId] : [])] : [sdkAppId];
  return applications.every((app) => isOwnApplication(principal, app, config));
}

/**
 * May change the user or take a token for them (`updateClassroomUser`, `issueClassroomUserToken`):
 * the register scope, or the caller's own user, decided exactly as for reads.
 */
export function canManage(principal: Principal, target: ReadTarget, config: RuleConfig): boolean {
  if (principal.scopes.has(config.scopes.register)) return true;
  return isSelfTarget(principal, target, config);
}

/** May delete any user: the delete scope only (no self-service: leaving a school is the school's call). */
export function canDelete(principal: Principal, config: RuleConfig): boolean {
  return principal.scopes.has(config.scopes.delete);
}
