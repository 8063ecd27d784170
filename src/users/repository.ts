import { and, eq, lt, sql } from "drizzle-orm";
import type postgres from "postgres";
import type { Database } from "../db/client.js";
import { classroomUsers, type ClassroomUserRow } from "../db/schema.js";

export type { ClassroomUserRow };

/** Fields written when LCIC has told us who the user is. */
export interface RegisteredFields {
  userId: string;
  name?: string | null;
  avatar?: string | null;
  tokenCiphertext?: string | null;
  tokenExpiresAt?: Date | null;
  lcicRequestId?: string | null;
}

const LOCK_NAMESPACE = 7_345_001; // first key of the two-key advisory lock: "classroom-users registration"

/**
 * Most lock connections open at once, beside the pool (each registration in flight holds one).
 * 10: LCIC's pace (20 a second) keeps few registrations in flight.
 */
const MAX_LOCK_CONNECTIONS = 10;

/**
 * A lock connection whose lock was released cleanly is kept this long for the next registration:
 * opening one (fork, authentication) cost 10-50 ms, most of a registration's own time.
 */
const IDLE_LOCK_SESSION_MS = 5_000;

export class LockTimeoutError extends Error {
  override readonly name = "LockTimeoutError";
}

/** SQL for classroom users. Knows nothing about LCIC or GraphQL. */
export class UsersRepository {
  // Hot-path lookups are prepared once: unprepared Drizzle queries cost an extra round trip and a re-plan.
  private readonly byUserId;
  private readonly byOriginId;
  private readonly byReferences;

  private readonly keyGates = new KeyedGates();
  private readonly lockConnections = new Gate(MAX_LOCK_CONNECTIONS);
  /** Lock connections holding no lock, newest last; with those in use never more than MAX_LOCK_CONNECTIONS. */
  private readonly idleLockSessions: Array<{ session: postgres.Sql; idleSince: number }> = [];
  private lockSessionsInUse = 0;
  private idleSweep: NodeJS.Timeout | undefined;

  constructor(
    private readonly db: Database,
    /** Opens the dedicated connection that holds one registration lock (DatabaseHandle.openSession). */
    private readonly openSession: () => postgres.Sql,
  ) {
    this.byUserId = db
      .select()
      .from(classroomUsers)
      .where(eq(classroomUsers.userId, sql.placeholder("userId")))
      .limit(1)
      .prepare("classroom_users_by_user_id");
    this.byOriginId = db
      .select()
      .from(classroomUsers)
      .where(and(eq(classroomUsers.sdkAppId, sql.placeholder("sdkAppId")), eq(classroomUsers.originId, sql.placeholder("originId"))))
      .limit(1)
      .prepare("classroom_users_by_origin_id");
    // Prepared with the keys as arrays, so any mix of references is one statement with one plan
    // (a query built per request with 100 literal keys cost more in Drizzle's builder than in
    // PostgreSQL). Raw SQL for what Drizzle's builder cannot express: `= any(array)` and a join
    // with unnest(); each half uses its unique index, then the row is read by primary key.
    this.byReferences = db
      .select()
      .from(classroomUsers)
      .where(
        sql`${classroomUsers.id} in (
          select id from classroom_users where user_id = any(${sql.placeholder("userIds")}::text[])
          union
          select c.id from classroom_users c
            join unnest(${sql.placeholder("sdkAppIds")}::bigint[], ${sql.placeholder("originIds")}::text[]) as k(sdk_app_id, origin_id)
            on c.sdk_app_id = k.sdk_app_id and c.origin_id = k.origin_id
        )`,
      )
      .prepare("classroom_users_by_references");
  }

  async findByUserId(userId: string): Promise<ClassroomUserRow | undefined> {
    const [row] = await this.byUserId.execute({ userId });
    return row;
  }

  async findByOriginId(sdkAppId: number, originId: string): Promise<ClassroomUserRow | undefined> {
    const [row] = await this.byOriginId.execute({ sdkAppId, originId });
    return row;
  }

  /**
   * Rows matching any of these userIds or (sdkAppId, originId) keys, in one query: federation's
   * `_entities` hands us both kinds of reference in one request.
   */
  async findManyByReferences(
    userIds: readonly string[],
    keys: ReadonlyArray<{ sdkAppId: number; originId: string }>,
  ): Promise<ClassroomUserRow[]> {
    if (userIds.length === 0 && keys.length === 0) return [];
    return this.byReferences.execute({
      userIds: [...userIds],
      sdkAppIds: keys.map((k) => k.sdkAppId),
      originIds: keys.map((k) => k.originId),
    });
  }

  /**
   * The record of intent: a `pending` row for the key, committed before LCIC is called, so that a
   * crash between LCIC's success and our write leaves a trace to complete. Returns the row for the
   * key, whether this call created it or it existed.
   */
  async ensurePending(input: {
    sdkAppId: number;
    originId: string;
    name?: string | null;
    avatar?: string | null;
    originIdGenerated?: boolean;
  }): Promise<ClassroomUserRow> {
    const [inserted] = await this.db
      .insert(classroomUsers)
      .values({
        sdkAppId: input.sdkAppId,
        originId: input.originId,
        name: input.name ?? null,
        avatar: input.avatar ?? null,
        originIdGenerated: input.originIdGenerated ?? false,
        status: "pending",
      })
      .onConflictDoNothing({ target: [classroomUsers.sdkAppId, classroomUsers.originId] })
      .returning();
    if (inserted) return inserted;
    const existing = await this.findByOriginId(input.sdkAppId, input.originId);
    if (!existing) throw new Error("classroom user row vanished between insert and read");
    return existing;
  }

  /** Counts an attempt to call LCIC for a pending row; committed before the call is made. */
  async recordAttempt(id: number, name: string | null | undefined, avatar: string | null | undefined): Promise<ClassroomUserRow> {
    const [row] = await this.db
      .update(classroomUsers)
      .set({ attempts: sql`${classroomUsers.attempts} + 1`, name: name ?? null, avatar: avatar ?? null, updatedAt: new Date() })
      .where(eq(classroomUsers.id, id))
      .returning();
    if (!row) throw new Error("pending classroom user row vanished");
    return row;
  }

  async recordFailure(id: number, code: string): Promise<void> {
    await this.db.update(classroomUsers).set({ lastError: code, updatedAt: new Date() }).where(eq(classroomUsers.id, id));
  }

  async markRegistered(id: number, fields: RegisteredFields): Promise<ClassroomUserRow> {
    const [row] = await this.db
      .update(classroomUsers)
      .set({ ...fields, status: "registered", lastError: null, updatedAt: new Date() })
      .where(eq(classroomUsers.id, id))
      .returning();
    if (!row) throw new Error("classroom user row vanished");
    return row;
  }

  async updateToken(id: number, token: { tokenCiphertext: string; tokenExpiresAt: Date; lcicRequestId: string | null }): Promise<ClassroomUserRow> {
    const [row] = await this.db
      .update(classroomUsers)
      .set({ ...token, updatedAt: new Date() })
      .where(eq(classroomUsers.id, id))
      .returning();
    if (!row) throw new Error("classroom user row vanished");
    return row;
  }

  /** Turns a registered row whose LCIC user was deleted back into a fresh pending row for the same key. */
  async resetToPending(id: number): Promise<ClassroomUserRow> {
    const [row] = await this.db
      .update(classroomUsers)
      .set({ status: "pending", userId: null, tokenCiphertext: null, tokenExpiresAt: null, lcicRequestId: null, attempts: 0, lastError: null, updatedAt: new Date() })
      .where(eq(classroomUsers.id, id))
      .returning();
    if (!row) throw new Error("classroom user row vanished");
    return row;
  }

  /** Removes a pending row whose registration definitely did not happen (so nothing half-written stays). */
  async deletePending(id: number): Promise<void> {
    await this.db.delete(classroomUsers).where(and(eq(classroomUsers.id, id), eq(classroomUsers.status, "pending")));
  }

  /**
   * Stores a user that LCIC knows but we did not (registered outside this service), or completes our
   * own pending row for the same key. Returns the stored row.
   */
  async upsertRegistered(sdkAppId: number, originId: string, fields: RegisteredFields): Promise<ClassroomUserRow> {
    const [row] = await this.db
      .insert(classroomUsers)
      .values({ sdkAppId, originId, ...fields, status: "registered" })
      .onConflictDoUpdate({
        target: [classroomUsers.sdkAppId, classroomUsers.originId],
        set: {
          userId: fields.userId,
          status: "registered",
          name: sql`coalesce(excluded.name, ${classroomUsers.name})`,
          avatar: sql`coalesce(excluded.avatar, ${classroomUsers.avatar})`,
          tokenCiphertext: sql`coalesce(excluded.token_ciphertext, ${classroomUsers.tokenCiphertext})`,
          tokenExpiresAt: sql`coalesce(excluded.token_expires_at, ${classroomUsers.tokenExpiresAt})`,
          lcicRequestId: sql`coalesce(excluded.lcic_request_id, ${classroomUsers.lcicRequestId})`,
          updatedAt: new Date(),
        },
      })
      .returning();
    if (!row) throw new Error("upsert returned no row");
    return row;
  }

  /** Pending rows untouched for a while: candidates for the reconciler. */
  async listStalePending(olderThan: Date, limit: number): Promise<ClassroomUserRow[]> {
    return this.db
      .select()
      .from(classroomUsers)
      .where(and(eq(classroomUsers.status, "pending"), lt(classroomUsers.updatedAt, olderThan)))
      .orderBy(classroomUsers.updatedAt)
      .limit(limit);
  }

  /**
   * Runs `fn` while holding the registration lock for (sdkAppId, originId), shared by every replica.
   * A session-level advisory lock on a dedicated single-connection client (`openSession`): it is
   * released when `fn` settles or, if the process dies, when PostgreSQL drops the connection. Writes
   * inside `fn` go through the pool and autocommit, so the record of an attempt survives a crash in
   * the middle of the LCIC call.
   *
   * With `wait: false` returns `undefined` at once when another holder has the lock (the reconciler's
   * skip-locked behaviour).
   */
  async withRegistrationLock<T>(
    key: { sdkAppId: number; originId: string },
    options: { timeoutMs: number; wait?: boolean },
    fn: () => Promise<T>,
  ): Promise<T | undefined> {
    const lockKey = `${key.sdkAppId}:${key.originId}`;
    const wait = options.wait !== false;
    const deadline = Date.now() + Math.max(0, options.timeoutMs);
    // In-process gates first, so waiting costs no connection: requests of this process for the same
    // key queue in memory (one connection per key waits in PostgreSQL, for other replicas), and at
    // most `MAX_LOCK_CONNECTIONS` lock connections are open at once, bounding what a burst of
    // registrations adds to the server's connection count.
    const keyGate = this.keyGates.enter(lockKey);
    try {
      if (!(wait ? await keyGate.acquire(deadline - Date.now()) : keyGate.tryAcquire())) {
        if (!wait) return undefined;
        throw new LockTimeoutError("timed out waiting for the registration lock (in process)");
      }
      try {
        if (!(wait ? await this.lockConnections.acquire(deadline - Date.now()) : this.lockConnections.tryAcquire())) {
          if (!wait) return undefined;
          throw new LockTimeoutError("timed out waiting for a connection to take the registration lock");
        }
        try {
          return await this.withAdvisoryLock(lockKey, wait, deadline, fn);
        } finally {
          this.lockConnections.release();
        }
      } finally {
        keyGate.release();
      }
    } finally {
      this.keyGates.leave(lockKey);
    }
  }

  /**
   * The PostgreSQL side: a session advisory lock on a connection of its own, held while `fn` runs and
   * released by PostgreSQL with the session if the process dies.
   *
   * Its own single-connection client, not a reserved pool connection: postgres.js never settles a
   * statement sent on a reserved connection (or in `sql.begin`) after that connection dropped, which
   * hung the unlock forever. A client reconnects instead: an unlock after a drop meets a new session
   * (nothing to unlock) or fails, and either way settles. `fn`'s writes go through the pool and
   * commit on their own, so once the lock was taken, `fn`'s outcome stands even if the lock's
   * connection is lost meanwhile. One connection set-up per registration is small beside an LCIC call.
   */
  private async withAdvisoryLock<T>(lockKey: string, wait: boolean, deadline: number, fn: () => Promise<T>): Promise<T | undefined> {
    const session = this.idleLockSessions.pop()?.session ?? this.openSession();
    this.lockSessionsInUse += 1;
    let locked = false;
    // Kept for reuse only when it provably holds no lock of ours: a clean "not taken" or a confirmed unlock.
    let reusable = false;
    try {
      // Advisory locks are PostgreSQL functions that Drizzle's builder cannot express.
      if (!wait) {
        const [row] = await session<{ ok: boolean }[]>`select pg_try_advisory_lock(${LOCK_NAMESPACE}, hashtext(${lockKey})) as ok`;
        if (!row?.ok) {
          reusable = true;
          return undefined;
        }
      } else {
        try {
          await session`select set_config('lock_timeout', ${`${Math.max(1, Math.round(deadline - Date.now()))}ms`}, false)`;
          await session`select pg_advisory_lock(${LOCK_NAMESPACE}, hashtext(${lockKey}))`;
        } catch (error) {
          if ((error as { code?: string }).code === "55P03") throw new LockTimeoutError("timed out waiting for the registration lock");
          throw error;
        }
      }
      locked = true;
      return await fn();
    } finally {
      // Unlock explicitly: the release must not wait for a connection's teardown. It may fail if the
      // connection dropped: the lock went with the session. A connection not known to be clean is ended.
      if (locked) {
        const [row] = await session<{ released: boolean }[]>`select pg_advisory_unlock(${LOCK_NAMESPACE}, hashtext(${lockKey})) as released`.catch(() => []);
        reusable = row?.released === true;
      }
      this.lockSessionsInUse -= 1;
      if (reusable && this.idleLockSessions.length + this.lockSessionsInUse < MAX_LOCK_CONNECTIONS) {
        this.idleLockSessions.push({ session, idleSince: Date.now() });
        this.scheduleIdleSweep();
      } else {
        await session.end({ timeout: 1 }).catch(() => undefined);
      }
    }
  }

  /** Ends lock connections idle longer than IDLE_LOCK_SESSION_MS; the timer does not keep the process alive. */
  private scheduleIdleSweep(): void {
    if (this.idleSweep) return;
    this.idleSweep = setTimeout(() => {
      this.idleSweep = undefined;
      const cutoff = Date.now() - IDLE_LOCK_SESSION_MS;
      while (this.idleLockSessions.length > 0 && this.idleLockSessions[0]!.idleSince <= cutoff) {
        void this.idleLockSessions.shift()!.session.end({ timeout: 1 }).catch(() => undefined);
      }
      if (this.idleLockSessions.length > 0) this.scheduleIdleSweep();
    }, IDLE_LOCK_SESSION_MS);
    this.idleSweep.unref();
  }

  /** Ends the idle lock connections (shutdown). */
  async close(): Promise<void> {
    clearTimeout(this.idleSweep);
    this.idleSweep = undefined;
    await Promise.all(this.idleLockSessions.splice(0).map(({ session }) => session.end({ timeout: 1 }).catch(() => undefined)));
  }
}

/** A counting semaphore whose waiters queue in order and give up at a timeout. */
export class Gate {
  private readonly waiters: Array<(granted: boolean) => void> = [];
  constructor(private permits: number) {}

  tryAcquire(): boolean {
    if (this.permits <= 0) return false;
    this.permits -= 1;
    return true;
  }

  /** Resolves true with a permit, or false when `timeoutMs` passed first. */
  acquire(timeoutMs: number): Promise<boolean> {
    if (this.tryAcquire()) return Promise.resolve(true);
    if (timeoutMs <= 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      const waiter = (granted: boolean) => {
        clearTimeout(timer);
        resolve(granted);
      };
      const timer = setTimeout(() => {
        const index = this.waiters.indexOf(waiter);
        if (index >= 0) this.waiters.splice(index, 1);
        resolve(false);
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  release(): void {
    const next = this.waiters.shift();
    if (next) next(true);
    else this.permits += 1;
  }
}

/** One single-permit Gate per key, kept only while someone holds or waits for it. */
class KeyedGates {
  private readonly gates = new Map<string, { gate: Gate; users: number }>();

  enter(key: string): Gate {
    let entry = this.gates.get(key);
    if (!entry) {
      entry = { gate: new Gate(1), users: 0 };
      this.gates.set(key, entry);
    }
    entry.users += 1;
    return entry.gate;
  }

  leave(key: string): void {
    const entry = this.gates.get(key);
    if (entry && --entry.users === 0) this.gates.delete(key);
  }
}
