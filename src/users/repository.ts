import { and, eq, inArray, lt, sql } from "drizzle-orm";
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

export class LockTimeoutError extends Error {
  override readonly name = "LockTimeoutError";
}

/** SQL for classroom users. Knows nothing about LCIC or GraphQL. */
export class UsersRepository {
  // Hot-path lookups are prepared once: unprepared Drizzle queries cost an extra round trip and a re-plan.
  private readonly byUserId;
  private readonly byOriginId;

  constructor(
    private readonly db: Database,
    /** The pool itself, for the reserved connections that hold advisory locks. */
    private readonly pool: postgres.Sql,
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
  }

  async findByUserId(userId: string): Promise<ClassroomUserRow | undefined> {
    const [row] = await this.byUserId.execute({ userId });
    return row;
  }

  async findByOriginId(sdkAppId: number, originId: string): Promise<ClassroomUserRow | undefined> {
    const [row] = await this.byOriginId.execute({ sdkAppId, originId });
    return row;
  }

  /** Registered users with these ids, in one query (for batched entity resolution). */
  async findManyByUserIds(userIds: readonly string[]): Promise<ClassroomUserRow[]> {
    if (userIds.length === 0) return [];
    return this.db.select().from(classroomUsers).where(inArray(classroomUsers.userId, [...userIds]));
  }

  /** Rows for these (sdkAppId, originId) keys, in one query. */
  async findManyByOriginIds(keys: ReadonlyArray<{ sdkAppId: number; originId: string }>): Promise<ClassroomUserRow[]> {
    if (keys.length === 0) return [];
    // A row-value IN list: Drizzle's builder has no tuple comparison.
    const tuples = sql.join(
      keys.map((k) => sql`(${k.sdkAppId}::bigint, ${k.originId}::text)`),
      sql`, `,
    );
    return this.db
      .select()
      .from(classroomUsers)
      .where(sql`(${classroomUsers.sdkAppId}, ${classroomUsers.originId}) in (${tuples})`);
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
   * A session-level advisory lock on a reserved connection: it is released when `fn` settles or,
   * if the process dies, when PostgreSQL drops the connection. Writes inside `fn` autocommit, so the
   * record of an attempt survives a crash in the middle of the LCIC call.
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
    const conn = await this.pool.reserve();
    let locked = false;
    try {
      // Advisory locks are PostgreSQL functions that Drizzle's builder cannot express.
      if (options.wait === false) {
        const [row] = await conn<{ ok: boolean }[]>`select pg_try_advisory_lock(${LOCK_NAMESPACE}, hashtext(${lockKey})) as ok`;
        if (!row?.ok) return undefined;
      } else {
        try {
          await conn`select set_config('lock_timeout', ${`${Math.max(1, Math.round(options.timeoutMs))}ms`}, false)`;
          await conn`select pg_advisory_lock(${LOCK_NAMESPACE}, hashtext(${lockKey}))`;
        } catch (error) {
          if ((error as { code?: string }).code === "55P03") throw new LockTimeoutError("timed out waiting for the registration lock");
          throw error;
        }
      }
      locked = true;
      return await fn();
    } finally {
      try {
        if (locked) await conn`select pg_advisory_unlock(${LOCK_NAMESPACE}, hashtext(${lockKey}))`;
        await conn`select set_config('lock_timeout', '0', false)`;
        conn.release();
      } catch {
        // A broken connection loses its locks with it; do not return it to the pool.
        conn.release();
      }
    }
  }
}
