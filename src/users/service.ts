import { usersContext, type UsersContext, type UsersDeps } from "./context.js";
import { Lookup, type ClassroomUserReference, type LookupCaller, type LookupOptions } from "./lookup.js";
import { deferReconciliation, finishRequestedDeletion, reconcilePendingRegistration, type ReconcileBackoff, type ReconcileOutcome } from "./reconciliation.js";
import { Registration, type RegisterOptions, type RegisterResult } from "./registration.js";
import type { ClassroomUserRow } from "./repository.js";
import { deleteClassroomUser, rowAfterUnfinishedDelete, type DeleteResult, type DeletionFinished } from "./deletion.js";
import { listClassroomUsers, type ClassroomUserPage } from "./listing.js";
import { updateClassroomUser, type UpdateResult } from "./profile.js";
import type { UserSteps } from "./steps.js";
import { syncUsers, type SyncOptions, type SyncReport } from "./sync.js";
import { issueClassroomUserToken, type IssuedToken } from "./token-issue.js";

export type { ClassroomUserReference, LookupCaller } from "./lookup.js";
export type { OnExisting, RegisterOptions, RegisterResult } from "./registration.js";
export { GENERATED_ORIGIN_ID_PREFIX } from "./registration.js";

export interface UsersServiceDeps extends UsersDeps {
  /** Lookup fallbacks to LCIC (default: misses remembered 60 s, no per-client limit). */
  lookup?: Partial<LookupOptions>;
}

/**
 * The users use cases behind one object, as the GraphQL context and the jobs receive them. Each use
 * case lives in its own module (registration.ts, lookup.ts, reconciliation.ts); this only wires them
 * to one set of dependencies.
 */
export class UsersService {
  readonly context: UsersContext;
  readonly registration: Registration;
  readonly lookup: Lookup;

  constructor(deps: UsersServiceDeps) {
    this.context = usersContext(deps);
    this.registration = new Registration(this.context);
    this.lookup = new Lookup(this.context, { missTtlMs: deps.lookup?.missTtlMs ?? 60_000, batch: deps.lookup?.batch ?? false, ...(deps.lookup?.fallbackBudget ? { fallbackBudget: deps.lookup.fallbackBudget } : {}) });
  }

  async register(rawInput: unknown, options: RegisterOptions = {}): Promise<RegisterResult> {
    const result = await this.registration.register(rawInput, options);
    // Handing out a token is a login: token warming keeps such users' tokens fresh (TOKEN_KEEP_WARM_DAYS).
    await this.context.repository.recordLogin(result.user.id, this.context.now(), result.user);
    return result;
  }

  find(rawLookup: unknown, caller: LookupCaller): Promise<ClassroomUserRow> {
    return this.lookup.find(rawLookup, caller);
  }

  findByReferences(references: readonly ClassroomUserReference[], caller: LookupCaller): Promise<Array<ClassroomUserRow | null | Error>> {
    return this.lookup.findByReferences(references, caller);
  }

  storedKeyOf(userId: string): Promise<{ sdkAppId: number; originId: string } | undefined> {
    return this.lookup.storedKeyOf(userId);
  }

  reconcilePending(row: ClassroomUserRow): Promise<ReconcileOutcome> {
    return reconcilePendingRegistration(this.context, row);
  }

  /** For a caller holding the key's lock (a batch): finishes the key's delete whose outcome was lost, if it has one. */
  async finishDeletionOfKey(sdkAppId: number, originId: string): Promise<void> {
    await rowAfterUnfinishedDelete(this.context, await this.context.repository.findByOriginId(sdkAppId, originId));
  }

  /** Finishes a delete whose outcome was lost (see reconciliation.ts finishRequestedDeletion). */
  finishDeletion(row: ClassroomUserRow): Promise<DeletionFinished> {
    return finishRequestedDeletion(this.context, row);
  }

  /** Rows whose delete was requested `staleAfterMs` ago or more and never finished nor refused, not deferred. */
  listDeletionsDue(staleAfterMs: number, limit: number, now: Date = this.context.now()): Promise<ClassroomUserRow[]> {
    return this.context.repository.listDeletionsDue(new Date(now.getTime() - staleAfterMs), now, limit);
  }

  /** Pending rows unchanged for `staleAfterMs` and not deferred: what one reconciler sweep looks at. */
  listPendingDue(staleAfterMs: number, limit: number, now: Date = this.context.now()): Promise<ClassroomUserRow[]> {
    return this.context.repository.listPendingDue(new Date(now.getTime() - staleAfterMs), now, limit);
  }

  deferReconciliation(row: ClassroomUserRow, backoff: ReconcileBackoff, now: Date = this.context.now()): Promise<Date> {
    return deferReconciliation(this.context, row, backoff, now);
  }

  // --- The user's life after registration: one module per use case (profile, deletion, token-issue, listing, sync) ---

  private steps(caller: LookupCaller): UserSteps {
    return { ctx: this.context, find: (lookup) => this.lookup.find(lookup, caller) };
  }

  /** `updateClassroomUser`: see users/profile.ts. */
  update(rawInput: unknown, caller: LookupCaller): Promise<UpdateResult> {
    return updateClassroomUser(this.steps(caller), rawInput);
  }

  /** `deleteClassroomUser`: see users/deletion.ts. */
  delete(rawInput: unknown, caller: LookupCaller): Promise<DeleteResult> {
    return deleteClassroomUser(this.steps(caller), rawInput);
  }

  /** `issueClassroomUserToken`: see users/token-issue.ts. */
  async issueToken(rawInput: unknown, caller: LookupCaller): Promise<IssuedToken> {
    const result = await issueClassroomUserToken(this.steps(caller), rawInput);
    // A token handed out is a login, as for register: token warming keeps such users' tokens fresh.
    await this.context.repository.recordLogin(result.user.id, this.context.now(), result.user);
    return result;
  }

  /** `classroomUsers`: see users/listing.ts (PostgreSQL only). */
  list(rawArgs: unknown): Promise<ClassroomUserPage> {
    return listClassroomUsers(this.context, rawArgs);
  }

  /** `npm run users:sync`: see users/sync.ts. */
  sync(options: SyncOptions): Promise<SyncReport> {
    return syncUsers(this.context, options);
  }
}
