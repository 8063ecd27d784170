import { eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { classroomUsers } from "../../src/db/schema.js";
import { startReconciler } from "../../src/jobs/reconciler.js";
import { createLogger } from "../../src/logger.js";
import { LcicRateLimitedError, LcicUnavailableError } from "../../src/users/errors.js";
import { createTestDatabase } from "../support/database.js";
import { startServiceHarness, type ServiceHarness } from "./harness.js";

/** Service-level exactly-once behaviour with the real SDK client, the emulator and PostgreSQL. */
describe("exactly-once registration in one process (real SDK + emulator)", () => {
  let h: ServiceHarness;
  let closeDb: () => Promise<void>;
  let sdkAppId: number;
  beforeAll(async () => {
    const database = await createTestDatabase();
    closeDb = database.close;
    // Rate limits off in the emulator: these tests are about outcomes, not pacing.
    h = await startServiceHarness({ databaseUrl: database.url, poolSize: 10, timeoutMs: 1_000, emulatorOptions: { rateLimits: { RegisterUser: 0, LoginOriginId: 0 } } });
    sdkAppId = h.emulator.sdkAppIds[0]!;
  });
  afterAll(async () => {
    await h?.close();
    await closeDb?.();
  });
  beforeEach(() => {
    h.emulator.clearFaults();
    h.emulator.resetCounters();
  });

  const lcicUsersFor = (originId: string) => h.emulator.users().filter((u) => u.originId === originId);

  /** A pending row as a crashed or timed-out request leaves it: attempts > 0, last changed long ago. */
  async function stalePending(originId: string, attempts: number) {
    const row = await h.repository.findOrInsertPending({ sdkAppId, originId, name: "Crashed" });
    for (let i = 0; i < attempts; i++) await h.repository.recordAttempt(row.id, "Crashed", null);
    await h.db.db.update(classroomUsers).set({ updatedAt: sql`now() - interval '1 hour'` }).where(eq(classroomUsers.id, row.id));
    return row;
  }

  it("20 parallel registrations of one originId: one RegisterUser applied, one userId", async () => {
    const started = Date.now();
    const results = await Promise.all(Array.from({ length: 20 }, () => h.users.register({ originId: "parallel-1", name: "P" })));
    expect(new Set(results.map((r) => r.user.userId)).size).toBe(1);
    expect(h.emulator.counters().RegisterUser.applied).toBe(1);
    expect(lcicUsersFor("parallel-1")).toHaveLength(1);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it("parallel registrations of many keys on a small pool do not deadlock", async () => {
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => h.users.register({ originId: `many-${i % 20}` })));
    expect(new Set(results.map((r) => r.user.userId)).size).toBe(20);
    expect(h.emulator.counters().RegisterUser.applied).toBe(20);
  });

  it.each([
    ["applyThenDrop", { mode: "applyThenDrop" }],
    ["applyThenHttp 502", { mode: "applyThenHttp", status: 502 }],
  ] as const)("lost reply (%s) on RegisterUser: the request reconciles, one LCIC user, a retry yields the same user", async (label, fault) => {
    const originId = `lost-${label.replace(/\s/g, "")}`;
    h.emulator.injectFault({ action: "RegisterUser", ...fault });
    const first = await h.users.register({ originId, name: "Lost" });
    const again = await h.users.register({ originId, name: "Lost" });
    expect(again.user.userId).toBe(first.user.userId);
    expect(first.user.status).toBe("registered");
    expect(lcicUsersFor(originId)).toEqual([expect.objectContaining({ userId: first.user.userId })]);
    expect(h.emulator.counters().RegisterUser.applied).toBe(1);
  });

  it("reply lost and LCIC slow to apply: the request sends RegisterUser once more; the late call is refused by LCIC; one user", async () => {
    h.emulator.injectFault({ action: "RegisterUser", mode: "latency", ms: 1_500 }); // past the 1 s client timeout
    const result = await h.users.register({ originId: "slow-1" });
    expect(result.created).toBe(true);
    expect(await h.repository.findByOriginId(sdkAppId, "slow-1")).toMatchObject({ status: "registered", attempts: 2, userId: result.user.userId });
    // The first, slow call lands after the second one created the user: LCIC refuses it (OriginIdExists).
    await expect.poll(() => h.emulator.counters().RegisterUser.errors, { timeout: 3000 }).toBe(1);
    expect(lcicUsersFor("slow-1")).toEqual([expect.objectContaining({ userId: result.user.userId })]);
    expect(h.emulator.counters().RegisterUser.applied).toBe(1);
  });

  it("replies lost on every round: the caller is told to retry, and the retry adopts the one user", async () => {
    // Slower than both rounds and the reconciliation after each: nothing has landed when the request gives up.
    h.emulator.injectFault({ action: "RegisterUser", mode: "latency", ms: 4_500, times: 2 });
    await expect(h.users.register({ originId: "slow-2" })).rejects.toBeInstanceOf(LcicUnavailableError);
    expect(await h.repository.findByOriginId(sdkAppId, "slow-2")).toMatchObject({ status: "pending", attempts: 2 });
    await expect.poll(() => lcicUsersFor("slow-2").length, { timeout: 8000 }).toBe(1); // LCIC applies one call late
    const retried = await h.users.register({ originId: "slow-2" });
    expect(lcicUsersFor("slow-2")).toEqual([expect.objectContaining({ userId: retried.user.userId })]);
    expect(h.emulator.counters().RegisterUser.applied).toBe(1);
  });

  it("crash after LCIC's success: the next request for the key completes it without a second RegisterUser", async () => {
    await stalePending("crash-next", 1);
    const created = await h.lcic.registerUser({ sdkAppId, originId: "crash-next" }); // what LCIC did before the crash
    h.emulator.resetCounters();
    const result = await h.users.register({ originId: "crash-next" });
    expect(result.user).toMatchObject({ userId: created.userId, status: "registered" });
    expect(h.emulator.counters().RegisterUser.calls).toBe(0);
  });

  describe("reconciler", () => {
    const logger = createLogger({ level: "silent" });

    it("completes a pending row whose user exists in LCIC, and clears one whose user does not", async () => {
      await stalePending("rec-exists", 2);
      const created = await h.lcic.registerUser({ sdkAppId, originId: "rec-exists" });
      await stalePending("rec-missing", 1);
      await stalePending("rec-never-called", 0);
      h.emulator.resetCounters();
      const reconciler = startReconciler({ users: h.users, logger, intervalMs: 3_600_000, staleAfterMs: 60_000 });
      try {
        const totals = await reconciler.sweep();
        expect(totals).toMatchObject({ registered: 1, cleared: 2, failed: 0 });
      } finally {
        await reconciler.stop();
      }
      expect(await h.repository.findByOriginId(sdkAppId, "rec-exists")).toMatchObject({ status: "registered", userId: created.userId });
      expect(await h.repository.findByOriginId(sdkAppId, "rec-missing")).toBeUndefined();
      expect(await h.repository.findByOriginId(sdkAppId, "rec-never-called")).toBeUndefined();
      expect(h.emulator.counters().RegisterUser.calls).toBe(0);
      expect(lcicUsersFor("rec-missing")).toHaveLength(0);
    });

    it("leaves fresh pending rows alone (their request may still be running)", async () => {
      const row = await h.repository.findOrInsertPending({ sdkAppId, originId: "rec-fresh" });
      await h.repository.recordAttempt(row.id, null, null);
      const reconciler = startReconciler({ users: h.users, logger, intervalMs: 3_600_000, staleAfterMs: 60_000 });
      try {
        expect(await reconciler.sweep()).toMatchObject({ registered: 0, cleared: 0 });
      } finally {
        await reconciler.stop();
      }
      expect(await h.repository.findByOriginId(sdkAppId, "rec-fresh")).toMatchObject({ status: "pending" });
      await h.repository.deletePending(row.id);
    });

    it("skips a key whose registration lock another replica holds, and keeps a row when LCIC is down", async () => {
      const row = await stalePending("rec-locked", 1);
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      let acquired!: () => void;
      const isHeld = new Promise<void>((r) => (acquired = r));
      const holder = h.lock.withLock({ sdkAppId, originId: "rec-locked" }, { timeoutMs: 5_000 }, async () => {
        acquired();
        await held;
      });
      await isHeld;
      expect(await h.users.reconcilePending(row)).toBe("skipped");
      release();
      await holder;

      h.emulator.injectFault({ action: "LoginOriginId", mode: "http", status: 503, times: 10 });
      // LCIC's 503, or (its calls being background work) the pacer refusing the retry while the
      // failed attempt's slot is still booked: either way the row is not reconciled and stays.
      const refusal = await h.users.reconcilePending(row).catch((e: unknown) => e);
      expect(refusal instanceof LcicUnavailableError || refusal instanceof LcicRateLimitedError, String(refusal)).toBe(true);
      expect(await h.repository.findByOriginId(sdkAppId, "rec-locked")).toMatchObject({ status: "pending", attempts: 1 });
      h.emulator.clearFaults();
      // Background work waits for idle LCIC budget (the reconciler waits; here the test does).
      await expect.poll(() => h.users.reconcilePending(row).catch((e: unknown) => String(e)), { timeout: 5_000 }).toBe("cleared");
    });
  });
});
