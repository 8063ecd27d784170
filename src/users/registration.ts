import { randomUUID } from "node:crypto";
import type { LcicToken } from "../lcic/client.js";
import { LcicError } from "../lcic/errors.js";
import { adoptLcicUser, lcicUserIdByOriginIdOrUndefined } from "./adoption.js";
import { rowAfterUnfinishedDelete } from "./deletion.js";
import { resolveSdkAppId, type UsersContext } from "./context.js";
import { ClassroomUserNotFoundError, OriginIdExistsError } from "./errors.js";
import { callLcic, toDomainError } from "./lcic-errors.js";
import { withKeyLock, type RegistrationKey } from "./registration-lock.js";
import type { ClassroomUserRow } from "./repository.js";
import { isTokenFresh, readStoredToken, sealToken } from "./tokens.js";
import { parseRegisterInput } from "./validation.js";

export type OnExisting = "RETURN_EXISTING" | "FAIL";

export interface RegisterResult {
  user: ClassroomUserRow;
  /** LCIC login token; a credential for the caller only. */
  token: string;
  tokenExpiresAt: Date;
  requestId: string | undefined;
  created: boolean;
}

export interface RegisterOptions {
  /**
   * A check run alongside the first read (the per-client registration budget): nothing is written
   * and LCIC is not called unless it resolves; its rejection is the registration's answer, before
   * any other failure.
   */
  admitted?: Promise<unknown>;
}

/** The profile a registration proposes (absent fields are null). */
export interface ProposedProfile {
  name: string | null;
  avatar: string | null;
}

/**
 * RegisterUser calls one request makes at most when replies are lost (each after reconciling the one
 * before). The resilient client never resends RegisterUser itself: only here, where the attempt is
 * recorded and the outcome reconciled, is that safe.
 */
const REGISTER_ROUNDS = 2;

/** Why a first attempt was not made: the key's row is registered or has attempts (registerPending). */
class NotAFirstAttempt extends Error {
  override readonly name = "NotAFirstAttempt";
}

/** Prefix of originIds we generate for registrations that give none (see README: "Exactly once"). */
export const GENERATED_ORIGIN_ID_PREFIX = "cu-";

/**
 * `registerClassroomUser`: registers a user in LCIC exactly once per (sdkAppId, originId), or returns
 * the user already registered for it.
 *
 * Every registration sends LCIC an originId (the caller's, or one we generate and record first), so
 * LCIC's own uniqueness of OriginId within an application means a repeated RegisterUser can never
 * create a second user; it answers OriginIdExists, and we adopt that user. Calls for one key are
 * serialised across replicas by the registration lock, and a `pending` row with an attempt counter,
 * committed before each RegisterUser, tells a later request or the reconciler that LCIC may have acted.
 */
export class Registration {
  constructor(private readonly ctx: UsersContext) {}

  async register(rawInput: unknown, options: RegisterOptions = {}): Promise<RegisterResult> {
    const { repository } = this.ctx;
    const admitted = options.admitted ?? Promise.resolve();
    let parsed;
    try {
      const input = parseRegisterInput(rawInput);
      parsed = { input, sdkAppId: resolveSdkAppId(this.ctx, input.sdkAppId) };
    } catch (error) {
      await admitted; // a refusal by the caller's gate is the answer, as if it had been checked first
      throw error;
    }
    const { input, sdkAppId } = parsed;
    const onExisting: OnExisting = input.onExisting ?? "RETURN_EXISTING";
    const originIdGenerated = input.originId == null;
    const originId = input.originId ?? `${GENERATED_ORIGIN_ID_PREFIX}${randomUUID()}`;
    const profile: ProposedProfile = { name: input.name ?? null, avatar: input.avatar ?? null };
    const key = { sdkAppId, originId };

    // Fast path without any lock: the user is already registered. The read writes nothing, so it
    // runs alongside the caller's gate; nothing below it happens unless the gate admitted the call.
    const [, stored] = await Promise.all([admitted, repository.findByOriginId(sdkAppId, originId)]);
    // (A row whose delete was requested is handled under the lock: the delete is finished first.)
    if (stored?.status === "registered" && stored.deletionRequestedAt === null) return this.returnStored(stored, onExisting, profile);

    const intent = { ...key, ...profile, originIdGenerated };
    // The caller is answered once the user is stored; the key's lock is released right after, without
    // the caller waiting for that round trip (every write of ours is committed by then).
    return withKeyLock(
      this.ctx.lock,
      key,
      this.ctx.lockTimeoutMs,
      async () => {
        // The usual case, in one statement: the key has no row, or a pending one never sent to LCIC.
        // The pending row and its first attempt are committed together before RegisterUser is sent
        // (the client reserves the call's pacer slot meanwhile: see registerPending).
        const recorded = repository.recordFirstAttempt(intent);
        const first = await this.registerPending({ key, recorded }, profile, onExisting).catch((error: unknown) => {
          if (error instanceof NotAFirstAttempt) return undefined;
          throw error;
        });
        if (first) return first;
        // Otherwise the key's row is registered, or pending with attempts that may have reached LCIC,
        // or carries the intent of a delete whose outcome was lost.
        const read = await repository.findByOriginId(sdkAppId, originId);
        let row = await rowAfterUnfinishedDelete(this.ctx, read);
        const erased = read !== undefined && row === undefined;
        if (!row) {
          // Cleared meanwhile: by a concurrent FAIL-mode request that found the originId taken in LCIC
          // (FAIL says so too; RETURN_EXISTING goes on to adopt that user), or by the reconciler; or
          // erased just now by the unfinished delete. Holding the key's lock, it is safe to record the intent again.
          if (onExisting === "FAIL" && !erased) {
            const existing = await lcicUserIdByOriginIdOrUndefined(this.ctx, key);
            if (existing) throw new OriginIdExistsError(originId, existing);
          }
          row = await repository.findOrInsertPending(intent);
        }
        if (row.status === "registered") return this.returnStoredUnderLock(row, onExisting, profile);
        return this.registerPending(row, profile, onExisting);
      },
      { returnBeforeRelease: true },
    );
  }

  /** A stored user read without the key's lock: FAIL refuses, RETURN_EXISTING hands out a token valid for at least another hour. */
  private async returnStored(row: ClassroomUserRow, onExisting: OnExisting, profile: ProposedProfile): Promise<RegisterResult> {
    if (onExisting === "FAIL") throw new OriginIdExistsError(row.originId, row.userId ?? undefined);
    const fresh = this.storedTokenIfFresh(row);
    if (fresh) return fresh;
    return withKeyLock(this.ctx.lock, { sdkAppId: row.sdkAppId, originId: row.originId }, this.ctx.lockTimeoutMs, async () => {
      // Re-read under the lock: a concurrent request may have refreshed it already (or deleted it).
      const current = await rowAfterUnfinishedDelete(this.ctx, await this.ctx.repository.findByOriginId(row.sdkAppId, row.originId));
      if (current?.status !== "registered") {
        // Deleted since the unlocked read (deleteClassroomUser): the originId is free, so this is a
        // new registration, made from a pending row under this lock like any other.
        const pending =
          current ?? (await this.ctx.repository.findOrInsertPending({ sdkAppId: row.sdkAppId, originId: row.originId, ...profile, originIdGenerated: row.originIdGenerated }));
        return this.registerPending(pending, profile, onExisting);
      }
      return this.storedTokenIfFresh(current) ?? this.refreshToken(current, onExisting, profile);
    });
  }

  /** As returnStored, for a row read under the key's lock (so it is current). */
  private async returnStoredUnderLock(row: ClassroomUserRow, onExisting: OnExisting, profile: ProposedProfile): Promise<RegisterResult> {
    if (onExisting === "FAIL") throw new OriginIdExistsError(row.originId, row.userId ?? undefined);
    return this.storedTokenIfFresh(row) ?? this.refreshToken(row, onExisting, profile);
  }

  /** The stored user with its stored token, if that is readable and valid for at least another hour. */
  private storedTokenIfFresh(row: ClassroomUserRow): RegisterResult | undefined {
    const token = readStoredToken(this.ctx.cipher, row, this.ctx.logger);
    if (!token || !isTokenFresh(row.tokenExpiresAt, this.ctx.now())) return undefined;
    return { user: row, token, tokenExpiresAt: row.tokenExpiresAt!, requestId: row.lcicRequestId ?? undefined, created: false };
  }

  /** Under the key's lock, with the current registered row: a new LCIC token for it. */
  private async refreshToken(current: ClassroomUserRow, onExisting: OnExisting, profile: ProposedProfile): Promise<RegisterResult> {
    const { ctx } = this;
    let login: LcicToken;
    try {
      login = await callLcic(ctx.logger, () => ctx.lcic.loginUser(current.userId!), { userId: current.userId!, sdkAppId: current.sdkAppId });
    } catch (error) {
      if (!(error instanceof ClassroomUserNotFoundError)) throw error;
      // Deleted in LCIC since we stored it: the originId is free there again, so register it anew
      // (under this key's lock, from a pending row, like any new registration).
      ctx.logger.warn({ sdkAppId: current.sdkAppId, userId: current.userId }, "stored user no longer exists in LCIC; registering the originId again");
      const pending = await ctx.repository.resetToPending(current.id);
      return this.registerPending(pending, { name: profile.name ?? current.name, avatar: profile.avatar ?? current.avatar }, onExisting);
    }
    const updated = await ctx.repository.updateToken(current.id, sealToken(ctx.cipher, login, ctx.now()));
    return { user: updated, token: login.token, tokenExpiresAt: updated.tokenExpiresAt!, requestId: login.requestId, created: false };
  }

  /**
   * Under the key's lock, with our pending row: finish or make the LCIC registration.
   *
   * The row is deleted only when no RegisterUser for it can still land: LCIC refused the first one
   * sent for it, or our own side refused before sending it. Once one may have been sent (this
   * request's earlier round, or an earlier request: `attempts` counts them), a failure leaves the
   * row pending, for the next request of the key or the reconciler to complete or clear once LCIC
   * is known not to have the user.
   *
   * `{ key, recorded }` instead of a row: the first attempt of a key, being recorded by
   * recordFirstAttempt. RegisterUser leaves only once that write is committed (the client's `ready`),
   * while the client reserves the call's pacer slot alongside it. When recordFirstAttempt writes
   * nothing (the key's row is registered, or has attempts), nothing is sent and this rejects with
   * NotAFirstAttempt; the pacer slot reserved meanwhile is left unused.
   */
  private async registerPending(
    from: ClassroomUserRow | { key: RegistrationKey; recorded: Promise<ClassroomUserRow | undefined> },
    profile: ProposedProfile,
    onExisting: OnExisting,
  ): Promise<RegisterResult> {
    const { ctx } = this;
    const { repository, lcic } = ctx;
    const first = "recorded" in from ? from : undefined;
    let row = first ? undefined : (from as ClassroomUserRow);
    const key: RegistrationKey = first ? first.key : { sdkAppId: row!.sdkAppId, originId: row!.originId };

    // An earlier attempt may have reached LCIC (lost reply, crash): look before registering again.
    if (row && row.attempts > 0) {
      const adopted = await adoptLcicUser(ctx, row, "our-attempt");
      if (adopted) return adopted;
    }

    const input = {
      sdkAppId: key.sdkAppId,
      originId: key.originId,
      ...(profile.name != null ? { name: profile.name } : {}),
      ...(profile.avatar != null ? { avatar: profile.avatar } : {}),
    };
    let registered: LcicToken | undefined;
    for (let round = 1; !registered; round++) {
      // The row as this round's attempt left it (attempts counted, committed before the call).
      let attempt: ClassroomUserRow | undefined;
      try {
        if (round === 1 && first) {
          const ready = first.recorded.then((recorded) => {
            if (!recorded) throw new NotAFirstAttempt("the key's row is registered or has attempts");
          });
          registered = await lcic.registerUser(input, { ready });
          attempt = (await first.recorded)!;
        } else {
          attempt = await repository.recordAttempt(row!.id, profile.name, profile.avatar);
          registered = await lcic.registerUser(input);
        }
        row = attempt;
      } catch (error) {
        // The client settles only after `ready` did: a first attempt not recorded was not sent.
        if (round === 1 && first) attempt = await first.recorded.catch(() => undefined);
        if (!attempt) throw error; // no attempt recorded, nothing sent
        row = attempt;
        /** Whether a RegisterUser sent before this one (any round, any request) may still land in LCIC. */
        const earlierMayLand = attempt.attempts > 1;
        if (!(error instanceof LcicError)) {
          // Unexpected (a bug, say): this call may have been sent, so the row stays for the reconciler.
          await repository.recordFailure(row.id, "Unexpected");
          throw error;
        }
        if (error.code === "FailedOperation.OriginIdExists") {
          // Attempts before this one may have created it: then it is ours, not someone else's.
          if (!earlierMayLand && onExisting === "FAIL") {
            const existing = await lcicUserIdByOriginIdOrUndefined(ctx, key);
            await repository.deletePending(row.id);
            throw new OriginIdExistsError(key.originId, existing, error.requestId);
          }
          const adopted = await adoptLcicUser(ctx, attempt, earlierMayLand ? "our-attempt" : "registered-elsewhere");
          if (adopted) return adopted;
        }
        if (error.outcomeUnknown) {
          // LCIC may have created the user although we got no answer: find out now if we can.
          ctx.logger.warn({ action: "RegisterUser", code: error.code, sdkAppId: key.sdkAppId, round }, "RegisterUser outcome unknown; reconciling");
          const adopted = await adoptLcicUser(ctx, attempt, "our-attempt").catch(() => undefined);
          if (adopted) return adopted;
          if (round < REGISTER_ROUNDS) {
            // Sending RegisterUser again is safe: it carries the same originId, so if the first call
            // still lands, one of the two is refused by LCIC as OriginIdExists and adopted above.
            await ctx.sleep(50 + Math.random() * 150); // a little jitter, so replicas do not resend in step
            continue;
          }
          await repository.recordFailure(row.id, error.code);
          // The pending row stays: the next request for this key or the reconciler completes it.
          throw toDomainError(error, ctx.logger, key.sdkAppId);
        }
        if (earlierMayLand) {
          // This call was refused (by LCIC, or by our breaker or queue before sending), but an earlier
          // one may still land. If LCIC already has the user it is ours; otherwise the row stays.
          const adopted = await adoptLcicUser(ctx, attempt, "our-attempt").catch(() => undefined);
          if (adopted) return adopted;
          await repository.recordFailure(row.id, error.code);
          throw toDomainError(error, ctx.logger, key.sdkAppId);
        }
        // The only RegisterUser for this row was refused (by LCIC, or by our side before sending):
        // nothing was created, so nothing of ours stays either.
        await repository.deletePending(row.id);
        throw toDomainError(error, ctx.logger, key.sdkAppId);
      }
    }

    const now = ctx.now();
    const stored = await repository.markRegisteredWithToken(row!.id, {
      userId: registered.userId,
      name: profile.name,
      avatar: profile.avatar,
      ...sealToken(ctx.cipher, registered, now),
      // The caller gets this user's token: a login (see UsersService.register), recorded in the same write.
      lastLoginAt: now,
    });
    return { user: stored, token: registered.token, tokenExpiresAt: stored.tokenExpiresAt!, requestId: registered.requestId, created: true };
  }
}
