import { sql } from "drizzle-orm";
import { bigint, boolean, check, index, integer, pgTable, primaryKey, text, timestamp, uniqueIndex } from "drizzle-orm/pg-core";

/**
 * One row per (sdkAppId, originId): the LCIC user we registered or adopted for that key.
 *
 * A row is written *before* LCIC is called (status `pending`, no user_id yet): that is the record of
 * intent which lets a crashed or timed-out registration be completed later without creating a
 * second LCIC user. It becomes `registered` once LCIC's user id is known.
 */
export const classroomUsers = pgTable(
  "classroom_users",
  {
    id: bigint("id", { mode: "number" }).primaryKey().generatedAlwaysAsIdentity(),
    sdkAppId: bigint("sdk_app_id", { mode: "number" }).notNull(),
    originId: text("origin_id").notNull(),
    /** LCIC's user id; null only while the registration is pending. */
    userId: text("user_id"),
    name: text("name"),
    avatar: text("avatar"),
    status: text("status", { enum: ["pending", "registered"] }).notNull().default("pending"),
    /** AES-256-GCM ciphertext of the LCIC login token (see users/tokens.ts); never the plain token. */
    tokenCiphertext: text("token_ciphertext"),
    tokenExpiresAt: timestamp("token_expires_at", { withTimezone: true }),
    /** LCIC's RequestId of the call that produced the user or its current token. */
    lcicRequestId: text("lcic_request_id"),
    /** Whether we generated the originId because the caller gave none. */
    originIdGenerated: boolean("origin_id_generated").notNull().default(false),
    /** How many times a registration was attempted for this row (for reconciliation). */
    attempts: integer("attempts").notNull().default(0),
    lastError: text("last_error"),
    /** How many reconciler sweeps failed on this pending row in a row (drives its backoff). */
    reconcileFailures: integer("reconcile_failures").notNull().default(0),
    /** The reconciler leaves this pending row alone until then (backoff after failures); null: due. */
    reconcileNotBefore: timestamp("reconcile_not_before", { withTimezone: true }),
    /**
     * Set on rows whose intent was recorded by a bulk registration (`registerClassroomUsers`): the
     * request's id. Such a row was (or may have been) sent in a BatchRegister, which overwrites by
     * OriginId, so completing it means sending it again (see users/bulk-registration.ts).
     */
    batchId: text("batch_id"),
    /**
     * When a login token was last handed to this user (a registration returning a token, or
     * `issueClassroomUserToken`). Token warming keeps tokens fresh for users seen recently.
     */
    lastLoginAt: timestamp("last_login_at", { withTimezone: true }),
    /**
     * Set (committed) before a delete sends LCIC's DeleteUser for this row's user, cleared when LCIC
     * refused it. A row still carrying it once stale (both replies lost, or the process died before
     * the erasure) is finished by the reconciler: DeleteUser again ("not found" means the first one
     * worked), then the erasure (see users/deletion.ts).
     */
    deletionRequestedAt: timestamp("deletion_requested_at", { withTimezone: true }),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex("classroom_users_sdk_app_id_origin_id_key").on(t.sdkAppId, t.originId),
    uniqueIndex("classroom_users_user_id_key").on(t.userId),
    index("classroom_users_pending_idx").on(t.updatedAt).where(sql`${t.status} = 'pending'`),
    // `classroomUsers` pages through one application's registered users by id (keyset, no OFFSET).
    index("classroom_users_listing_idx").on(t.sdkAppId, t.id).where(sql`${t.status} = 'registered'`),
    // Token warming's scan: registered users by token expiry (null first: never had one).
    index("classroom_users_token_expiry_idx").on(t.tokenExpiresAt).where(sql`${t.status} = 'registered'`),
    // The reconciler's scan for deletions to finish (few rows, if any).
    index("classroom_users_deletion_requested_idx").on(t.deletionRequestedAt).where(sql`${t.deletionRequestedAt} is not null`),
    check("classroom_users_registered_has_user_id", sql`${t.status} <> 'registered' OR ${t.userId} IS NOT NULL`),
  ],
);

export type ClassroomUserRow = typeof classroomUsers.$inferSelect;

/**
 * What is left of a deleted classroom user: ids and time, no personal data (name, avatar and token
 * were erased with its `classroom_users` row). It makes a repeated delete (after a lost reply) a
 * success, and lets lookups answer "not found" without asking LCIC about a user it no longer has.
 * One row per LCIC userId (never reused); an originId registered again gets a new userId.
 */
export const classroomUserTombstones = pgTable(
  "classroom_user_tombstones",
  {
    userId: text("user_id").primaryKey(),
    sdkAppId: bigint("sdk_app_id", { mode: "number" }).notNull(),
    originId: text("origin_id").notNull(),
    deletedAt: timestamp("deleted_at", { withTimezone: true }).notNull().defaultNow(),
    /** LCIC's RequestId of the DeleteUser call, when LCIC answered it. */
    lcicRequestId: text("lcic_request_id"),
  },
  (t) => [index("classroom_user_tombstones_origin_idx").on(t.sdkAppId, t.originId)],
);

export type ClassroomUserTombstoneRow = typeof classroomUserTombstones.$inferSelect;
export type NewClassroomUserRow = typeof classroomUsers.$inferInsert;

/**
 * The shared LCIC pacer's state (see lcic/pacer.ts): one row per rate-limit key (an LCIC action, or an
 * action and SdkAppId), holding the earliest time the next call may be sent. Every replica reserves its
 * slot here in one atomic upsert, so the pace holds for the whole deployment, not per process.
 */
export const lcicRateLimits = pgTable("lcic_rate_limits", {
  key: text("key").primaryKey(),
  /**
   * Microseconds since the Unix epoch (on the pacer's clock). Microseconds, not milliseconds, because
   * the spacing is fractional (1000 ms / 18 = 55.6 ms) and rounding each step would drift the rate.
   */
  nextSlotUs: bigint("next_slot_us", { mode: "number" }).notNull(),
});

export type LcicRateLimitRow = typeof lcicRateLimits.$inferSelect;

/**
 * Fixed-window counters of registrations per client (JWT subject, else network address), shared by
 * every replica so the per-client limit holds however requests are spread. Rows of past windows are
 * only history; the limiter deletes old ones now and then.
 */
export const registrationRateLimits = pgTable(
  "registration_rate_limits",
  {
    clientKey: text("client_key").notNull(),
    windowStart: timestamp("window_start", { withTimezone: true }).notNull(),
    count: integer("count").notNull().default(0),
  },
  (t) => [primaryKey({ name: "registration_rate_limits_pkey", columns: [t.clientKey, t.windowStart] }), index("registration_rate_limits_window_start_idx").on(t.windowStart)],
);

/**
 * Lookups LCIC answered "no such user" to, remembered by every replica until `expires_at`
 * (LOOKUP_MISS_TTL_MS), so repeated lookups of unknown users do not spend LCIC's budget. `key` is
 * `u:<userId>` or `o:<sdkAppId>:<originId>`.
 */
export const lookupMisses = pgTable(
  "lookup_misses",
  {
    key: text("key").primaryKey(),
    expiresAt: timestamp("expires_at", { withTimezone: true }).notNull(),
  },
  (t) => [index("lookup_misses_expires_at_idx").on(t.expiresAt)],
);
