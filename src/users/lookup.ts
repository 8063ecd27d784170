import type { CallOptions } from "../lcic/client.js";
import { resolveSdkAppId, type UsersContext } from "./context.js";
import { ClassroomUserNotFoundError, ClientRateLimitedError, InvalidSdkAppIdError } from "./errors.js";
import { callLcic } from "./lcic-errors.js";
import { originKey, type ClassroomUserRow } from "./repository.js";
import { sealToken } from "./tokens.js";
import { LIMITS, parseLookup, type LookupInput } from "./validation.js";

/** How another subgraph refers to a classroom user: by LCIC userId, or by its own id within an application. */
export type ClassroomUserReference = { userId: string } | { sdkAppId: number; originId: string };

/** Who is looking: lookups that fall back to LCIC are counted per client. */
export interface LookupCaller {
  /** `sub:<subject>` or `ip:<address>`, as the registration limit keys clients. */
  clientKey: string;
}

/** A per-client budget (e.g. RegistrationLimiter): one consume() per LCIC fallback. */
export interface ClientBudget {
  consume(clientKey: string): Promise<{ allowed: boolean; retryAfterMs: number }>;
}

export interface LookupOptions {
  /** LOOKUP_MISS_TTL_MS: how long every replica remembers LCIC's "no such user" (0: not remembered). */
  missTtlMs: number;
  /** LOOKUP_FALLBACK_RATE_LIMIT_PER_MINUTE's limiter; omitted: unlimited. */
  fallbackBudget?: ClientBudget;
  /** LOOKUP_BATCHING: reads by originId or by userId started in the same event-loop turn share one statement (default off here; on in the app's configuration). */
  batch?: boolean;
}

/** LCIC calls made for lookups wait behind registrations in the shared pacer. */
const LOOKUP_CALL: CallOptions = { priority: "lookup" };

function isUserIdReference(ref: ClassroomUserReference): ref is { userId: string } {
  return "userId" in ref && typeof ref.userId === "string" && ref.userId !== "";
}

function isOriginReference(ref: ClassroomUserReference): ref is { sdkAppId: number; originId: string } {
  return "originId" in ref && typeof ref.originId === "string" && Number.isSafeInteger(ref.sdkAppId);
}

/** The key a lookup's miss is remembered under (lookup_misses.key). */
function missKey(lookup: { userId: string } | { sdkAppId: number; originId: string }): string {
  return "userId" in lookup ? `u:${lookup.userId}` : `o:${lookup.sdkAppId}:${lookup.originId}`;
}

/**
 * `classroomUser` and federation's `_entities`: users from PostgreSQL, else (registered outside this
 * service) from LCIC, then stored. Never touches a pending row: a user whose registration is in flight
 * is not found yet. Never returns tokens.
 */
export class Lookup {
  private lastMissPrune = 0;

  constructor(
    private readonly ctx: UsersContext,
    private readonly options: LookupOptions,
  ) {}

  /**
   * The key stored for a userId, from PostgreSQL only (never LCIC, never a write): what the
   * authorization of a lookup by userId compares with the caller (self-service is bound to one
   * application) before anything else happens.
   */
  async storedKeyOf(userId: string): Promise<{ sdkAppId: number; originId: string } | undefined> {
    if (userId.length === 0 || userId.length > LIMITS.userId) return undefined;
    const row = await this.readByUserId(userId);
    return row ? { sdkAppId: row.sdkAppId, originId: row.originId } : undefined;
  }

  /** A stored row by key: batched with the other lookups of this turn under LOOKUP_BATCHING. */
  private readByOriginId(sdkAppId: number, originId: string): Promise<ClassroomUserRow | undefined> {
    const { repository } = this.ctx;
    return this.options.batch ? repository.findByOriginIdBatched(sdkAppId, originId) : repository.findByOriginId(sdkAppId, originId);
  }

  private readByUserId(userId: string): Promise<ClassroomUserRow | undefined> {
    const { repository } = this.ctx;
    return this.options.batch ? repository.findByUserIdBatched(userId) : repository.findByUserId(userId);
  }

  /**
   * `classroomUser`: by exactly one of userId or originId (else ValidationError). A stored, registered
   * user by originId (nearly every lookup) is answered through one `.then`, without an async function's
   * promises; everything else (and every error, as a rejection) as before.
   */
  find(rawLookup: unknown, caller: LookupCaller): Promise<ClassroomUserRow> {
    let lookup: LookupInput;
    let sdkAppId: number;
    try {
      lookup = parseLookup(rawLookup);
      if (lookup.userId != null) return this.findSlowly(lookup, caller);
      sdkAppId = resolveSdkAppId(this.ctx, lookup.sdkAppId);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.readByOriginId(sdkAppId, lookup.originId!).then((row) =>
      row?.status === "registered" ? row : this.findSlowly(lookup, caller, { row }),
    );
  }

  private async findSlowly(lookup: LookupInput, caller: LookupCaller, read?: { row: ClassroomUserRow | undefined }): Promise<ClassroomUserRow> {
    const { repository } = this.ctx;
    if (lookup.userId != null) {
      const row = await this.readByUserId(lookup.userId);
      if (row && (lookup.sdkAppId == null || row.sdkAppId === lookup.sdkAppId)) return row;
      if (row) throw new ClassroomUserNotFoundError({ userId: lookup.userId });
      // Deleted through this service: LCIC no longer has it, so say so without asking LCIC.
      if (await repository.findTombstoneByUserId(lookup.userId)) throw new ClassroomUserNotFoundError({ userId: lookup.userId });
      return this.findInLcic({ userId: lookup.userId, sdkAppId: lookup.sdkAppId ?? undefined }, caller);
    }
    const sdkAppId = resolveSdkAppId(this.ctx, lookup.sdkAppId);
    const originId = lookup.originId!;
    // Already read by `find` (the row, or undefined when there is none).
    const row = read ? read.row : await this.readByOriginId(sdkAppId, originId);
    if (row?.status === "registered") return row;
    // Pending: its registration is in flight (or awaits the reconciler), and only that may write it.
    if (row) throw new ClassroomUserNotFoundError({ originId, sdkAppId });
    if (await repository.findTombstoneByOriginId(sdkAppId, originId)) throw new ClassroomUserNotFoundError({ originId, sdkAppId });
    return this.findInLcic({ sdkAppId, originId }, caller);
  }

  /**
   * Federation entity references, in order: every stored user in one query; the rest looked up in
   * LCIC as `find` does. A user nobody knows (or still pending here), or of an application this
   * service does not serve, is `null`; any other failure is that reference's Error.
   */
  async findByReferences(references: readonly ClassroomUserReference[], caller: LookupCaller): Promise<Array<ClassroomUserRow | null | Error>> {
    const userIds = new Set<string>();
    const originKeys = new Map<string, { sdkAppId: number; originId: string }>();
    for (const ref of references) {
      if (isUserIdReference(ref)) userIds.add(ref.userId);
      else if (isOriginReference(ref)) originKeys.set(originKey(ref), { sdkAppId: ref.sdkAppId, originId: ref.originId });
    }
    const rows = await this.ctx.repository.findManyByReferences([...userIds], [...originKeys.values()]);
    const byUserId = new Map<string, ClassroomUserRow>();
    const byOrigin = new Map<string, ClassroomUserRow>();
    for (const row of rows) {
      if (row.userId && row.status === "registered") byUserId.set(row.userId, row);
      byOrigin.set(originKey(row), row);
    }
    // Stored users (nearly all, for a gateway's references) are answered without a promise each.
    const results: Array<ClassroomUserRow | null | Error | Promise<ClassroomUserRow | null | Error>> = [];
    let notStored = false;
    for (const ref of references) {
      const stored = isUserIdReference(ref) ? byUserId.get(ref.userId) : isOriginReference(ref) ? byOrigin.get(originKey(ref)) : undefined;
      if (stored?.status === "registered") results.push(stored);
      else if (stored) results.push(null); // pending: see find
      else {
        results.push(this.findUnstoredReference(ref, caller));
        notStored = true;
      }
    }
    return notStored ? Promise.all(results) : (results as Array<ClassroomUserRow | null | Error>);
  }

  /** A reference with no stored row: null when deleted here or unknown to LCIC too, else LCIC's user (stored). */
  private async findUnstoredReference(ref: ClassroomUserReference, caller: LookupCaller): Promise<ClassroomUserRow | null | Error> {
    try {
      // Deleted through this service: null without asking LCIC.
      if (isUserIdReference(ref) && (await this.ctx.repository.findTombstoneByUserId(ref.userId))) return null;
      if (isOriginReference(ref) && (await this.ctx.repository.findTombstoneByOriginId(ref.sdkAppId, ref.originId))) return null;
      // Only the key's own fields: a representation may carry more than the key it was sent by.
      const lookup = parseLookup(isUserIdReference(ref) ? { userId: ref.userId } : isOriginReference(ref) ? { sdkAppId: ref.sdkAppId, originId: ref.originId } : ref);
      return await this.findInLcic(
        lookup.userId != null ? { userId: lookup.userId } : { sdkAppId: resolveSdkAppId(this.ctx, lookup.sdkAppId), originId: lookup.originId! },
        caller,
      );
    } catch (error) {
      if (error instanceof ClassroomUserNotFoundError || error instanceof InvalidSdkAppIdError) return null;
      return error instanceof Error ? error : new Error(String(error));
    }
  }

  /**
   * A user not stored here (registered outside this service): from LCIC, then stored. A miss is
   * remembered for LOOKUP_MISS_TTL_MS by every replica, and each client may fall back to LCIC at most
   * LOOKUP_FALLBACK_RATE_LIMIT_PER_MINUTE times a minute; the calls wait behind registrations in the
   * shared pacer.
   */
  private async findInLcic(
    lookup: { userId: string; sdkAppId?: number | undefined } | { sdkAppId: number; originId: string },
    caller: LookupCaller,
  ): Promise<ClassroomUserRow> {
    const { repository } = this.ctx;
    const missedUnder = missKey("userId" in lookup ? { userId: lookup.userId } : lookup);
    const now = this.ctx.now();
    if (this.options.missTtlMs > 0 && (await repository.isLookupMissRemembered(missedUnder, now))) {
      throw new ClassroomUserNotFoundError("userId" in lookup ? { userId: lookup.userId } : lookup);
    }
    if (this.options.fallbackBudget) {
      const budget = await this.options.fallbackBudget.consume(`lookup:${caller.clientKey}`);
      if (!budget.allowed) throw new ClientRateLimitedError("LCIC lookups", budget.retryAfterMs);
    }
    try {
      return await this.fetchFromLcic(lookup);
    } catch (error) {
      // Only LCIC's own "no such user" (it carries LCIC's RequestId) is remembered: not our refusal to
      // show another application's user, nor a user whose registration here is pending.
      if (error instanceof ClassroomUserNotFoundError && error.requestId !== undefined && this.options.missTtlMs > 0) {
        await this.rememberMiss(missedUnder, now);
      }
      throw error;
    }
  }

  private async fetchFromLcic(lookup: { userId: string; sdkAppId?: number | undefined } | { sdkAppId: number; originId: string }): Promise<ClassroomUserRow> {
    const { lcic, logger } = this.ctx;
    if ("userId" in lookup) {
      const { userId } = lookup;
      const described = await callLcic(logger, () => lcic.describeUser({ userId }, LOOKUP_CALL), { userId });
      if (!this.ctx.sdkAppIds.includes(described.sdkAppId) || (lookup.sdkAppId != null && described.sdkAppId !== lookup.sdkAppId)) {
        // A user of an application this service does not serve is not ours to show.
        throw new ClassroomUserNotFoundError({ userId });
      }
      return this.storeDescribed(described.sdkAppId, described.originId || userId, described, { userId });
    }
    const { sdkAppId, originId } = lookup;
    // DescribeUser takes no SdkAppId; LoginOriginId is scoped to the application.
    const login = await callLcic(logger, () => lcic.loginOriginId({ sdkAppId, originId }, LOOKUP_CALL), { originId, sdkAppId });
    const described = await callLcic(logger, () => lcic.describeUser({ userId: login.userId }, LOOKUP_CALL), { originId, sdkAppId });
    return this.storeDescribed(sdkAppId, originId, described, { originId, sdkAppId }, sealToken(this.ctx.cipher, login, this.ctx.now()));
  }

  /**
   * Stores a user LCIC described, unless its key already has a row: a registered row is returned as
   * stored; a pending one belongs to a registration in flight and is left alone (not found yet).
   */
  private async storeDescribed(
    sdkAppId: number,
    originId: string,
    described: { userId: string; name?: string; avatar?: string },
    asked: { userId?: string; originId?: string; sdkAppId?: number },
    token?: ReturnType<typeof sealToken>,
  ): Promise<ClassroomUserRow> {
    const { repository } = this.ctx;
    let inserted: ClassroomUserRow | undefined;
    try {
      inserted = await repository.insertRegisteredIfAbsent(sdkAppId, originId, {
        userId: described.userId,
        // LCIC answers "" for a profile field never set; we store and show that as absent (null).
        name: described.name || null,
        avatar: described.avatar || null,
        ...(token ?? {}),
      });
    } catch (error) {
      // Stored meanwhile under the same user id (a concurrent lookup): read what is there.
      if ((error as { cause?: { code?: string } }).cause?.code !== "23505") throw error;
      const row = await repository.findByUserId(described.userId);
      if (row) return row;
      throw error;
    }
    if (inserted) return inserted;
    const existing = await repository.findByOriginId(sdkAppId, originId);
    if (existing?.status === "registered") return existing;
    throw new ClassroomUserNotFoundError(asked);
  }

  private async rememberMiss(key: string, now: Date): Promise<void> {
    await this.ctx.repository.rememberLookupMiss(key, new Date(now.getTime() + this.options.missTtlMs));
    // Expired misses are dead weight; drop them at most once per TTL per replica.
    if (now.getTime() - this.lastMissPrune >= this.options.missTtlMs) {
      this.lastMissPrune = now.getTime();
      await this.ctx.repository.pruneLookupMisses(now).catch(() => undefined);
    }
  }
}
