import { eq } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { connectDatabase, type DatabaseHandle } from "../../src/db/client.js";
import { lcicRateLimits } from "../../src/db/schema.js";
import { isLcicError } from "../../src/lcic/errors.js";
import { createPostgresPacer, LCIC_QUEUE_FULL, type PostgresPacer } from "../../src/lcic/pacer.js";
import { createTestDatabase } from "../support/database.js";

/** Most granted slots within any half-open window [t, t + windowMs). */
function maxInAnyWindow(slotsMs: number[], windowMs: number): number {
  const sorted = [...slotsMs].sort((a, b) => a - b);
  let best = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (sorted[i]! - sorted[j]! >= windowMs) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}

describe("PostgreSQL pacer", () => {
  const main = createTestDatabase();
  const replicas: DatabaseHandle[] = [];
  afterAll(async () => {
    await Promise.all(replicas.map((r) => r.close()));
    await (await main).close();
  });

  /** Three separate postgres.js pools on one database: three replicas' worth of connections. */
  async function replicaPools(n: number): Promise<DatabaseHandle[]> {
    const { url } = await main;
    const pools = Array.from({ length: n }, (_, i) => connectDatabase(url, { poolSize: 8, applicationName: `replica-${i}` }));
    replicas.push(...pools);
    return pools;
  }

  it("never grants more than the paced rate in any 1-second window, across several pools (injected clock)", async () => {
    const pools = await replicaPools(3);
    // A clock that moves forward a little on every read, as concurrent requests would see it.
    let t = 1_700_000_000_000;
    const now = () => (t += 3);
    const pacers = pools.map((p) => createPostgresPacer(p.db, { maxQueueMs: 60_000, now }));
    const interval = pacers[0]!.intervalUsFor("RegisterUser");
    expect(interval).toBe(55_556); // 18/s: 20/s published, 10% headroom

    const grants = await Promise.all(
      Array.from({ length: 120 }, (_, i) => pacers[i % 3]!.reserve(pacers[0]!.keyFor("RegisterUser", 1400000001), interval, 60_000)),
    );
    const slots = grants.map((g) => g.slotAtMs).sort((a, b) => a - b);
    expect(new Set(slots).size).toBe(120);
    for (let i = 1; i < slots.length; i++) expect(slots[i]! - slots[i - 1]!).toBeGreaterThanOrEqual(interval / 1000 - 0.001); // float ms
    expect(maxInAnyWindow(slots, 1000)).toBeLessThanOrEqual(18);
    for (const g of grants) expect(g.waitMs).toBeGreaterThanOrEqual(0);
  });

  it("paces on PostgreSQL's clock by default, still ≤ 18 slots per second across pools", async () => {
    const pools = await replicaPools(3);
    const pacers = pools.map((p) => createPostgresPacer(p.db, { maxQueueMs: 60_000 }));
    const key = pacers[0]!.keyFor("LoginUser", undefined);
    const interval = pacers[0]!.intervalUsFor("LoginUser");
    const grants = await Promise.all(Array.from({ length: 90 }, (_, i) => pacers[i % 3]!.reserve(key, interval, 60_000)));
    const slots = grants.map((g) => g.slotAtMs);
    expect(maxInAnyWindow(slots, 1000)).toBeLessThanOrEqual(18);
    // The queue grows by one interval per grant: the last waits about 89 intervals (~4.9 s).
    expect(Math.max(...grants.map((g) => g.waitMs))).toBeGreaterThan(4_000);
  });

  it("BatchRegister is paced at 9/s; keys are per action by default, per application only in scope action-and-app", async () => {
    const { db } = await main;
    const pacer = createPostgresPacer(db, { maxQueueMs: 1000, now: () => 0 });
    expect(pacer.intervalUsFor("BatchRegister")).toBe(111_112);
    for (const action of ["RegisterUser", "LoginOriginId", "DescribeSdkAppIdUsers", "LoginUser", "BatchRegister"] as const) {
      expect(pacer.keyFor(action, 7)).toBe(action);
    }
    const perApp = createPostgresPacer(db, { maxQueueMs: 1, scope: "action-and-app" });
    expect(perApp.keyFor("RegisterUser", 7)).toBe("RegisterUser:7");
    expect(perApp.keyFor("LoginOriginId", 7)).toBe("LoginOriginId:7");
    expect(perApp.keyFor("DescribeSdkAppIdUsers", 7)).toBe("DescribeSdkAppIdUsers:7");
    expect(perApp.keyFor("LoginUser", 7)).toBe("LoginUser");
    expect(perApp.keyFor("BatchRegister", 7)).toBe("BatchRegister");
  });

  it("by default two applications share one RegisterUser budget: ≤ 18 slots a second between them", async () => {
    const { db } = await main;
    const t = 1_900_000_000_000;
    const pacer = createPostgresPacer(db, { maxQueueMs: 60_000, now: () => t, sleep: async () => {} });
    const interval = pacer.intervalUsFor("RegisterUser");
    const grants = await Promise.all(
      Array.from({ length: 40 }, (_, i) => pacer.reserve(pacer.keyFor("RegisterUser", i % 2 ? 1400000001 : 1400000002), interval, 60_000)),
    );
    expect(maxInAnyWindow(grants.map((g) => g.slotAtMs), 1000)).toBeLessThanOrEqual(18);
  });

  it("refuses with an honest retryAfterMs when the wait would exceed maxQueueMs, and reserves nothing", async () => {
    const { db } = await main;
    let t = 10_000;
    const pacer = createPostgresPacer(db, { maxQueueMs: 250, now: () => t, ratesPerSecond: { DeleteUser: 10 } });
    const key = "DeleteUser";
    const interval = pacer.intervalUsFor("DeleteUser"); // 100 ms
    expect((await pacer.reserve(key, interval, 250)).waitMs).toBe(0);
    expect((await pacer.reserve(key, interval, 250)).waitMs).toBe(100);
    expect((await pacer.reserve(key, interval, 250)).waitMs).toBe(200);
    // Next free slot is at +300 ms: 50 ms over the bound.
    const refusal = await pacer.reserve(key, interval, 250).catch((e: unknown) => e);
    expect(isLcicError(refusal, LCIC_QUEUE_FULL)).toBe(true);
    expect(refusal).toMatchObject({ kind: "rate_limited", retryable: true, outcomeUnknown: false, retryAfterMs: 50, action: "DeleteUser" });
    // Refusing did not move the slot on.
    const [row] = await db.select().from(lcicRateLimits).where(eq(lcicRateLimits.key, key));
    expect(row?.nextSlotUs).toBe(10_300_000);
    // The hint is honest: after retryAfterMs the wait is exactly at the bound, and granted.
    t += 50;
    expect((await pacer.reserve(key, interval, 250)).waitMs).toBe(250);
  });

  it("acquire sleeps the reserved wait through the injected sleep and passes the signal", async () => {
    const { db } = await main;
    const slept: number[] = [];
    const pacer = createPostgresPacer(db, {
      maxQueueMs: 1000,
      now: () => 50_000,
      ratesPerSecond: { ModifyUserProfile: 4 },
      sleep: async (ms) => void slept.push(ms),
    });
    const waits = [];
    for (let i = 0; i < 4; i++) waits.push(await pacer.acquire("ModifyUserProfile", undefined));
    expect(waits).toEqual([0, 250, 500, 750]);
    expect(slept).toEqual([250, 500, 750]);
    // The next slot is 1000 ms away: a per-call bound below that refuses, the default (1000) accepts.
    await expect(pacer.acquire("ModifyUserProfile", undefined, { maxQueueMs: 600 })).rejects.toMatchObject({ code: LCIC_QUEUE_FULL, retryAfterMs: 400 });
    expect(await pacer.acquire("ModifyUserProfile", undefined)).toBe(1000);
    await expect(pacer.acquire("ModifyUserProfile", undefined)).rejects.toMatchObject({ code: LCIC_QUEUE_FULL, retryAfterMs: 250 });
    expect(slept).toEqual([250, 500, 750, 1000]);
    const aborted = AbortSignal.abort(new Error("gone"));
    await expect(pacer.acquire("LoginUser", undefined, { signal: aborted })).rejects.toThrow("gone");
  });

  it("on the database clock, refusals also carry a retryAfterMs within the bound's overshoot", async () => {
    const { db } = await main;
    // Slots 1 s apart and a 1.5 s bound: wide enough that a loaded machine's delays between the three
    // reservations (measured, and allowed for) cannot move the third slot inside the bound.
    const pacer = createPostgresPacer(db, { maxQueueMs: 1500 });
    const key = "db-clock-refusal";
    const startedAt = performance.now();
    expect((await pacer.reserve(key, 1_000_000, 1500)).waitMs).toBeLessThanOrEqual(1);
    const second = (await pacer.reserve(key, 1_000_000, 1500)).waitMs;
    expect(second).toBeLessThanOrEqual(1000);
    expect(second).toBeGreaterThan(990 - (performance.now() - startedAt));
    // The third slot is about 2000 ms away: ~500 ms past the bound, less whatever time has passed.
    const refusal = await pacer.reserve(key, 1_000_000, 1500).catch((e: unknown) => e);
    const elapsed = performance.now() - startedAt;
    expect(refusal).toMatchObject({ code: LCIC_QUEUE_FULL, kind: "rate_limited" });
    const retryAfterMs = (refusal as { retryAfterMs: number }).retryAfterMs;
    expect(retryAfterMs).toBeGreaterThanOrEqual(Math.max(1, 490 - elapsed));
    expect(retryAfterMs).toBeLessThanOrEqual(500);
  });

  /**
   * Virtual time for several concurrent acquirers: sleeps resolve in slot order once every caller is
   * either asleep or done; `stall` holds every sleeper until the clock has jumped (a blocked event loop).
   */
  function virtualTime(start: number) {
    let t = start;
    let stallUntil: number | undefined;
    const sleepers: Array<{ until: number; wake: () => void }> = [];
    return {
      now: () => t,
      sleep: (ms: number) => new Promise<void>((wake) => void sleepers.push({ until: t + ms, wake })),
      stall: (untilMs: number) => void (stallUntil = untilMs),
      /** Runs until `busy()` is false: advances to the earliest sleeper each time all callers are parked. */
      async run(parked: () => boolean, busy: () => boolean) {
        while (busy()) {
          await new Promise((r) => setTimeout(r, 2));
          if (!parked() || sleepers.length === 0) continue;
          if (stallUntil !== undefined) {
            t = stallUntil;
            stallUntil = undefined;
            for (const s of sleepers.splice(0)) s.wake();
            continue;
          }
          sleepers.sort((a, b) => a.until - b.until);
          const next = sleepers.shift()!;
          t = Math.max(t, next.until);
          next.wake();
        }
      },
      sleeping: () => sleepers.length,
    };
  }

  async function acquireAll(pacer: PostgresPacer, time: ReturnType<typeof virtualTime>, calls: Array<{ action: "LoginUser" | "DeleteUser"; priority?: "interactive" | "lookup" | "background"; tag: string }>) {
    const fired: Array<{ tag: string; at: number }> = [];
    const refused: Array<{ tag: string; retryAfterMs: number }> = [];
    let done = 0;
    const all = calls.map((c) =>
      pacer
        .acquire(c.action, undefined, c.priority ? { priority: c.priority } : {})
        .then(() => fired.push({ tag: c.tag, at: time.now() }))
        .catch((e: { retryAfterMs: number }) => refused.push({ tag: c.tag, retryAfterMs: e.retryAfterMs }))
        .finally(() => done++),
    );
    await time.run(() => time.sleeping() + done === calls.length, () => done < calls.length);
    await Promise.all(all);
    return { fired, refused };
  }

  it("after an event-loop stall, overdue slots are re-reserved instead of fired in a burst", async () => {
    const { db } = await main;
    const time = virtualTime(2_000_000_000_000);
    const pacer = createPostgresPacer(db, { maxQueueMs: 60_000, now: time.now, sleep: time.sleep });
    // 40 callers reserve 40 slots (0 .. 2.2 s); the loop then blocks for 3 s, past every one of them.
    time.stall(2_000_000_003_000);
    const { fired, refused } = await acquireAll(pacer, time, Array.from({ length: 40 }, (_, i) => ({ action: "LoginUser" as const, tag: `c${i}` })));
    expect(refused).toEqual([]);
    expect(fired).toHaveLength(40);
    // Without re-reservation all 39 late callers would send at +3 s together.
    expect(maxInAnyWindow(fired.map((f) => f.at), 1000)).toBeLessThanOrEqual(18);
  });

  it("interactive calls overtake a flood of lookups and background work: lookups queue at most 2 slots deep, background only when idle", async () => {
    const { db } = await main;
    const time = virtualTime(7_000_000);
    const pacer = createPostgresPacer(db, { maxQueueMs: 60_000, now: time.now, sleep: time.sleep, ratesPerSecond: { DeleteUser: 10 } });
    const calls = [
      ...Array.from({ length: 30 }, (_, i) => ({ action: "DeleteUser" as const, priority: "lookup" as const, tag: `l${i}` })),
      ...Array.from({ length: 10 }, (_, i) => ({ action: "DeleteUser" as const, priority: "background" as const, tag: `b${i}` })),
      ...Array.from({ length: 5 }, (_, i) => ({ action: "DeleteUser" as const, tag: `i${i}` })),
    ];
    const { fired, refused } = await acquireAll(pacer, time, calls);
    const firedTags = fired.map((f) => f.tag);
    // Whatever order the 45 reservations reached PostgreSQL in: every interactive call got a slot...
    for (let i = 0; i < 5; i++) expect(firedTags).toContain(`i${i}`);
    // ...at most 2 lookups and 1 background call got slots (the background one only on an idle key)...
    expect(firedTags.filter((t) => t.startsWith("l")).length).toBeLessThanOrEqual(3);
    expect(firedTags.filter((t) => t.startsWith("b")).length).toBeLessThanOrEqual(1);
    // ...so the last interactive call sent within 5 + 3 slots (100 ms each) of the start, not after 45.
    const lastInteractive = Math.max(...fired.filter((f) => f.tag.startsWith("i")).map((f) => f.at));
    expect(lastInteractive - 7_000_000).toBeLessThanOrEqual(7 * 100);
    // Every refusal is honest: positive, and no later than the queue it saw drains.
    for (const r of refused) expect(r.retryAfterMs).toBeGreaterThanOrEqual(1);
  });

  it("background work takes a slot only when none is booked, so it delays an interactive call by one slot at most", async () => {
    const { db } = await main;
    let t = 9_000_000;
    const pacer = createPostgresPacer(db, { maxQueueMs: 60_000, now: () => t, sleep: async () => {}, ratesPerSecond: { ModifyUserProfile: 10 } });
    const reserveAs = (priority: "interactive" | "background" | "lookup") => pacer.acquire("ModifyUserProfile", undefined, { priority });
    // Idle key: background gets the slot that is free now.
    expect(await reserveAs("background")).toBe(0);
    // An interactive call right behind it waits exactly one slot.
    expect(await reserveAs("interactive")).toBe(100);
    // With a call booked ahead, background is refused at once, told when the booked queue drains.
    await expect(reserveAs("background")).rejects.toMatchObject({ code: LCIC_QUEUE_FULL, retryAfterMs: 200 });
    // Lookups may queue behind two booked calls (wait ≤ 200 ms), not three.
    expect(await reserveAs("lookup")).toBe(200);
    await expect(reserveAs("lookup")).rejects.toMatchObject({ code: LCIC_QUEUE_FULL, retryAfterMs: 100 });
    expect(await reserveAs("interactive")).toBe(300);
    // Once the queue has drained the key is idle again and background gets its slot.
    t += 400;
    expect(await reserveAs("background")).toBe(0);
  });

  it("a caller's `ready` work finishing more than one interval after its slot gets a new slot instead of sending late", async () => {
    const { db } = await main;
    let t = 3_000_000_000_000;
    let afterSleep: (() => void) | undefined;
    const pacer = createPostgresPacer(db, {
      maxQueueMs: 60_000,
      now: () => t,
      sleep: async (ms) => {
        t += ms;
        const then = afterSleep;
        afterSleep = undefined;
        then?.();
      },
    });
    const reserve = pacer.reserve.bind(pacer);
    let reservations = 0;
    pacer.reserve = (...args) => {
      reservations++;
      return reserve(...args);
    };
    // Ready at once: one slot.
    await pacer.acquire("ModifyUserProfile", undefined, { ready: Promise.resolve() });
    expect(reservations).toBe(1);
    // The next slot is one interval away; the caller's work ends 200 ms (virtual) after it came.
    reservations = 0;
    const ready = new Promise<void>((resolve) => {
      afterSleep = () => setTimeout(() => ((t += 200), resolve()), 0);
    });
    await pacer.acquire("ModifyUserProfile", undefined, { ready });
    expect(reservations).toBe(2);
    // A failed `ready` is the caller's to report: acquire itself does not fail.
    reservations = 0;
    const failed = Promise.reject(new Error("not recorded"));
    failed.catch(() => undefined);
    await expect(pacer.acquire("ModifyUserProfile", undefined, { ready: failed })).resolves.toBeGreaterThanOrEqual(0);
  });
});
