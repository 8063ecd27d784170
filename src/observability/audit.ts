/**
 * Audit events: one log line per LCIC login token handed out or refreshed, and per delete, saying who
 * asked, for which user, and where the token came from. Written through the app's logger (so they
 * carry the request id and trace id) under `audit: true`, at info level, never with the token itself.
 *
 * Callers: app.ts, at the users service's edge (registerClassroomUser's and issueClassroomUserToken's
 * tokens, deleteClassroomUser), and jobs/token-warming.ts (tokens refreshed in the background).
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { Logger } from "../logger.js";
import { currentRequestContext } from "./request-context.js";

export type AuditEvent =
  | {
      event: "token.issued";
      /** What handed it out: registerClassroomUser, issueClassroomUserToken, ... */
      operation: string;
      sdkAppId: number;
      userId: string;
      originId: string;
      /** stored: a still-fresh token from PostgreSQL; lcic: a new one (RegisterUser, LoginUser, LoginOriginId). */
      source: "stored" | "lcic";
      /** The LCIC action that issued it, when source is lcic. */
      lcicAction?: string;
    }
  | { event: "user.deleted"; operation: string; sdkAppId: number; userId: string; originId?: string; lcicRequestId?: string };

/**
 * Who asked: the JWT subject, else the caller's address (`sub:...` / `ip:...`, as the per-client
 * limits key them). Set per request by the server; `system` outside a request (the reconciler).
 */
export function auditActor(): string {
  return currentRequestContext()?.actor ?? "system";
}

export function audit(logger: Logger, event: AuditEvent): void {
  logger.info({ audit: true, actor: auditActor(), ...event }, `audit: ${event.event}`);
}

const tokenCalls = new AsyncLocalStorage<string[]>();

/** Runs `fn` noting which LCIC actions returned a login token meanwhile (see `noteLcicToken`). */
export async function withTokenSources<T>(fn: () => Promise<T>): Promise<{ result: T; lcicActions: string[] }> {
  const actions: string[] = [];
  const result = await tokenCalls.run(actions, fn);
  return { result, lcicActions: actions };
}

/** Called for each successful LCIC call that returns a token (RegisterUser, LoginUser, LoginOriginId). */
export function noteLcicToken(action: string): void {
  tokenCalls.getStore()?.push(action);
}
