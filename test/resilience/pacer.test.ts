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

  it("BatchRegister is paced at 9/s and keys carry the SdkAppId only for actions that take one", async () => {
    const { db } = await main;
    const pacer = createPostgresPacer(db, { maxQueueMs: 1000, now: () => 0 });
    expect(pacer.intervalUsFor("BatchRegister")).toBe(111_112);
    expect(pacer.keyFor("RegisterUser", 7)).toBe("RegisterUser:7");
    expect(pacer.keyFor("LoginOriginId", 7)).toBe("LoginOriginId:7");
    expect(pacer.keyFor("DescribeSdkAppIdUsers", 7)).toBe("DescribeSdkAppIdUsers:7");
    expect(pacer.keyFor("LoginUser", 7)).toBe("LoginUser");
    expect(pacer.keyFor("BatchRegister", 7)).toBe("BatchRegister");
    expect(createPostgresPacer(db, { maxQueueMs: 1, perSdkAppId: false }).keyFor("RegisterUser", 7)).toBe("RegisterUser");
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
    const pacer = createPostgresPacer(db, { maxQueueMs: 150 });
    const key = "db-clock-refusal";
    expect((await pacer.reserve(key, 100_000, 150)).waitMs).toBeLessThanOrEqual(1);
    expect((await pacer.reserve(key, 100_000, 150)).waitMs).toBeGreaterThan(90);
    // The third slot is about 200 ms away: ~50 ms past the bound, less whatever time has passed.
    const refusal = await pacer.reserve(key, 100_000, 150).catch((e: unknown) => e);
    expect(refusal).toMatchObject({ code: LCIC_QUEUE_FULL, kind: "rate_limited" });
    const retryAfterMs = (refusal as { retryAfterMs: number }).retryAfterMs;
    expect(retryAfterMs).toBeGreaterThanOrEqual(1);
    expect(retryAfterMs).toBeLessThanOrEqual(50);
  });
});
