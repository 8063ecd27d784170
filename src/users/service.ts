import { randomUUID } from "node:crypto";
import type { LcicClient, LcicToken } from "../lcic/client.js";
import { LcicError } from "../lcic/errors.js";
import type { Logger } from "../logger.js";
import {
  ClassroomUserNotFoundError,
  InvalidSdkAppIdError,
  LcicRateLimitedError,
  LcicUnavailableError,
  OriginIdExistsError,
} from "./errors.js";
import { LockTimeoutError, type ClassroomUserRow, type UsersRepository } from "./repository.js";
import { isTokenFresh, tokenExpiry, type TokenCipher } from "./tokens.js";
import { LIMITS, parseLookup, parseRegisterInput, type LookupInput } from "./validation.js";

export type OnExisting = "RETURN_EXISTING" | "FAIL";

/** How another subgraph refers to a classroom user: by LCIC userId, or by its own id within an application. */
export type ClassroomUserReference = { userId: string } | { sdkAppId: number; originId: string };

function isUserIdReference(ref: ClassroomUserReference): ref is { userId: string } {
  return "userId" in ref && typeof ref.userId === "string" && ref.userId !== "";
}

function isOriginReference(ref: ClassroomUserReference): ref is { sdkAppId: number; originId: string } {
  return "originId" in ref && typeof ref.originId === "string" && Number.isSafeInteger(ref.sdkAppId);
}

function originKey(key: { sdkAppId: number; originId: string }): string {
  return `${key.sdkAppId}\u0000${key.originId}`;
}

export interface RegisterResult {
  user: ClassroomUserRow;
  /** LCIC login token; a credential for the caller only. */
  token: string;
  tokenExpiresAt: Date;
  requestId: string | undefined;
  created: boolean;
}

export interface UsersServiceDeps {
  repository: UsersRepository;
  lcic: LcicClient;
  cipher: TokenCipher;
  logger: Logger;
  sdkAppId: number;
  sdkAppIds: readonly number[];
  /** Longest a request waits for another request registering the same key. */
  lockTimeoutMs?: number;
  now?: () => Date;
  /** Waits between RegisterUser rounds (injectable for tests); default a real timer. */
  sleep?: (ms: number) => Promise<void>;
}

/**
 * RegisterUser calls one request makes at most when replies are lost (each after reconciling the one
 * before). The resilient client never resends RegisterUser itself: only here, where the attempt is
 * recorded and the outcome reconciled, is that safe.
 */
const REGISTER_ROUNDS = 2;

/** Prefix of originIds we generate for registrations that give none (see README: "Exactly once"). */
export const GENERATED_ORIGIN_ID_PREFIX = "cu-";

/**
 * The rules of registering and finding classroom users. Knows nothing about GraphQL.
 *
 * Exactly-once: every registration sends LCIC an originId (the caller's, or one we generate and
 * record first), so LCIC's own uniqueness of OriginId within an application means a repeated
 * RegisterUser can never create a second user; it answers OriginIdExists, and we adopt that user.
 * Calls for one key are serialised across replicas by a PostgreSQL advisory lock, and a `pending`
 * row with an attempt counter, committed before LCIC is called, tells a later request or the
 * reconciler that LCIC may have acted.
 */
export class UsersService {
  private readonly now: () => Date;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly lockTimeoutMs: number;

  constructor(private readonly deps: UsersServiceDeps) {
    this.now = deps.now ?? (() => new Date());
    this.sleep = deps.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.lockTimeoutMs = deps.lockTimeoutMs ?? 30_000;
  }

  private resolveSdkAppId(sdkAppId: number | null | undefined): number {
    const id = sdkAppId ?? this.deps.sdkAppId;
    if (!this.deps.sdkAppIds.includes(id)) throw new InvalidSdkAppIdError(id);
    return id;
  }

  async register(rawInput: unknown): Promise<RegisterResult> {
    const input = parseRegisterInput(rawInput);
    const sdkAppId = this.resolveSdkAppId(input.sdkAppId);
    const onExisting: OnExisting = input.onExisting ?? "RETURN_EXISTING";
    const generated = input.originId == null;
    const originId = input.originId ?? `${GENERATED_ORIGIN_ID_PREFIX}${randomUUID()}`;
    const fields = { name: input.name ?? null, avatar: input.avatar ?? null };

    // Fast path without any lock: the user is already registered.
    const stored = await this.deps.repository.findByOriginId(sdkAppId, originId);
    if (stored?.status === "registered") return this.returnExisting(stored, onExisting, fields);

    const pending = { sdkAppId, originId, ...fields, originIdGenerated: generated };
    await this.deps.repository.ensurePending(pending);
    const result = await this.withLock({ sdkAppId, originId }, async () => {
      let row = await this.deps.repository.findByOriginId(sdkAppId, originId);
      if (!row) {
        // Cleared meanwhile: by a concurrent FAIL-mode request that found the originId taken in LCIC
        // (FAIL says so too; RETURN_EXISTING goes on to adopt that user), or by the reconciler.
        // Holding the key's lock, it is safe to record the intent again.
        if (onExisting === "FAIL") {
          const existing = await this.describeQuietly({ sdkAppId, originId });
          if (existing) throw new OriginIdExistsError(originId, existing);
        }
        row = await this.deps.repository.ensurePending(pending);
      }
      if (row.status === "registered") return this.returnExisting(row, onExisting, fields, true);
      return this.registerPending(row, fields, onExisting);
    });
    return result!;
  }

  /** A stored user: FAIL refuses, RETURN_EXISTING hands out a token valid for at least another hour. */
  private async returnExisting(
    row: ClassroomUserRow,
    onExisting: OnExisting,
    fields: { name: string | null; avatar: string | null },
    locked = false,
  ): Promise<RegisterResult> {
    if (onExisting === "FAIL") throw new OriginIdExistsError(row.originId, row.userId ?? undefined);
    const fresh = this.freshTokenResult(row);
    if (fresh) return fresh;
    // `locked`: the caller read `row` under this key's lock, so it is current.
    if (locked) return this.refreshToken(row, onExisting, fields);
    const refreshed = await this.withLock({ sdkAppId: row.sdkAppId, originId: row.originId }, async () => {
      // Re-read under the lock: a concurrent request may have refreshed it already.
      const current = (await this.deps.repository.findByOriginId(row.sdkAppId, row.originId)) ?? row;
      return this.freshTokenResult(current) ?? this.refreshToken(current, onExisting, fields);
    });
    return refreshed!;
  }

  /** The stored user with its stored token, if that is readable and valid for at least another hour. */
  private freshTokenResult(row: ClassroomUserRow): RegisterResult | undefined {
    const token = this.readToken(row);
    if (!token || !isTokenFresh(row.tokenExpiresAt, this.now())) return undefined;
    return { user: row, token, tokenExpiresAt: row.tokenExpiresAt!, requestId: row.lcicRequestId ?? undefined, created: false };
  }

  /** Under the key's lock, with the current registered row: a new LCIC token for it. */
  private async refreshToken(
    current: ClassroomUserRow,
    onExisting: OnExisting,
    fields: { name: string | null; avatar: string | null },
  ): Promise<RegisterResult> {
    let login: LcicToken;
    try {
      login = await this.callLcic(() => this.deps.lcic.loginUser(current.userId!), { userId: current.userId!, sdkAppId: current.sdkAppId });
    } catch (error) {
      if (!(error instanceof ClassroomUserNotFoundError)) throw error;
      // Deleted in LCIC since we stored it: the originId is free there again, so register it anew
      // (under this key's lock, from a pending row, like any new registration).
      this.deps.logger.warn({ sdkAppId: current.sdkAppId, userId: current.userId }, "stored user no longer exists in LCIC; registering the originId again");
      const pending = await this.deps.repository.resetToPending(current.id);
      return this.registerPending(pending, { name: fields.name ?? current.name, avatar: fields.avatar ?? current.avatar }, onExisting);
    }
    const updated = await this.deps.repository.updateToken(current.id, this.sealToken(login));
    return { user: updated, token: login.token, tokenExpiresAt: updated.tokenExpiresAt!, requestId: login.requestId, created: false };
  }

  /** Under the key's lock, with our pending row: finish or make the LCIC registration. */
  private async registerPending(
    row: ClassroomUserRow,
    fields: { name: string | null; avatar: string | null },
    onExisting: OnExisting,
  ): Promise<RegisterResult> {
    const { repository, lcic } = this.deps;
    const key = { sdkAppId: row.sdkAppId, originId: row.originId };

    // An earlier attempt may have reached LCIC (lost reply, crash): look before registering again.
    if (row.attempts > 0) {
      const adopted = await this.tryAdopt(row, true);
      if (adopted) return adopted;
    }

    let registered: LcicToken | undefined;
    for (let round = 1; !registered; round++) {
      const attempt = await repository.recordAttempt(row.id, fields.name, fields.avatar);
      try {
        registered = await lcic.registerUser({
          sdkAppId: key.sdkAppId,
          originId: key.originId,
          ...(fields.name != null ? { name: fields.name } : {}),
          ...(fields.avatar != null ? { avatar: fields.avatar } : {}),
        });
      } catch (error) {
        if (error instanceof LcicError && error.code === "FailedOperation.OriginIdExists") {
          // Attempts before this one may have created it: then it is ours, not someone else's.
          const ours = attempt.attempts > 1;
          if (!ours && onExisting === "FAIL") {
            const existing = await this.describeQuietly(key);
            await repository.deletePending(row.id);
            throw new OriginIdExistsError(key.originId, existing, error.requestId);
          }
          const adopted = await this.tryAdopt(attempt, ours);
          if (adopted) return adopted;
        }
        if (error instanceof LcicError && error.outcomeUnknown) {
          // LCIC may have created the user although we got no answer: find out now if we can.
          this.deps.logger.warn({ action: "RegisterUser", code: error.code, sdkAppId: key.sdkAppId, round }, "RegisterUser outcome unknown; reconciling");
          const adopted = await this.tryAdopt(attempt, true).catch(() => undefined);
          if (adopted) return adopted;
          if (round < REGISTER_ROUNDS) {
            // Sending RegisterUser again is safe: it carries the same originId, so if the first call
            // still lands, one of the two is refused by LCIC as OriginIdExists and adopted above.
            await this.sleep(50 + Math.random() * 150); // a little jitter, so replicas do not resend in step
            continue;
          }
          await repository.recordFailure(row.id, error.code);
          // The pending row stays: the next request for this key or the reconciler completes it.
          throw this.toDomainError(error, key.sdkAppId);
        }
        // LCIC refused: nothing was created, so nothing of ours stays either.
        await repository.deletePending(row.id);
        throw error instanceof LcicError ? this.toDomainError(error, key.sdkAppId) : error;
      }
    }

    const stored = await repository.markRegistered(row.id, {
      userId: registered.userId,
      name: fields.name,
      avatar: fields.avatar,
      ...this.sealToken(registered),
    });
    return { user: stored, token: registered.token, tokenExpiresAt: stored.tokenExpiresAt!, requestId: registered.requestId, created: true };
  }

  /**
   * Looks the key up in LCIC (LoginOriginId is scoped to the application and yields a token too) and,
   * if LCIC knows it, stores it as registered. `ours` says whether our own earlier attempt created it.
   */
  private async tryAdopt(row: ClassroomUserRow, ours: boolean): Promise<RegisterResult | undefined> {
    let login: LcicToken;
    try {
      login = await this.callLcic(() => this.deps.lcic.loginOriginId({ sdkAppId: row.sdkAppId, originId: row.originId }), { sdkAppId: row.sdkAppId, originId: row.originId });
    } catch (error) {
      if (error instanceof ClassroomUserNotFoundError) return undefined;
      throw error;
    }
    let name = row.name;
    let avatar = row.avatar;
    if (!ours) {
      // Registered elsewhere: take LCIC's profile, not the one this request proposed.
      const described = await this.callLcic(() => this.deps.lcic.describeUser({ userId: login.userId }), { sdkAppId: row.sdkAppId, originId: row.originId });
      // LCIC answers "" for a profile field never set; we store and show that as absent (null).
      name = described.name || null;
      avatar = described.avatar || null;
    }
    const stored = await this.deps.repository.markRegistered(row.id, { userId: login.userId, name, avatar, ...this.sealToken(login) });
    this.deps.logger.info({ sdkAppId: row.sdkAppId, userId: login.userId, ours }, ours ? "completed an earlier registration" : "adopted a user registered outside this service");
    return { user: stored, token: login.token, tokenExpiresAt: stored.tokenExpiresAt!, requestId: login.requestId, created: ours };
  }

  private async describeQuietly(key: { sdkAppId: number; originId: string }): Promise<string | undefined> {
    try {
      return (await this.deps.lcic.loginOriginId(key)).userId;
    } catch {
      return undefined;
    }
  }

  /**
   * Completes or clears one pending registration left by a crash or a lost reply. Skips keys whose
   * lock another request or replica holds (it is being handled). Returns what happened.
   */
  async reconcilePending(row: ClassroomUserRow): Promise<"registered" | "cleared" | "skipped"> {
    const key = { sdkAppId: row.sdkAppId, originId: row.originId };
    const outcome = await this.deps.repository.withRegistrationLock(key, { timeoutMs: 0, wait: false }, async () => {
      const current = await this.deps.repository.findByOriginId(key.sdkAppId, key.originId);
      if (!current || current.status !== "pending" || current.id !== row.id) return "skipped" as const;
      if (current.attempts === 0) {
        // Its request died before calling LCIC: nothing to complete.
        await this.deps.repository.deletePending(current.id);
        return "cleared" as const;
      }
      const adopted = await this.tryAdopt(current, true);
      if (adopted) return "registered" as const;
      // LCIC never created it; the caller was told it failed and may retry.
      await this.deps.repository.deletePending(current.id);
      return "cleared" as const;
    });
    return outcome ?? "skipped";
  }

  async listStalePending(olderThanMs: number, limit: number): Promise<ClassroomUserRow[]> {
    return this.deps.repository.listStalePending(new Date(this.now().getTime() - olderThanMs), limit);
  }

  /**
   * The key (application and originId) stored for a userId, from PostgreSQL only (never LCIC, never a
   * write): what the authorization of a lookup by userId compares with the caller before anything
   * else happens. Both parts: self-service is bound to one application.
   */
  async storedKeyOf(userId: string): Promise<{ sdkAppId: number; originId: string } | undefined> {
    if (userId.length === 0 || userId.length > LIMITS.userId) return undefined;
    const row = await this.deps.repository.findByUserId(userId);
    return row ? { sdkAppId: row.sdkAppId, originId: row.originId } : undefined;
  }

  /** `classroomUser`: by userId or by originId; from PostgreSQL, else from LCIC (then stored). */
  async find(rawLookup: unknown): Promise<ClassroomUserRow> {
    const lookup = parseLookup(rawLookup);
    const { repository } = this.deps;
    if (lookup.userId != null) {
      const row = await repository.findByUserId(lookup.userId);
      if (row && (lookup.sdkAppId == null || row.sdkAppId === lookup.sdkAppId)) return row;
      if (row) throw new ClassroomUserNotFoundError({ userId: lookup.userId });
    } else {
      const row = await repository.findByOriginId(this.resolveSdkAppId(lookup.sdkAppId), lookup.originId!);
      if (row?.status === "registered") return row;
    }
    return this.findInLcic(lookup);
  }

  /** A user not stored here (registered outside this service): from LCIC, then stored. */
  private async findInLcic(lookup: LookupInput): Promise<ClassroomUserRow> {
    const { lcic } = this.deps;
    if (lookup.userId != null) {
      const userId = lookup.userId;
      const described = await this.callLcic(() => lcic.describeUser({ userId }), { userId });
      if (!this.deps.sdkAppIds.includes(described.sdkAppId) || (lookup.sdkAppId != null && described.sdkAppId !== lookup.sdkAppId)) {
        // A user of an application this service does not serve is not ours to show.
        throw new ClassroomUserNotFoundError({ userId });
      }
      return this.storeDescribed(described.sdkAppId, described.originId || userId, described);
    }
    const sdkAppId = this.resolveSdkAppId(lookup.sdkAppId);
    const originId = lookup.originId!;
    // DescribeUser takes no SdkAppId; LoginOriginId is scoped to the application.
    const login = await this.callLcic(() => lcic.loginOriginId({ sdkAppId, originId }), { originId, sdkAppId });
    const described = await this.callLcic(() => lcic.describeUser({ userId: login.userId }), { originId, sdkAppId });
    return this.storeDescribed(sdkAppId, originId, described, login);
  }

  /**
   * Federation entity references, in order: every stored, registered user in one query; the rest
   * looked up in LCIC as `find` does (the batch query already answered for PostgreSQL). A user nobody knows, or of an application this
   * service does not serve, is `null`; any other failure is that reference's Error.
   */
  async findByReferences(references: readonly ClassroomUserReference[]): Promise<Array<ClassroomUserRow | null | Error>> {
    const userIds = new Set<string>();
    const originKeys = new Map<string, { sdkAppId: number; originId: string }>();
    for (const ref of references) {
      if (isUserIdReference(ref)) userIds.add(ref.userId);
      else if (isOriginReference(ref)) originKeys.set(originKey(ref), { sdkAppId: ref.sdkAppId, originId: ref.originId });
    }
    const rows = await this.deps.repository.findManyByReferences([...userIds], [...originKeys.values()]);
    const byUserId = new Map<string, ClassroomUserRow>();
    const byOrigin = new Map<string, ClassroomUserRow>();
    for (const row of rows) {
      if (row.status !== "registered") continue;
      if (row.userId) byUserId.set(row.userId, row);
      byOrigin.set(originKey(row), row);
    }
    return Promise.all(
      references.map(async (ref) => {
        const stored = isUserIdReference(ref) ? byUserId.get(ref.userId) : isOriginReference(ref) ? byOrigin.get(originKey(ref)) : undefined;
        if (stored) return stored;
        try {
          // Only the key's own fields: a representation may carry more than the key it was sent by.
          const lookup = isUserIdReference(ref) ? { userId: ref.userId } : isOriginReference(ref) ? { sdkAppId: ref.sdkAppId, originId: ref.originId } : ref;
          return await this.findInLcic(parseLookup(lookup));
        } catch (error) {
          if (error instanceof ClassroomUserNotFoundError || error instanceof InvalidSdkAppIdError) return null;
          return error instanceof Error ? error : new Error(String(error));
        }
      }),
    );
  }

  private async storeDescribed(
    sdkAppId: number,
    originId: string,
    described: { userId: string; name?: string; avatar?: string },
    login?: LcicToken,
  ): Promise<ClassroomUserRow> {
    try {
      return await this.deps.repository.upsertRegistered(sdkAppId, originId, {
        userId: described.userId,
        // LCIC answers "" for a profile field never set; we store and show that as absent (null).
        name: described.name || null,
        avatar: described.avatar || null,
        ...(login ? this.sealToken(login) : {}),
      });
    } catch (error) {
      // Stored meanwhile under the same user id (a concurrent lookup): read what is there.
      if ((error as { cause?: { code?: string } }).cause?.code === "23505") {
        const row = await this.deps.repository.findByUserId(described.userId);
        if (row) return row;
      }
      throw error;
    }
  }

  private sealToken(login: LcicToken) {
    const issuedAt = this.now();
    return {
      tokenCiphertext: this.deps.cipher.encrypt(login.token, login.userId),
      tokenExpiresAt: tokenExpiry(issuedAt),
      lcicRequestId: login.requestId || null,
    };
  }

  /** The stored token, or undefined when absent or unreadable (e.g. its key was rotated out). */
  private readToken(row: ClassroomUserRow): string | undefined {
    if (!row.tokenCiphertext || !row.userId) return undefined;
    try {
      return this.deps.cipher.decrypt(row.tokenCiphertext, row.userId);
    } catch (error) {
      this.deps.logger.warn({ userId: row.userId, reason: (error as Error).message }, "stored LCIC token unreadable; a new one will be issued");
      return undefined;
    }
  }

  private async withLock<T>(key: { sdkAppId: number; originId: string }, fn: () => Promise<T>): Promise<T | undefined> {
    try {
      return await this.deps.repository.withRegistrationLock(key, { timeoutMs: this.lockTimeoutMs }, fn);
    } catch (error) {
      if (error instanceof LockTimeoutError) throw new LcicUnavailableError("Registration.Busy");
      throw error;
    }
  }

  /** Calls LCIC and turns its errors into the service's domain errors. */
  private async callLcic<T>(call: () => Promise<T>, lookup?: { userId?: string; originId?: string; sdkAppId?: number }): Promise<T> {
    try {
      return await call();
    } catch (error) {
      if (error instanceof LcicError) {
        if (error.code === "ResourceNotFound.User") throw new ClassroomUserNotFoundError(lookup ?? {}, error.requestId);
        throw this.toDomainError(error, lookup?.sdkAppId);
      }
      throw error;
    }
  }

  /** LCIC errors the caller can act on become specific union members; the rest stay LcicError. */
  toDomainError(error: LcicError, sdkAppId?: number): Error {
    if (error.code === "InvalidParameter.SdkAppId" && sdkAppId !== undefined) return new InvalidSdkAppIdError(sdkAppId, error.requestId);
    if (error.kind === "rate_limited") return new LcicRateLimitedError(error.code, error.retryAfterMs ?? 1000, error.requestId);
    if (error.kind === "unavailable") return new LcicUnavailableError(error.code, error.requestId);
    if (error.kind === "auth") {
      this.deps.logger.error({ code: error.code, action: error.action, requestId: error.requestId }, "LCIC refused this service's credentials or configuration");
    }
    return error;
  }
}
