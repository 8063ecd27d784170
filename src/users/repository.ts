import DataLoader from "dataloader";
import { and, asc, desc, eq, getTableColumns, is, Param, Placeholder, gt, gte, ilike, inArray, isNotNull, isNull, like, lt, lte, or, sql, type SQL } from "drizzle-orm";
import type postgres from "postgres";
import type { Database } from "../db/client.js";
import { classroomUserTombstones, classroomUsers, lookupMisses, type ClassroomUserRow, type ClassroomUserTombstoneRow } from "../db/schema.js";

export type { ClassroomUserRow, ClassroomUserTombstoneRow };

/** last_login_at is written at most this often per user (recordLogin). */
export const LOGIN_RECORD_INTERVAL_MS = 3_600_000;

/** Fields written when LCIC has told us who the user is. */
export interface RegisteredFields {
  userId: string;
  name?: string | null;
  avatar?: string | null;
  tokenCiphertext?: string | null;
  tokenExpiresAt?: Date | null;
  lcicRequestId?: string | null;
}

/** classroom_users' columns in the order `select()` lists them: [property, column]. */
const ROW_COLUMNS = Object.entries(getTableColumns(classroomUsers));

/**
 * A whole-row select of classroom_users that Drizzle built, run as a prepared statement by
 * postgres.js, each row mapped by the columns' own `mapFromDriverValue` (as Drizzle does) but
 * without Drizzle's generic per-cell walk (entity checks, path iteration): that walk was ~10% of
 * an `_entities` request's CPU for 100 rows. The SQL text and the mapping stay Drizzle's.
 */
class PreparedRowsQuery {
  private readonly text: string;
  private readonly slots: Array<(values: Record<string, unknown>) => unknown>;

  constructor(
    private readonly client: postgres.Sql,
    query: { toSQL(): { sql: string; params: unknown[] } },
  ) {
    const { sql: text, params } = query.toSQL();
    // The mapping relies on the select list being every column in ROW_COLUMNS' order: refuse to start otherwise.
    const expected = `select ${ROW_COLUMNS.map(([, column]) => `"${column.name}"`).join(", ")} from "classroom_users"`;
    if (!text.startsWith(expected)) throw new Error(`unexpected select list for a prepared classroom_users query: ${text.slice(0, 200)}`);
    this.text = text;
    // Drizzle's `fillPlaceholders`, decided once per parameter here instead of checking every
    // parameter's entity kind on every call: the same values, the same errors.
    this.slots = params.map((param): ((values: Record<string, unknown>) => unknown) => {
      if (is(param, Placeholder)) return (values) => valueOf(values, param.name);
      if (is(param, Param) && is(param.value, Placeholder)) {
        const { encoder } = param;
        const name = param.value.name;
        return (values) => encoder.mapToDriverValue(valueOf(values, name));
      }
      return () => param;
    });
  }

  // `.then` on postgres.js' query rather than `await` in an async function: awaiting its (non-native)
  // thenable costs two more promises per query.
  execute(values: Record<string, unknown>): Promise<ClassroomUserRow[]> {
    return this.run(values).then((rows) => rows.map(toRow));
  }

  /** The first row, if any. */
  first(values: Record<string, unknown>): Promise<ClassroomUserRow | undefined> {
    return this.run(values).then((rows) => (rows.length > 0 ? toRow(rows[0]!) : undefined));
  }

  private run(values: Record<string, unknown>) {
    const args = new Array<unknown>(this.slots.length);
    for (let i = 0; i < args.length; i++) args[i] = this.slots[i]!(values);
    return this.client.unsafe(this.text, args as postgres.ParameterOrJSON<never>[], { prepare: true }).values();
  }
}

function valueOf(values: Record<string, unknown>, name: string): unknown {
  if (!(name in values)) throw new Error(`No value for placeholder "${name}" was provided`);
  return values[name];
}

function toRow(values: unknown[]): ClassroomUserRow {
  const row: Record<string, unknown> = {};
  for (let i = 0; i < ROW_COLUMNS.length; i++) {
    const [key, column] = ROW_COLUMNS[i]!;
    const value = values[i];
    row[key] = value === null || value === undefined ? null : column.mapFromDriverValue(value);
  }
  return row as ClassroomUserRow;
}

/** A user's key within an application. */
export interface OriginKey {
  sdkAppId: number;
  originId: string;
}

/** An (sdkAppId, originId) key as one Map key: `_entities`' references and the batched reads match rows by it. */
export function originKey(key: OriginKey): string {
  return `${key.sdkAppId}\u0000${key.originId}`;
}

/** The reconciler's listings (pending registrations, unfinished deletes): rows not deferred past `now` (deferReconciliation). */
const reconcilerMayTakeAt = (now: Date) => or(isNull(classroomUsers.reconcileNotBefore), lte(classroomUsers.reconcileNotBefore, now));
/** ... and their order: rows never deferred first, then those deferred longest ago. */
const NEVER_DEFERRED_FIRST = sql`${classroomUsers.reconcileNotBefore} asc nulls first`;

/**
 * Single-row reads by a unique key, batched across requests: every read started while the event loop
 * handles one round of ready sockets goes out in one statement when that round is done (DataLoader,
 * scheduled with setImmediate, no cache). A key read alone uses the single-key statement. Each read
 * gets its own key's row: rows are matched back by the key's text.
 */
class RowBatches<K> {
  private readonly loader: DataLoader<K, ClassroomUserRow | undefined>;

  constructor(
    one: (key: K) => Promise<ClassroomUserRow | undefined>,
    many: (keys: readonly K[]) => Promise<ClassroomUserRow[]>,
    textOfKey: (key: K) => string,
    textOfRow: (row: ClassroomUserRow) => string,
  ) {
    this.loader = new DataLoader(
      (keys) => {
        if (keys.length === 1) return one(keys[0]!).then((row) => [row]);
        return many(keys).then((rows) => {
          const byKey = new Map<string, ClassroomUserRow>();
          for (const row of rows) byKey.set(textOfRow(row), row);
          return keys.map((key) => byKey.get(textOfKey(key)));
        });
      },
      { cache: false, batchScheduleFn: (dispatch) => setImmediate(dispatch), maxBatchSize: 500 },
    );
  }

  load(key: K): Promise<ClassroomUserRow | undefined> {
    return this.loader.load(key);
  }
}

/** SQL for classroom users. Knows nothing about LCIC or GraphQL. */
export class UsersRepository {
  // Hot-path lookups are prepared once: unprepared Drizzle queries cost an extra round trip and a re-plan.
  private readonly byUserId: PreparedRowsQuery;
  private readonly byOriginId: PreparedRowsQuery;
  private readonly byReferences: PreparedRowsQuery;
  private readonly byOriginIds: PreparedRowsQuery;
  private readonly byUserIds: PreparedRowsQuery;
  private readonly originIdBatches: RowBatches<OriginKey>;
  private readonly userIdBatches: RowBatches<string>;
  private readonly firstAttempt;
  private readonly registeredWithToken;

  constructor(private readonly db: Database) {
    const client = (db as Database & { $client: postgres.Sql }).$client;
    this.byUserId = new PreparedRowsQuery(
      client,
      db
        .select()
        .from(classroomUsers)
        .where(eq(classroomUsers.userId, sql.placeholder("userId")))
        .limit(1),
    );
    this.byOriginId = new PreparedRowsQuery(
      client,
      db
        .select()
        .from(classroomUsers)
        .where(and(eq(classroomUsers.sdkAppId, sql.placeholder("sdkAppId")), eq(classroomUsers.originId, sql.placeholder("originId"))))
        .limit(1),
    );
    // Prepared with the keys as arrays, so any mix of references is one statement with one plan
    // (a query built per request with 100 literal keys cost more in Drizzle's builder than in
    // PostgreSQL). Raw SQL for what Drizzle's builder cannot express: `= any(array)` and a join
    // with unnest(); each half uses its unique index, then the row is read by primary key.
    this.byReferences = new PreparedRowsQuery(
      client,
      db
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
        ),
    );
    // Many keys in one statement: the batched reads' (RowBatches).
    this.byOriginIds = new PreparedRowsQuery(
      client,
      db
        .select()
        .from(classroomUsers)
        .where(
          sql`(${classroomUsers.sdkAppId}, ${classroomUsers.originId}) in (
            select * from unnest(${sql.placeholder("sdkAppIds")}::bigint[], ${sql.placeholder("originIds")}::text[])
          )`,
        ),
    );
    this.byUserIds = new PreparedRowsQuery(
      client,
      db
        .select()
        .from(classroomUsers)
        .where(sql`${classroomUsers.userId} = any(${sql.placeholder("userIds")}::text[])`),
    );
    this.originIdBatches = new RowBatches<OriginKey>(
      (key) => this.findByOriginId(key.sdkAppId, key.originId),
      (keys) => this.byOriginIds.execute({ sdkAppIds: keys.map((k) => k.sdkAppId), originIds: keys.map((k) => k.originId) }),
      originKey,
      originKey,
    );
    this.userIdBatches = new RowBatches<string>(
      (userId) => this.findByUserId(userId),
      (userIds) => this.byUserIds.execute({ userIds: [...userIds] }),
      (userId) => userId,
      (row) => row.userId ?? "",
    );
    // recordFirstAttempt. `excluded` (raw SQL) is the row proposed for insertion, which Drizzle's
    // builder cannot name.
    this.firstAttempt = db
      .insert(classroomUsers)
      .values({
        sdkAppId: sql.placeholder("sdkAppId"),
        originId: sql.placeholder("originId"),
        name: sql.placeholder("name"),
        avatar: sql.placeholder("avatar"),
        originIdGenerated: sql.placeholder("originIdGenerated"),
        status: "pending",
        attempts: 1,
        updatedAt: sql.placeholder("now"),
      })
      .onConflictDoUpdate({
        target: [classroomUsers.sdkAppId, classroomUsers.originId],
        set: { attempts: sql`${classroomUsers.attempts} + 1`, name: sql`excluded.name`, avatar: sql`excluded.avatar`, updatedAt: sql`excluded.updated_at` },
        // Not a row whose delete was requested: the registration finishes that delete first.
        setWhere: sql`${classroomUsers.status} = 'pending' and ${classroomUsers.attempts} = 0 and ${classroomUsers.deletionRequestedAt} is null`,
      })
      .returning()
      .prepare("classroom_users_first_attempt");
    // markRegisteredWithToken: a registration's last write before its answer. Unprepared, Drizzle's
    // update cost the caller a second round trip (postgres.js asks for the parameter types first).
    // (Drizzle's update `set` takes placeholders only inside sql``.)
    this.registeredWithToken = db
      .update(classroomUsers)
      .set({
        userId: sql`${sql.placeholder("userId")}`,
        name: sql`${sql.placeholder("name")}`,
        avatar: sql`${sql.placeholder("avatar")}`,
        tokenCiphertext: sql`${sql.placeholder("tokenCiphertext")}`,
        tokenExpiresAt: sql`${sql.placeholder("tokenExpiresAt")}`,
        lcicRequestId: sql`${sql.placeholder("lcicRequestId")}`,
        lastLoginAt: sql`${sql.placeholder("lastLoginAt")}`,
        status: "registered",
        lastError: null,
        updatedAt: sql`${sql.placeholder("now")}`,
      })
      .where(eq(classroomUsers.id, sql.placeholder("id")))
      .returning()
      .prepare("classroom_users_registered_with_token");
  }

  findByUserId(userId: string): Promise<ClassroomUserRow | undefined> {
    return this.byUserId.first({ userId });
  }

  findByOriginId(sdkAppId: number, originId: string): Promise<ClassroomUserRow | undefined> {
    return this.byOriginId.first({ sdkAppId, originId });
  }

  /**
   * findByOriginId's and findByUserId's answers, read together with every other key asked for in the
   * same turn of the event loop (RowBatches): under load, one statement per turn instead of one per
   * lookup. LOOKUP_BATCHING's reads.
   */
  findByOriginIdBatched(sdkAppId: number, originId: string): Promise<ClassroomUserRow | undefined> {
    return this.originIdBatches.load({ sdkAppId, originId });
  }

  findByUserIdBatched(userId: string): Promise<ClassroomUserRow | undefined> {
    return this.userIdBatches.load(userId);
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
   * The record of intent: inserts a `pending` row for the key unless the key has a row, committed
   * before LCIC is called, so that a crash between LCIC's success and our write leaves a trace to
   * complete. Returns the key's row: the new pending one, or the existing one, pending or registered.
   */
  async findOrInsertPending(input: {
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

  /**
   * The record of intent and of the first attempt in one statement, for the holder of the key's lock
   * about to send the first RegisterUser: inserts a `pending` row with `attempts = 1`, or counts the
   * attempt on the key's pending row if no attempt was ever made for it (`attempts = 0`: nothing can
   * have reached LCIC). Committed when it returns. Returns undefined, writing nothing, when the key's
   * row is registered or has attempts already: the caller reads it and decides.
   */
  async recordFirstAttempt(input: {
    sdkAppId: number;
    originId: string;
    name: string | null;
    avatar: string | null;
    originIdGenerated: boolean;
  }): Promise<ClassroomUserRow | undefined> {
    const [row] = await this.firstAttempt.execute({ ...input, now: new Date() });
    return row;
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

  /** `lastLoginAt`: the registration hands the caller a token (see recordLogin); absent, it is left as is. */
  async markRegistered(id: number, fields: RegisteredFields & { lastLoginAt?: Date }): Promise<ClassroomUserRow> {
    const [row] = await this.db
      .update(classroomUsers)
      .set({ ...fields, status: "registered", lastError: null, updatedAt: new Date() })
      .where(eq(classroomUsers.id, id))
      .returning();
    if (!row) throw new Error("classroom user row vanished");
    return row;
  }

  /**
   * markRegistered with every field given (a registration that got its user and token from LCIC and
   * hands the token out), as one prepared statement.
   */
  async markRegisteredWithToken(
    id: number,
    fields: { userId: string; name: string | null; avatar: string | null; tokenCiphertext: string; tokenExpiresAt: Date; lcicRequestId: string | null; lastLoginAt: Date },
  ): Promise<ClassroomUserRow> {
    // Inside sql`` the placeholders skip the columns' own mapping: timestamps go as ISO text, as Drizzle sends them.
    const [row] = await this.registeredWithToken.execute({
      ...fields,
      tokenExpiresAt: fields.tokenExpiresAt.toISOString(),
      lastLoginAt: fields.lastLoginAt.toISOString(),
      id,
      now: new Date().toISOString(),
    });
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

  /**
   * Notes that a token was handed to the user (a login): token warming keeps recent users' tokens fresh.
   * At most one write an hour per user (LOGIN_RECORD_INTERVAL_MS), so registrations returning a stored
   * user stay cheap; `known` (the row as last read) skips the statement when it already shows a login
   * within that hour (last_login_at only moves forward).
   */
  async recordLogin(id: number, at: Date, known?: { lastLoginAt: Date | null }): Promise<void> {
    const since = new Date(at.getTime() - LOGIN_RECORD_INTERVAL_MS);
    if (known?.lastLoginAt && known.lastLoginAt >= since) return;
    await this.db
      .update(classroomUsers)
      .set({ lastLoginAt: at })
      .where(and(eq(classroomUsers.id, id), or(isNull(classroomUsers.lastLoginAt), lt(classroomUsers.lastLoginAt, since))));
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
   * Stores a user that LCIC knows but we did not (registered outside this service), unless the key
   * already has a row (pending or registered), which is left untouched. Returns the inserted row, or
   * undefined when the key had one. A userId already stored under another key violates
   * `classroom_users_user_id_key` (the caller reads that row).
   */
  async insertRegisteredIfAbsent(sdkAppId: number, originId: string, fields: RegisteredFields): Promise<ClassroomUserRow | undefined> {
    const [row] = await this.db
      .insert(classroomUsers)
      .values({ sdkAppId, originId, ...fields, status: "registered" })
      .onConflictDoNothing({ target: [classroomUsers.sdkAppId, classroomUsers.originId] })
      .returning();
    return row;
  }

  /**
   * Pending rows the reconciler should look at: unchanged since `staleBefore` and not deferred past
   * `now`. Never-deferred rows first, then by how long they have been due, so rows that keep failing
   * (and are deferred) cannot keep the others from their turn.
   */
  async listPendingDue(staleBefore: Date, now: Date, limit: number): Promise<ClassroomUserRow[]> {
    return this.db
      .select()
      .from(classroomUsers)
      .where(
        and(
          eq(classroomUsers.status, "pending"),
          // A pending row whose delete was requested is finished as a deletion (listDeletionsDue).
          isNull(classroomUsers.deletionRequestedAt),
          lt(classroomUsers.updatedAt, staleBefore),
          reconcilerMayTakeAt(now),
        ),
      )
      .orderBy(NEVER_DEFERRED_FIRST, asc(classroomUsers.updatedAt), asc(classroomUsers.id))
      .limit(limit);
  }

  /** Counts a failed reconciliation of a pending row (or an unfinished delete) and leaves the row alone until `notBefore`. */
  async deferReconciliation(id: number, notBefore: Date): Promise<void> {
    // Not `updated_at`: it says when a request last touched the row, which the staleness rule reads.
    await this.db
      .update(classroomUsers)
      .set({ reconcileFailures: sql`${classroomUsers.reconcileFailures} + 1`, reconcileNotBefore: notBefore })
      .where(and(eq(classroomUsers.id, id), or(eq(classroomUsers.status, "pending"), isNotNull(classroomUsers.deletionRequestedAt))));
  }

  /** Whether LCIC's "no such user" for this lookup key is remembered and not expired at `now`. */
  async isLookupMissRemembered(key: string, now: Date): Promise<boolean> {
    const [row] = await this.db
      .select({ key: lookupMisses.key })
      .from(lookupMisses)
      .where(and(eq(lookupMisses.key, key), gt(lookupMisses.expiresAt, now)))
      .limit(1);
    return row !== undefined;
  }

  async rememberLookupMiss(key: string, expiresAt: Date): Promise<void> {
    await this.db
      .insert(lookupMisses)
      .values({ key, expiresAt })
      .onConflictDoUpdate({ target: lookupMisses.key, set: { expiresAt } });
  }

  /** Drops misses expired before `now`. */
  async pruneLookupMisses(now: Date): Promise<void> {
    await this.db.delete(lookupMisses).where(lte(lookupMisses.expiresAt, now));
  }

  // --- The user's life after registration (profile.ts, deletion.ts, token-issue.ts, listing.ts, sync.ts) ---

  /** The deletion record of a userId, if it was deleted through this service. */
  async findTombstoneByUserId(userId: string): Promise<ClassroomUserTombstoneRow | undefined> {
    const [row] = await this.db.select().from(classroomUserTombstones).where(eq(classroomUserTombstones.userId, userId)).limit(1);
    return row;
  }

  /** The latest deletion record for (sdkAppId, originId), if any. */
  async findTombstoneByOriginId(sdkAppId: number, originId: string): Promise<ClassroomUserTombstoneRow | undefined> {
    const [row] = await this.db
      .select()
      .from(classroomUserTombstones)
      .where(and(eq(classroomUserTombstones.sdkAppId, sdkAppId), eq(classroomUserTombstones.originId, originId)))
      .orderBy(desc(classroomUserTombstones.deletedAt))
      .limit(1);
    return row;
  }

  /**
   * Erases a user: its row (name, avatar, token ciphertext) goes, and a tombstone with its ids and the
   * time stays, in one transaction, so no reader sees the row gone without the tombstone.
   */
  async eraseUser(id: number, tombstone: { userId: string; sdkAppId: number; originId: string; lcicRequestId: string | null }): Promise<ClassroomUserTombstoneRow> {
    return this.db.transaction(async (tx) => {
      await tx.delete(classroomUsers).where(eq(classroomUsers.id, id));
      const [inserted] = await tx.insert(classroomUserTombstones).values(tombstone).onConflictDoNothing().returning();
      if (inserted) return inserted;
      const [existing] = await tx.select().from(classroomUserTombstones).where(eq(classroomUserTombstones.userId, tombstone.userId));
      return existing!;
    });
  }

  /**
   * A delete is about to send DeleteUser for this row's user: recorded (committed) first, so a delete
   * whose outcome is lost (both replies, or the process) is finished by the reconciler. The time of
   * the first request stays when a delete is repeated.
   */
  async markDeletionRequested(id: number, at: Date): Promise<void> {
    await this.db
      .update(classroomUsers)
      .set({ deletionRequestedAt: sql`coalesce(${classroomUsers.deletionRequestedAt}, ${at.toISOString()}::timestamptz)` })
      .where(eq(classroomUsers.id, id));
  }

  /** LCIC refused the DeleteUser (nothing was deleted): the row is a live user's again, backoff reset. */
  async clearDeletionRequest(id: number): Promise<void> {
    await this.db
      .update(classroomUsers)
      .set({ deletionRequestedAt: null, reconcileFailures: 0, reconcileNotBefore: null })
      .where(eq(classroomUsers.id, id));
  }

  /** Rows whose delete was requested before `staleBefore` and never finished (nor refused), due at `now`: the reconciler's. */
  async listDeletionsDue(staleBefore: Date, now: Date, limit: number): Promise<ClassroomUserRow[]> {
    return this.db
      .select()
      .from(classroomUsers)
      .where(
        and(
          lt(classroomUsers.deletionRequestedAt, staleBefore),
          reconcilerMayTakeAt(now),
        ),
      )
      .orderBy(NEVER_DEFERRED_FIRST, asc(classroomUsers.deletionRequestedAt), asc(classroomUsers.id))
      .limit(limit);
  }

  /** Records that LCIC has no user for `userId` any more although nothing of it was stored here. */
  async recordTombstone(tombstone: { userId: string; sdkAppId: number; originId: string; lcicRequestId: string | null }): Promise<ClassroomUserTombstoneRow> {
    const [inserted] = await this.db.insert(classroomUserTombstones).values(tombstone).onConflictDoNothing().returning();
    return inserted ?? (await this.findTombstoneByUserId(tombstone.userId))!;
  }

  /** Removes a row without leaving a tombstone (a pending row whose registration never reached LCIC). */
  async deleteRow(id: number): Promise<void> {
    await this.db.delete(classroomUsers).where(eq(classroomUsers.id, id));
  }

  /** Writes the profile fields given (null clears); the others keep their value. */
  async updateProfile(id: number, fields: { name?: string | null; avatar?: string | null }): Promise<ClassroomUserRow | undefined> {
    const [row] = await this.db
      .update(classroomUsers)
      .set({ ...fields, updatedAt: new Date() })
      .where(eq(classroomUsers.id, id))
      .returning();
    return row;
  }

  /**
   * One page of an application's registered users, in id order after `afterId` (keyset pagination
   * on `classroom_users_listing_idx`: no OFFSET, so rows added or removed meanwhile shift nothing).
   */
  async listRegistered(query: ListQuery, afterId: number | undefined, limit: number): Promise<ClassroomUserRow[]> {
    const where = listConditions(query);
    if (afterId !== undefined) where.push(gt(classroomUsers.id, afterId));
    return this.db.select().from(classroomUsers).where(and(...where)).orderBy(asc(classroomUsers.id)).limit(limit);
  }

  async countRegistered(query: ListQuery): Promise<number> {
    return this.db.$count(classroomUsers, and(...listConditions(query)));
  }

  /** Rows of an application whose userId is one of these (sync compares a page of LCIC's users with them). */
  async findByUserIds(userIds: readonly string[]): Promise<ClassroomUserRow[]> {
    if (userIds.length === 0) return [];
    return this.db.select().from(classroomUsers).where(inArray(classroomUsers.userId, [...userIds]));
  }

  /**
   * Stores users LCIC knows and we do not. Rows whose key or userId is already taken (e.g. a
   * registration of the same originId pending right now) are left alone; returns the rows inserted.
   */
  async insertRegisteredMany(rows: Array<{ sdkAppId: number; originId: string; userId: string; name: string | null; avatar: string | null }>): Promise<ClassroomUserRow[]> {
    if (rows.length === 0) return [];
    return this.db
      .insert(classroomUsers)
      .values(rows.map((r) => ({ ...r, status: "registered" as const })))
      .onConflictDoNothing()
      .returning();
  }

  /** Registered users of an application stored before `before`, by id: what sync compares with LCIC's list. */
  async listRegisteredKeys(sdkAppId: number, before: Date): Promise<Array<{ id: number; userId: string; originId: string }>> {
    const rows = await this.db
      .select({ id: classroomUsers.id, userId: classroomUsers.userId, originId: classroomUsers.originId })
      .from(classroomUsers)
      .where(and(eq(classroomUsers.sdkAppId, sdkAppId), eq(classroomUsers.status, "registered"), lt(classroomUsers.createdAt, before)))
      .orderBy(asc(classroomUsers.id));
    return rows.map((r) => ({ id: r.id, userId: r.userId!, originId: r.originId }));
  }
}

export interface ListQuery {
  sdkAppId: number;
  originIdPrefix?: string | null;
  nameContains?: string | null;
  updatedSince?: Date | null;
}

/** LIKE treats % and _ (and the escape character) as patterns; filters mean them literally. */
function likeLiteral(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

function listConditions(query: ListQuery): SQL[] {
  const where: SQL[] = [eq(classroomUsers.sdkAppId, query.sdkAppId), eq(classroomUsers.status, "registered")];
  if (query.originIdPrefix) where.push(like(classroomUsers.originId, `${likeLiteral(query.originIdPrefix)}%`));
  if (query.nameContains) where.push(ilike(classroomUsers.name, `%${likeLiteral(query.nameContains)}%`));
  if (query.updatedSince) where.push(gte(classroomUsers.updatedAt, query.updatedSince));
  return where;
}
