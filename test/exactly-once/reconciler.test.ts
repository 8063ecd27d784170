import { eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { classroomUsers } from "../../src/db/schema.js";
import { startReconciler } from "../../src/jobs/reconciler.js";
import { createLogger } from "../../src/logger.js";
import { createTestDatabase } from "../support/database.js";
import { startServiceHarness, type ServiceHarness } from "./harness.js";

/** Issue 9 item 3: one sweep at a time, and a row that keeps failing does not keep the others waiting. */
describe("reconciler scheduling and backoff", () => {
  let h: ServiceHarness;
  let closeDb: () => Promise<void>;
  let sdkAppId: number;
  const logger = createLogger({ level: "silent" });

  beforeAll(async () => {
    const database = await createTestDatabase();
    closeDb = database.close;
    h = await startServiceHarness({ databaseUrl: database.url, timeoutMs: 1_500, emulatorOptions: { rateLimits: { LoginOriginId: 0 } } });
    sdkAppId = h.emulator.sdkAppIds[0]!;
  });
  afterAll(async () => {
    await h?.close();
    await closeDb?.();
  });
  beforeEach(async () => {
    h.emulator.clearFaults();
    h.emulator.resetCounters();
    await h.db.db.delete(classroomUsers);
  });

  /** A pending row as a timed-out request leaves it (attempts 1), last changed `minutesAgo` ago. */
  async function stalePending(originId: string, minutesAgo: number) {
    const row = await h.repository.findOrInsertPending({ sdkAppId, originId });
    await h.repository.recordAttempt(row.id, null, null);
    await h.db.db.update(classroomUsers).set({ updatedAt: sql`now() - make_interval(mins => ${minutesAgo})` }).where(eq(classroomUsers.id, row.id));
    return row;
  }

  it("defers a row whose reconciliation fails, so the row behind it gets its turn; the deferred row is tried once its backoff passed", async () => {
    await stalePending("failing", 30); // the oldest: first in line
    await stalePending("behind", 20);
    let clock = new Date();
    const reconciler = startReconciler({ users: h.users, logger, intervalMs: 3_600_000, staleAfterMs: 60_000, batchSize: 1, backoff: { baseMs: 60_000, maxMs: 600_000 }, now: () => clock });
    try {
      h.emulator.injectFault({ action: "LoginOriginId", mode: "error", code: "InternalError", times: Number.POSITIVE_INFINITY });
      expect(await reconciler.sweep()).toMatchObject({ failed: 1 });
      const failing = await h.repository.findByOriginId(sdkAppId, "failing");
      expect(failing).toMatchObject({ status: "pending", reconcileFailures: 1 });
      expect(failing!.reconcileNotBefore!.getTime()).toBeGreaterThanOrEqual(clock.getTime() + 30_000);
      h.emulator.clearFaults();

      // Before the fix, every sweep took "failing" again (oldest first) and "behind" never had a turn.
      expect(await reconciler.sweep()).toMatchObject({ cleared: 1, failed: 0 });
      expect(await h.repository.findByOriginId(sdkAppId, "behind")).toBeUndefined();
      expect(await reconciler.sweep()).toMatchObject({ cleared: 0, registered: 0, failed: 0 }); // "failing" still deferred

      clock = new Date(clock.getTime() + 61_000);
      expect(await reconciler.sweep()).toMatchObject({ cleared: 1 });
      expect(await h.repository.findByOriginId(sdkAppId, "failing")).toBeUndefined();
    } finally {
      await reconciler.stop();
    }
  });

  it("a slow sweep does not pile sweeps up behind it: the next one starts an interval after it ends", async () => {
    await stalePending("slow", 30);
    h.emulator.injectFault({ action: "LoginOriginId", mode: "latency", ms: 800, times: 1 });
    const users = h.users;
    let listings = 0;
    const counting = Object.create(users) as typeof users;
    counting.listPendingDue = (...args: Parameters<typeof users.listPendingDue>) => {
      listings += 1;
      return users.listPendingDue(...args);
    };
    const reconciler = startReconciler({ users: counting, logger, intervalMs: 50, staleAfterMs: 60_000 });
    await expect.poll(() => h.emulator.counters().LoginOriginId.calls, { timeout: 5_000 }).toBe(1);
    await expect.poll(async () => (await h.repository.findByOriginId(sdkAppId, "slow")) === undefined, { timeout: 5_000 }).toBe(true);
    await reconciler.stop();
    // The slow sweep held ~16 intervals; before the fix each of them queued a sweep that ran afterwards.
    expect(listings).toBeLessThanOrEqual(4);
  });
});
