/**
 * Who may do what with classroom users. Pure functions of the principal and the target, so the
 * schema layer can call them from scope-auth rules and tests can cover every case cheaply.
 *
 * Rules:
 * - Register: a caller holding the register scope may register any originId. Otherwise a caller
 *   may register only themself: their subject must equal the originId. Without an originId there
 *   is nobody to compare with (the id would be generated), so self-service callers are refused.
 * - Read: a caller holding the read scope may read any user. Otherwise a caller may read only
 *   themself: every origin id that identifies the target (the one asked for, and the one stored
 *   on the user found by userId) must equal their subject, and at least one must be known. A
 *   lookup by userId alone cannot be checked until the user is loaded, so the schema layer passes
 *   its stored originId; a user that does not exist is refused the same way as someone else's, so
 *   the answer does not reveal which userIds exist.
 * - The scopes are independent: registering someone does not grant reading them later.
 * - In AUTH_MODE=none the anonymous principal holds both scopes, so everything is allowed.
 * Comparisons are exact (case-sensitive): identity providers treat subjects as opaque strings.
 */
import type { AuthConfig } from "./config.js";
import type { Principal } from "./jwt.js";

type ScopeConfig = Pick<AuthConfig, "scopes">;

export interface ReadTarget {
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

export function canRegister(principal: Principal, originId: string | undefined, config: ScopeConfig): boolean {
  if (principal.scopes.has(config.scopes.register)) return true;
  return isSelf(principal, originId);
}

export function canRead(principal: Principal, target: ReadTarget, config: ScopeConfig): boolean {
  if (principal.scopes.has(config.scopes.read)) return true;
  const { originId, userId, storedOriginId } = target;
  // A userId says nothing about whose user it is until the stored originId is known.
  if (userId !== undefined && storedOriginId === undefined) return false;
  const identifying = [originId, storedOriginId].filter((id): id is string => id !== undefined);
  return identifying.length > 0 && identifying.every((id) => isSelf(principal, id));
}

/**
 * May change the user or take a token for them (`updateClassroomUser`, `issueClassroomUserToken`):
 * the register scope, or the caller's own user, decided exactly as for reads (a userId counts only
 * once its stored originId is known).
 */
export function canManage(principal: Principal, target: ReadTarget, config: ScopeConfig): boolean {
  if (principal.scopes.has(config.scopes.register)) return true;
  const { originId, userId, storedOriginId } = target;
  if (userId !== undefined && storedOriginId === undefined) return false;
  const identifying = [originId, storedOriginId].filter((id): id is string => id !== undefined);
  return identifying.length > 0 && identifying.every((id) => isSelf(principal, id));
}

/** May delete any user: the delete scope only (no self-service: leaving a school is the school's call). */
export function canDelete(principal: Principal, config: ScopeConfig): boolean {
  return principal.scopes.has(config.scopes.delete);
}
