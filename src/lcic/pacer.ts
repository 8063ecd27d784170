/**
 * The deployment-wide pacer for outgoing LCIC calls.
 *
 * LCIC limits each action to a number of requests per second (20/s for the user actions, 10/s for
 * BatchRegister; see LCIC-NOTES §1). Several replicas share one LCIC account, so the pace cannot live
 * in one process's memory: it lives in PostgreSQL, in `lcic_rate_limits`.
 *
 * Algorithm: "next free slot" (GCRA with no burst). Each key has one row holding the earliest time the
 * next call may be sent. A caller reserves `max(next, now)` and moves `next` one interval on, in a
 * single atomic upsert; then it sleeps until its slot. Consecutive slots are therefore at least one
 * interval apart whatever the number of replicas, and the row lock taken by `ON CONFLICT DO UPDATE`
 * serialises concurrent reservations. If the wait would exceed `maxQueueMs`, the upsert's `WHERE`
 * rejects it, nothing is reserved, and the caller gets a `rate_limited` LcicError whose
 * `retryAfterMs` is the time until a slot within the bound frees up.
 *
 * Clock: by default the slot arithmetic uses PostgreSQL's `clock_timestamp()`, one clock for all
 * replicas, and replicas only ever sleep *durations* the database computed. Replica clocks that
 * disagree would otherwise squeeze the spacing by their skew. `clock_timestamp()` rather than
 * `statement_timestamp()`: the SET, WHERE and RETURNING expressions run after the row lock is
 * taken, so under contention they see the time the slot is actually granted, not the time the
 * statement started waiting for the lock (which would hand out slots already in the past and
 * squeeze the spacing by the lock wait). Its few microseconds of drift within one statement only
 * make the returned wait shorter than the one checked against the bound, never longer.
 * Tests inject `now`; production should not (an injected clock sees neither skew nor lock waits).
 *
 * Late wake-ups: a slot is a promise to send *at* a time, not after it (the same holds for a caller's
 * `ready` work finishing after its slot: see AcquireOptions.ready). When the event loop stalls
 * (GC, a CPU-bound request, a suspended VM), several callers whose slots fell inside the stall wake
 * together and would send in one burst, more than the limit in one second. So a caller that wakes
 * more than one interval after its slot (measured as a local duration: the sleep actually taken
 * minus the wait the pacer asked for, so no clock skew enters) abandons that slot and reserves
 * again, with its full bound (the stall was not its doing). The abandoned slot is wasted, never
 * doubled. Sends then fall within one interval after slots spaced one interval apart, so any
 * one-second window holds at most one call over the paced rate (18 + 1 ≤ 20); a tighter tolerance
 * would re-queue calls whose timers merely fired a few ms late on a busy machine.
 *
 * Priorities, within this one pacer and its one row per key (LCIC's budget is one):
 * - `interactive` (default): a registration a person waits for; queues up to `maxQueueMs`.
 * - `lookup`: a read falling back to LCIC; takes a slot only when at most `lookupQueueSlots` calls
 *   (default 2) are booked ahead of it, otherwise is refused at once (`Lcic.QueueFull`, retryAfterMs
 *   = when the queue will be that short again). Lookups never build a queue in front of
 *   registrations: an interactive call waits at most that many extra slots however many lookups arrive.
 * - `background`: jobs (reconciler, token warming); takes a slot only when nothing is booked ahead
 *   (the key is idle: its slot is now), otherwise is refused at once with retryAfterMs = when the
 *   booked queue drains. It does not wait or poll: the job retries on its own schedule. An
 *   interactive call arriving just after it is delayed by that one slot at most.
 * The priority only narrows the bound a reservation is checked against; the statement is the same.
 */
import { eq, sql, type SQL } from "drizzle-orm";
import type { Database } from "../db/client.js";
import { lcicRateLimits } from "../db/schema.js";
import type { LcicAction, LcicPriority } from "./client.js";
import { systemSleep, type Now, type Sleep } from "./clock.js";
import { isLcicError, LcicError } from "./errors.js";

/** Our code for "we refused to queue this call any longer"; `kind` is `rate_limited`. */
export const LCIC_QUEUE_FULL = "Lcic.QueueFull";

/** Our code when the pacer itself failed (its PostgreSQL was unreachable): nothing was sent. */
export const LCIC_PACER_UNAVAILABLE = "Lcic.PacerUnavailable";

/** LCIC's documented per-action limits, requests per second (LCIC-NOTES §1). */
export const LCIC_PUBLISHED_RATE_LIMITS: Readonly<Record<LcicAction, number>> = {
  RegisterUser: 20,
  // Tencent's material says 10/s in the SDK and doc description, 20/s in the page footer: take the safer.
  BatchRegister: 10,
  DescribeUser: 20,
  LoginUser: 20,
  LoginOriginId: 20,
  ModifyUserProfile: 20,
  DeleteUser: 20,
  DescribeSdkAppIdUsers: 20,
};

/**
 * Fraction of the published limit we actually pace at. Calls leave on an exact grid but reach LCIC
 * with network jitter, so two can land in the same LCIC one-second window; 10% headroom (18/s for
 * 20/s) absorbs that without measurable cost.
 */
export const DEFAULT_PACING_HEADROOM = 0.9;

/** Default for `lookupQueueSlots`: a lookup may queue behind at most this many booked calls. */
export const DEFAULT_LOOKUP_QUEUE_SLOTS = 2;

/**
 * How the rate-limit keys are scoped (`LCIC_RATE_LIMIT_SCOPE`). LCIC documents its limits per
 * action ("20 requests a second") and nowhere per application, so `action` (one budget per action
 * for the whole deployment, whatever the SdkAppId) is the default; `action-and-app` paces the actions
 * that name an SdkAppId per application, for an account LCIC limits per application.
 */
export type LcicRateLimitScope = "action" | "action-and-app";

/** Actions whose request names one SdkAppId; paced per application only in scope `action-and-app`. */
const ACTIONS_WITH_SDK_APP_ID: ReadonlySet<LcicAction> = new Set(["RegisterUser", "LoginOriginId", "DescribeSdkAppIdUsers"]);

export interface PacerReservation {
  /** How long the caller must wait before sending, in ms (0 when a slot is free now). */
  waitMs: number;
  /** The reserved slot, in ms since the epoch on the pacer's clock. */
  slotAtMs: number;
}

export interface AcquireOptions {
  /** Overrides the pacer's default bound for this call (e.g. a retry with less budget left). */
  maxQueueMs?: number;
  /** Default `interactive`; see the module comment for what the others may take. */
  priority?: LcicPriority;
  signal?: AbortSignal;
  /**
   * Work the caller finishes before sending (CallOptions.ready), run alongside the reservation. Once
   * the slot has come, acquire waits for it too (never rejects: its outcome is the caller's), and a
   * slot it let pass by more than one interval is abandoned and another reserved, as after a late
   * wake-up: the call then still leaves within one interval of its slot.
   */
  ready?: Promise<unknown>;
}

export interface Pacer {
  /**
   * Reserves the next slot for this action (and SdkAppId, where the action takes one) and waits for it.
   * Resolves with the time waited, in ms. Throws an LcicError `Lcic.QueueFull` (kind `rate_limited`,
   * retryable, with `retryAfterMs`) without reserving anything when the wait would exceed `maxQueueMs`.
   * A slot reserved by a call that is then aborted is not given back: it is one wasted slot, never
   * an extra one.
   */
  acquire(action: LcicAction, sdkAppId: number | undefined, options?: AcquireOptions): Promise<number>;
}

export interface PostgresPacerOptions {
  /** Default bound on how long a call may wait for its slot (`LCIC_MAX_QUEUE_MS`). */
  maxQueueMs: number;
  /** Paced rates per action, requests per second; defaults to published limit × headroom. */
  ratesPerSecond?: Partial<Record<LcicAction, number>>;
  /** Used for the actions not in `ratesPerSecond`; default 0.9. */
  headroom?: number;
  /**
   * `action` (default): one key per action for the whole deployment. `action-and-app`: actions that
   * take an SdkAppId are paced per application (key `RegisterUser:1400…`).
   */
  scope?: LcicRateLimitScope;
  /** A `lookup` call takes a slot only with at most this many calls booked ahead of it. Default 2. */
  lookupQueueSlots?: number;
  /** Injected clock in ms; when omitted, PostgreSQL's clock is used (see the module comment). */
  now?: Now;
  sleep?: Sleep;
}

export interface PostgresPacer extends Pacer {
  /** Reserves a slot without waiting for it; `acquire` is `reserve` then sleep. */
  reserve(key: string, intervalUs: number, maxQueueMs: number): Promise<PacerReservation>;
  /** The rate-limit key for a call, e.g. `RegisterUser:1400000001` or `LoginUser`. */
  keyFor(action: LcicAction, sdkAppId: number | undefined): string;
  /** Spacing between two slots of this action, in microseconds. */
  intervalUsFor(action: LcicAction): number;
}

export function lcicQueueFullError(action: string, retryAfterMs: number, maxQueueMs: number): LcicError {
  return new LcicError({
    code: LCIC_QUEUE_FULL,
    message: `${action} would wait more than ${maxQueueMs} ms for its LCIC rate-limit slot; retry after ${retryAfterMs} ms`,
    kind: "rate_limited",
    retryable: true,
    outcomeUnknown: false,
    action,
    retryAfterMs,
  });
}

/** The queue's refusal, saying why a lookup or background call was not queued at all. */
function lowPriorityRefusal(action: LcicAction, priority: LcicPriority, refusal: LcicError): LcicError {
  const why =
    priority === "background"
      ? "background work only uses idle LCIC budget and other calls are queued"
      : "lookups queue behind at most a few calls and registrations come first";
  return new LcicError({
    code: LCIC_QUEUE_FULL,
    message: `${action} not sent: ${why}; retry after ${refusal.retryAfterMs} ms`,
    kind: "rate_limited",
    retryable: true,
    outcomeUnknown: false,
    action,
    ...(refusal.retryAfterMs !== undefined ? { retryAfterMs: refusal.retryAfterMs } : {}),
  });
}

export function createPostgresPacer(db: Database, options: PostgresPacerOptions): PostgresPacer {
  if (!(options.maxQueueMs >= 0)) throw new RangeError("maxQueueMs must be a number >= 0");
  const headroom = options.headroom ?? DEFAULT_PACING_HEADROOM;
  const intervals = new Map<LcicAction, number>();
  for (const action of Object.keys(LCIC_PUBLISHED_RATE_LIMITS) as LcicAction[]) {
    const rate = options.ratesPerSecond?.[action] ?? LCIC_PUBLISHED_RATE_LIMITS[action] * headroom;
    if (!(rate > 0)) throw new RangeError(`rate for ${action} must be > 0`);
    // Rounded up: a spacing one microsecond too long costs nothing, one too short could exceed the limit.
    intervals.set(action, Math.ceil(1_000_000 / rate));
  }
  const sleep = options.sleep ?? systemSleep;
  const perSdkAppId = (options.scope ?? "action") === "action-and-app";
  const lookupQueueSlots = options.lookupQueueSlots ?? DEFAULT_LOOKUP_QUEUE_SLOTS;
  if (!(lookupQueueSlots >= 0)) throw new RangeError("lookupQueueSlots must be a number >= 0");
  const injectedNow = options.now;
  // Durations measured here (how late a sleeper woke) need no shared clock: the injected one in
  // tests, else the monotonic one.
  const localNow: Now = injectedNow ?? (() => performance.now());

  // Raw SQL only for the clock, GREATEST and the arithmetic, which Drizzle's builder cannot express.
  // The casts give PostgreSQL the parameter types it cannot infer from `$n + $m`.
  const nowUs: SQL = injectedNow
    ? sql`${sql.placeholder("nowUs")}::bigint`
    : sql`(extract(epoch from clock_timestamp()) * 1000000)::bigint`;
  const intervalUs = sql`${sql.placeholder("intervalUs")}::bigint`;
  const maxQueueUs = sql`${sql.placeholder("maxQueueUs")}::bigint`;
  const next = lcicRateLimits.nextSlotUs;
  const slot = sql`greatest(${next}, ${nowUs})`;

  // One statement, one round trip: insert the key's first slot, or move an existing key's slot on,
  // but only if the caller's wait (slot - now) stays within the bound. No row back = refused.
  const reserveQuery = db
    .insert(lcicRateLimits)
    .values({ key: sql.placeholder("key"), nextSlotUs: sql`${nowUs} + ${intervalUs}` })
    .onConflictDoUpdate({
      target: lcicRateLimits.key,
      set: { nextSlotUs: sql`${slot} + ${intervalUs}` },
      setWhere: sql`${slot} - ${nowUs} <= ${maxQueueUs}`,
    })
    .returning({
      slotAtUs: sql`${next} - ${intervalUs}`.mapWith(Number),
      waitUs: sql`${next} - ${intervalUs} - ${nowUs}`.mapWith(Number),
    })
    .prepare("lcic_pacer_reserve");

  // Only on refusal: how far ahead the key is booked, to tell the caller when to come back.
  const aheadQuery = db
    .select({ aheadUs: sql`${next} - ${nowUs}`.mapWith(Number) })
    .from(lcicRateLimits)
    .where(eq(lcicRateLimits.key, sql.placeholder("key")))
    .prepare("lcic_pacer_ahead");

  const params = (key: string, extra: Record<string, number>) =>
    injectedNow ? { key, ...extra, nowUs: Math.round(injectedNow() * 1000) } : { key, ...extra };

  const pacer: PostgresPacer = {
    keyFor(action, sdkAppId) {
      return perSdkAppId && sdkAppId !== undefined && ACTIONS_WITH_SDK_APP_ID.has(action) ? `${action}:${sdkAppId}` : action;
    },
    intervalUsFor(action) {
      return intervals.get(action)!;
    },
    async reserve(key, intervalUs, maxQueueMs) {
      const maxQueueUs = Math.max(0, Math.floor(maxQueueMs * 1000));
      const [granted] = await reserveQuery.execute(params(key, { intervalUs, maxQueueUs }));
      if (granted) {
        return { waitMs: Math.max(0, granted.waitUs) / 1000, slotAtMs: granted.slotAtUs / 1000 };
      }
      const [row] = await aheadQuery.execute(params(key, {}));
      // Honest: after this long the key's next slot is within the bound again (if nobody else takes
      // it first). At least 1 ms so a caller never spins on 0. No row cannot happen (a refusal means
      // the row exists); fall back to one interval.
      const retryAfterMs = row ? Math.max(1, Math.ceil((row.aheadUs - maxQueueUs) / 1000)) : Math.ceil(intervalUs / 1000);
      throw lcicQueueFullError(key.split(":")[0]!, retryAfterMs, maxQueueMs);
    },
    async acquire(action, sdkAppId, acquireOptions = {}) {
      acquireOptions.signal?.throwIfAborted();
      const intervalUs = pacer.intervalUsFor(action);
      const key = pacer.keyFor(action, sdkAppId);
      const callerBound = acquireOptions.maxQueueMs ?? options.maxQueueMs;
      const priority = acquireOptions.priority ?? "interactive";
      const bound =
        priority === "background" ? 0 : priority === "lookup" ? Math.min(callerBound, (lookupQueueSlots * intervalUs) / 1000) : callerBound;
      // One interval: see "Late wake-ups" in the module comment.
      const lateToleranceMs = intervalUs / 1000;
      const startedAt = localNow();
      let askedMs = 0;
      for (;;) {
        // A re-reservation gets the full bound again: the stall was not the caller's doing.
        const { waitMs } = await pacer.reserve(key, intervalUs, bound).catch((error: unknown) => {
          throw priority === "interactive" || !isLcicError(error, LCIC_QUEUE_FULL) ? error : lowPriorityRefusal(action, priority, error);
        });
        askedMs += waitMs;
        const sleptFrom = localNow();
        if (waitMs > 0) await sleep(waitMs, acquireOptions.signal);
        if (acquireOptions.ready) await acquireOptions.ready.catch(() => undefined);
        const lateMs = localNow() - sleptFrom - waitMs;
        if (lateMs <= lateToleranceMs) return Math.max(askedMs, localNow() - startedAt);
        // Overslept (a stalled event loop), or `ready` came late: sending now could join a burst of
        // overdue callers.
        acquireOptions.signal?.throwIfAborted();
      }
    },
  };
  return pacer;
}
