import { eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { classroomUsers } from "../../src/db/schema.js";
import { startLcicEmulator, type LcicEmulator } from "../../src/lcic/emulator/index.js";
import { LcicUnavailableError } from "../../src/users/errors.js";
import { createTestDatabase } from "../support/database.js";
import { startServiceHarness, type ServiceHarness } from "./harness.js";

/**
 * Issue 9 item 1: a pending row is never deleted while a RegisterUser sent for it may still land.
 * Each test's service opens its breaker after one failure, with a cool-down longer than the test, so
 * "round 1 timed out, round 2 refused by the open circuit" happens on every run.
 */
describe("pending rows while a RegisterUser may still land", () => {
  let emulator: LcicEmulator;
  let databaseUrl: string;
  let closeDb: () => Promise<void>;
  let sdkAppId: number;
  const harnesses: ServiceHarness[] = [];
  const TIMEOUT_MS = 300;
  const LATE_MS = 900; // RegisterUser applied this long after it arrives: after our timeout

  beforeAll(async () => {
    const database = await createTestDatabase();
    closeDb = database.close;
    databaseUrl = database.url;
    emulator = await startLcicEmulator({ rateLimits: { RegisterUser: 0, LoginOriginId: 0 } });
    sdkAppId = emulator.sdkAppIds[0]!;
  });
  afterAll(async () => {
    for (const h of harnesses) await h.close();
    await emulator?.close();
    await closeDb?.();
  });
  beforeEach(() => {
    emulator.clearFaults();
    emulator.resetCounters();
  });

  /** A service whose circuit opens on the first `unavailable` failure and stays open. */
  async function fragileService(): Promise<ServiceHarness> {
    const h = await startServiceHarness({ databaseUrl, emulator, timeoutMs: TIMEOUT_MS, breaker: { consecutiveFailures: 1, coolDownMs: 600_000 } });
    harnesses.push(h);
    return h;
  }
  /** Another replica, whose circuit is closed. */
  async function healthyService(): Promise<ServiceHarness> {
    const h = await startServiceHarness({ databaseUrl, emulator, timeoutMs: 2_000 });
    harnesses.push(h);
    return h;
  }
  const lcicUsersFor = (originId: string) => emulator.users().filter((u) => u.originId === originId);
  async function makeStale(h: ServiceHarness, id: number) {
    await h.db.db.update(classroomUsers).set({ updatedAt: sql`now() - interval '1 hour'` }).where(eq(classroomUsers.id, id));
  }

  it("round 1 times out, round 2 meets the open circuit: the row stays pending; the late user is completed, not orphaned", async () => {
    const h = await fragileService();
    emulator.injectFault({ action: "RegisterUser", mode: "latency", ms: LATE_MS, times: 1 });
    const error = await h.users.register({ originId: "late-1", name: "Late" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LcicUnavailableError);
    expect((error as LcicUnavailableError).code).toBe("Lcic.CircuitOpen");
    // Before the fix the open circuit's refusal deleted the row here.
    const row = await h.repository.findByOriginId(sdkAppId, "late-1");
    expect(row).toMatchObject({ status: "pending", attempts: 2, lastError: "Lcic.CircuitOpen" });
    await expect.poll(() => lcicUsersFor("late-1").length, { timeout: 5_000 }).toBe(1); // LCIC applies it late

    // The caller's retry, on a replica whose circuit is closed, gets that one user.
    const other = await healthyService();
    const retried = await other.users.register({ originId: "late-1", name: "Late" });
    expect(retried).toMatchObject({ created: true, user: { userId: lcicUsersFor("late-1")[0]!.userId, status: "registered" } });
    expect(emulator.counters().RegisterUser.applied).toBe(1);
  });

  it("without originId: the row stays pending; once stale, the reconciler deletes the LCIC user nobody was given", async () => {
    const h = await fragileService();
    emulator.injectFault({ action: "RegisterUser", mode: "latency", ms: LATE_MS, times: 1 });
    await expect(h.users.register({ name: "Nameless" })).rejects.toBeInstanceOf(LcicUnavailableError);
    const [row] = await h.db.db.select().from(classroomUsers).where(eq(classroomUsers.name, "Nameless"));
    expect(row).toMatchObject({ status: "pending", originIdGenerated: true, attempts: 2 });
    await expect.poll(() => lcicUsersFor(row!.originId).length, { timeout: 5_000 }).toBe(1);

    await makeStale(h, row!.id);
    const other = await healthyService();
    expect(await other.users.reconcilePending(row!)).toBe("withdrawn");
    expect(lcicUsersFor(row!.originId)).toHaveLength(0);
    expect(await h.repository.findByOriginId(sdkAppId, row!.originId)).toBeUndefined();
  });

  it("a refusal by our own side before the first RegisterUser deletes the row: nothing can land", async () => {
    const h = await fragileService();
    emulator.injectFault({ action: "RegisterUser", mode: "http", status: 503, times: 1 }); // opens the circuit
    await expect(h.users.register({ originId: "opener" })).rejects.toBeInstanceOf(LcicUnavailableError);
    emulator.resetCounters();
    const error = await h.users.register({ originId: "never-sent" }).catch((e: unknown) => e);
    expect((error as LcicUnavailableError).code).toBe("Lcic.CircuitOpen");
    expect(await h.repository.findByOriginId(sdkAppId, "never-sent")).toBeUndefined();
    expect(emulator.counters().RegisterUser.calls).toBe(0);
  });
});
