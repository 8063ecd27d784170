import { and, eq, isNull, sql } from "drizzle-orm";
import type { Database } from "../db/client.js";
import { classroomUsers, type ClassroomUserRow } from "../db/schema.js";

export interface BulkItem {
  originId: string;
  name: string | null;
  avatar: string | null;
}

/**
 * The SQL of bulk registration: the same `classroom_users` rows as single registration
 * (users/repository.ts), a thousand at a time. Knows nothing about LCIC.
 */
export class BulkRegistrationRepository {
  constructor(private readonly db: Database) {}

  /** The records of intent, committed before LCIC is called; keys that already have a row keep it. */
  async ensurePendingMany(sdkAppId: number, items: readonly BulkItem[], batchId: string): Promise<void> {
    if (items.length === 0) return;
    // INSERT … SELECT FROM unnest(…): three array parameters instead of seven per row (measured: a
    // 1,000-row multi-VALUES insert took 300–1,000 ms, mostly building, parsing and planning it).
    await this.db.execute(sql`
      insert into ${classroomUsers} (sdk_app_id, origin_id, name, avatar, status, batch_id)
      select ${sdkAppId}::bigint, v.origin_id, v.name, v.avatar, 'pending', ${batchId}
        from unnest(${sql.param(items.map((i) => i.originId))}::text[], ${sql.param(items.map((i) => i.name))}::text[], ${sql.param(items.map((i) => i.avatar))}::text[]) as v(origin_id, name, avatar)
      on conflict (sdk_app_id, origin_id) do nothing`);
  }

  /**
   * Counts one BatchRegister attempt on each pending row, with the profile about to be sent and the
   * batch's id; committed before the call. */
  async recordAttemptMany(
    rows: ReadonlyArray<{ id: number; name: string | null; avatar: string | null }>,
    batchId: string,
    /** false for the reconciler: its own attempt must not make the rows look freshly touched by a request. */
    touch = true,
  ): Promise<void> {
    if (rows.length === 0) return;
    // UPDATE … FROM unnest(…): one statement for per-row values, which Drizzle's builder cannot express.
    await this.db.execute(sql`
      update ${classroomUsers} as c
         set attempts = c.attempts + 1, name = v.name, avatar = v.avatar, batch_id = ${batchId}, updated_at = ${touch ? sql`now()` : sql`c.updated_at`}
        from unnest(${sql.param(rows.map((r) => r.id))}::bigint[], ${sql.param(rows.map((r) => r.name))}::text[], ${sql.param(rows.map((r) => r.avatar))}::text[]) as v(id, name, avatar)
       where c.id = v.id and c.status = 'pending'`);
  }

  /** Takes back an attempt that was certainly not sent (our pacer refused it before the call). */
  async unrecordAttemptMany(ids: readonly number[]): Promise<void> {
    if (ids.length === 0) return;
    await this.db
      .update(classroomUsers)
      .set({ attempts: sql`greatest(${classroomUsers.attempts} - 1, 0)` })
      .where(and(sql`${classroomUsers.id} = any(${sql.param([...ids])}::bigint[])`, eq(classroomUsers.status, "pending")));
  }

  /** Pending rows become registered with the userIds LCIC answered. Returns the stored rows. */
  async markRegisteredMany(rows: ReadonlyArray<{ id: number; userId: string }>, lcicRequestId: string | null): Promise<ClassroomUserRow[]> {
    if (rows.length === 0) return [];
    // UPDATE … FROM unnest(…) RETURNING: per-row values in one statement, the rows back without a second query.
    const updated = await this.db
      .update(classroomUsers)
      .set({ status: "registered", userId: sql`v.user_id`, lastError: null, lcicRequestId, updatedAt: new Date() })
      .from(sql`unnest(${sql.param(rows.map((r) => r.id))}::bigint[], ${sql.param(rows.map((r) => r.userId))}::text[]) as v(id, user_id)`)
      .where(sql`${classroomUsers.id} = v.id`)
      .returning();
    return updated as unknown as ClassroomUserRow[];
  }

  /**
   * Registered rows among these keys: what a bulk registration answers without calling LCIC. Not rows
   * whose delete was requested and never finished: the batch finishes those deletes first, under its locks.
   */
  async findRegistered(sdkAppId: number, originIds: readonly string[]): Promise<ClassroomUserRow[]> {
    if (originIds.length === 0) return [];
    return this.db
      .select()
      .from(classroomUsers)
      .where(
        and(
          eq(classroomUsers.sdkAppId, sdkAppId),
          eq(classroomUsers.status, "registered"),
          isNull(classroomUsers.deletionRequestedAt),
          sql`${classroomUsers.originId} = any(${sql.param([...originIds])}::text[])`,
        ),
      );
  }

  /**
   * What a batch decides on under its locks: each key's row id, status, attempts and whether a delete
   * of it was requested and never finished (no profile, no token).
   */
  async findStates(
    sdkAppId: number,
    originIds: readonly string[],
  ): Promise<Array<{ id: number; originId: string; status: "pending" | "registered"; attempts: number; deletionRequested: boolean }>> {
    if (originIds.length === 0) return [];
    return this.db
      .select({
        id: classroomUsers.id,
        originId: classroomUsers.originId,
        status: classroomUsers.status,
        attempts: classroomUsers.attempts,
        deletionRequested: sql<boolean>`${classroomUsers.deletionRequestedAt} is not null`,
      })
      .from(classroomUsers)
      .where(and(eq(classroomUsers.sdkAppId, sdkAppId), sql`${classroomUsers.originId} = any(${sql.param([...originIds])}::text[])`));
  }

  async recordFailureMany(ids: readonly number[], code: string): Promise<void> {
    if (ids.length === 0) return;
    await this.db.update(classroomUsers).set({ lastError: code, updatedAt: new Date() }).where(sql`${classroomUsers.id} = any(${sql.param([...ids])}::bigint[])`);
  }

  /** Removes pending rows whose registration certainly did not happen. */
  async deletePendingMany(ids: readonly number[]): Promise<void> {
    if (ids.length === 0) return;
    await this.db.delete(classroomUsers).where(and(sql`${classroomUsers.id} = any(${sql.param([...ids])}::bigint[])`, eq(classroomUsers.status, "pending")));
  }
}
