import { and, asc, eq, isNull, lt, or, sql } from "drizzle-orm";
import type { Database } from "../db/client.js";
import { classroomUsers } from "../db/schema.js";

/** The SQL of token warming (jobs/token-warming.ts): which users need a token soon. */
export class TokenWarmingRepository {
  constructor(private readonly db: Database) {}

  /**
   * Registered users whose stored token is missing or expires before `expiresBefore`, among those
   * seen since `activeSince` (their last login, else their registration): the ones worth a LoginUser.
   * Soonest expiry first, users without a token before all.
   */
  async listDue(expiresBefore: Date, activeSince: Date, limit: number): Promise<Array<{ userId: string }>> {
    const rows = await this.db
      .select({ userId: classroomUsers.userId })
      .from(classroomUsers)
      .where(
        and(
          eq(classroomUsers.status, "registered"),
          or(isNull(classroomUsers.tokenExpiresAt), lt(classroomUsers.tokenExpiresAt, expiresBefore)),
          // coalesce: a user never handed a token counts from its registration. Drizzle has no coalesce.
          sql`coalesce(${classroomUsers.lastLoginAt}, ${classroomUsers.createdAt}) > ${activeSince.toISOString()}::timestamptz`,
        ),
      )
      .orderBy(sql`${classroomUsers.tokenExpiresAt} asc nulls first`, asc(classroomUsers.id))
      .limit(limit);
    return rows.filter((r): r is { userId: string } => r.userId !== null);
  }
}
