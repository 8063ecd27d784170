import { afterAll, describe, expect, it } from "vitest";
import { CircuitBreaker, LCIC_CIRCUIT_OPEN } from "../../src/lcic/breaker.js";
import type { LcicAction, LcicClient } from "../../src/lcic/client.js";
import { LcicError, type LcicErrorKind } from "../../src/lcic/errors.js";
import { createPostgresPacer, LCIC_QUEUE_FULL, lcicQueueFullError, type Pacer } from "../../src/lcic/pacer.js";
import { createResilientLcicClient, LCIC_PACER_UNAVAILABLE, type ResilienceEvent } from "../../src/lcic/resilient.js";
import { createTestDatabase } from "../support/database.js";
import { fakeTime } from "../support/fake-time.js";

/** Fake time shared by the wrapper, pacer and breaker starts near real epoch milliseconds. */
const START = 1_800_000_000_000;

const TOKEN = "secret-login-token-never-in-events";

function lcicError(code: string, kind: LcicErrorKind, retryable: boolean, outcomeUnknown = false, retryAfterMs?: number) {
  return new LcicError({ code, message: code, kind, retryable, outcomeUnknown, retryAfterMs });
}
const timeout = () => lcicError("Network.Timeout", "unavailable", true, true);
const refused = () => lcicError("Network.ConnectionRefused", "unavailable", true, false);
const requestLimit = () => lcicError("RequestLimitExceeded", "rate_limited", true, false, 1000);

/**
 * An LcicClient whose every answer comes from a script: each call takes the next entry for its action
 * (an error is thrown, anything else returned); an action with no entries left succeeds.
 */
function scriptedLcic(script: Partial<Record<LcicAction, unknown[]>> = {}) {
  const calls: LcicAction[] = [];
  const answer = async (action: LcicAction, ok: unknown) => {
    calls.push(action);
    const next = script[action]?.shift();
    if (next instanceof Error) throw next;
    return next ?? ok;
  };
  const token = { userId: "u1", token: TOKEN, requestId: "r1" };
  const client: LcicClient = {
    registerUser: () => answer("RegisterUser", token) as never,
    batchRegister: () => answer("BatchRegister", { users: [], requestId: "r" }) as never,
    describeUser: () => answer("DescribeUser", { sdkAppId: 1, userId: "u1", originId: "o1", requestId: "r" }) as never,
    loginUser: () => answer("LoginUser", token) as never,
    loginOriginId: () => answer("LoginOriginId", token) as never,
    modifyUserProfile: () => answer("ModifyUserProfile", { requestId: "r" }) as never,
    deleteUser: () => answer("DeleteUser", { requestId: "r" }) as never,
    describeSdkAppIdUsers: () => answer("DescribeSdkAppIdUsers", { total: 0, users: [], requestId: "r" }) as never,
  };
  return { client, calls };
}


describe("resilient LCIC client", () => {
  const database = createTestDatabase();
  afterAll(async () => (await database).close());

  /** A pacer on the test database with its own keys (a distinct SdkAppId per test keeps them apart). */
  async function pacer(time: ReturnType<typeof fakeTime>, maxQueueMs = 2_000, sleep = time.sleep) {
    return createPostgresPacer((await database).db, { maxQueueMs, now: time.now, sleep });
  }

  it("passes a successful call through, paced, and counts it", async () => {
    const time = fakeTime(START);
    const events: ResilienceEvent[] = [];
    const { client: inner, calls } = scriptedLcic();
    const lcic = createResilientLcicClient(inner, { pacer: await pacer(time), maxQueueMs: 2_000, ...time, onEvent: (e) => events.push(e) });
    const results = [];
    for (let i = 0; i < 3; i++) results.push(await lcic.registerUser({ sdkAppId: 101, originId: `o${i}` }));
    expect(results[0]).toMatchObject({ userId: "u1" });
    expect(calls).toEqual(["RegisterUser", "RegisterUser", "RegisterUser"]);
    // Back to back at one fake instant: each waits one interval (55.6 ms at 18/s) after the previous.
    expect(time.sleeps.map((ms) => Math.round(ms))).toEqual([56, 56]);
    expect(lcic.stats()).toMatchObject({ calls: 3, succeeded: 3, failed: 0, attempts: 3, retries: 0, circuit: "closed" });
    expect(events.filter((e) => e.type === "call")).toHaveLength(3);
    expect(JSON.stringify(events)).not.toContain(TOKEN);
  });

  it("`ready`: the call leaves only once it resolves; when it rejects nothing is sent and its error is the answer, even past an open circuit", async () => {
    const time = fakeTime(START);
    const { client: inner, calls } = scriptedLcic();
    const breaker = new CircuitBreaker({ now: time.now });
    const lcic = createResilientLcicClient(inner, { pacer: await pacer(time), breaker, maxQueueMs: 2_000, ...time });
    let resolve!: () => void;
    const ready = new Promise<void>((r) => (resolve = r));
    let settled = false;
    const call = lcic.registerUser({ sdkAppId: 111, originId: "ready-1" }, { ready }).finally(() => (settled = true));
    await new Promise((r) => setTimeout(r, 100));
    expect(calls).toEqual([]);
    expect(settled).toBe(false);
    resolve();
    await expect(call).resolves.toMatchObject({ userId: "u1" });
    expect(calls).toEqual(["RegisterUser"]);

    const failure = new Error("attempt not recorded");
    await expect(lcic.registerUser({ sdkAppId: 111, originId: "ready-2" }, { ready: Promise.reject(failure) })).rejects.toBe(failure);
    expect(calls).toEqual(["RegisterUser"]);

    // An open circuit refuses at once, but not before `ready` settled.
    while (breaker.state() !== "open") breaker.acquire("RegisterUser").failure();
    let unblock!: () => void;
    const late = new Promise<void>((r) => (unblock = r));
    settled = false;
    const refused = lcic.registerUser({ sdkAppId: 111, originId: "ready-3" }, { ready: late }).finally(() => (settled = true));
    refused.catch(() => undefined);
    await new Promise((r) => setTimeout(r, 50));
    expect(settled).toBe(false);
    unblock();
    await expect(refused).rejects.toMatchObject({ code: LCIC_CIRCUIT_OPEN });
    expect(calls).toEqual(["RegisterUser"]);
  });

  it("retries RequestLimitExceeded after its retryAfterMs, re-pacing the retry", async () => {
    const time = fakeTime(START);
    const acquired: LcicAction[] = [];
    const shared = await pacer(time);
    const countingPacer: Pacer = { acquire: (a, s, o) => (acquired.push(a), shared.acquire(a, s, o)) };
    const { client: inner, calls } = scriptedLcic({ RegisterUser: [requestLimit()] });
    const events: ResilienceEvent[] = [];
    const lcic = createResilientLcicClient(inner, { pacer: countingPacer, maxQueueMs: 2_000, ...time, random: () => 0, onEvent: (e) => events.push(e) });
    await expect(lcic.registerUser({ sdkAppId: 102 })).resolves.toMatchObject({ userId: "u1" });
    expect(calls).toHaveLength(2);
    expect(acquired).toHaveLength(2);
    expect(time.sleeps).toContain(1000);
    expect(lcic.stats()).toMatchObject({ calls: 1, succeeded: 1, attempts: 2, retries: 1, lcicRateLimited: 1 });
    expect(events.map((e) => e.type)).toEqual(["rate_limited", "call", "retry", "call"]);
  });

  it("does not retry an outcome-unknown RegisterUser, but does retry the same failure of DescribeUser", async () => {
    const time = fakeTime(START);
    const { client: inner, calls } = scriptedLcic({ RegisterUser: [timeout()], DescribeUser: [timeout(), timeout()] });
    const lcic = createResilientLcicClient(inner, { maxQueueMs: 2_000, ...time, random: () => 0.5 });
    await expect(lcic.registerUser({ sdkAppId: 103 })).rejects.toMatchObject({ code: "Network.Timeout", outcomeUnknown: true, action: "RegisterUser" });
    expect(calls).toEqual(["RegisterUser"]);
    await expect(lcic.describeUser({ userId: "u1" })).resolves.toMatchObject({ userId: "u1" });
    expect(calls).toEqual(["RegisterUser", "DescribeUser", "DescribeUser", "DescribeUser"]);
  });

  it("does not retry business errors", async () => {
    const time = fakeTime(START);
    const { client: inner, calls } = scriptedLcic({ RegisterUser: [lcicError("FailedOperation.OriginIdExists", "business", false)] });
    const lcic = createResilientLcicClient(inner, { maxQueueMs: 2_000, ...time });
    await expect(lcic.registerUser({ sdkAppId: 104, originId: "taken" })).rejects.toMatchObject({ code: "FailedOperation.OriginIdExists" });
    expect(calls).toHaveLength(1);
  });

  it("refuses with Lcic.QueueFull when the pacer queue is longer than maxQueueMs, without calling LCIC", async () => {
    const time = fakeTime(START);
    const events: ResilienceEvent[] = [];
    const { client: inner, calls } = scriptedLcic();
    const lcic = createResilientLcicClient(inner, { pacer: await pacer(time, 100, async () => {}), maxQueueMs: 100, ...time, onEvent: (e) => events.push(e) });
    // Three concurrent calls at one instant (the pacer's sleep does not move the fake clock here):
    // slots at +0 and +55.6 ms fit, +111.1 ms does not, and would fit 11.1 ms later.
    const outcomes = await Promise.allSettled([0, 1, 2].map(() => lcic.loginOriginId({ sdkAppId: 105, originId: "o" })));
    expect(outcomes.map((o) => o.status).sort()).toEqual(["fulfilled", "fulfilled", "rejected"]);
    const refusal = outcomes.find((o) => o.status === "rejected") as PromiseRejectedResult;
    expect(refusal.reason).toMatchObject({ code: LCIC_QUEUE_FULL, kind: "rate_limited", retryable: true, action: "LoginOriginId", retryAfterMs: 12 });
    expect(calls).toHaveLength(2);
    expect(lcic.stats()).toMatchObject({ calls: 3, rateLimited: 1, queueFull: 1, lcicRateLimited: 0, failed: 1, retries: 0 });
    expect(events).toContainEqual({ type: "rate_limited", action: "LoginOriginId", code: LCIC_QUEUE_FULL, retryAfterMs: 12 });
  });

  it("LCIC down: opens the circuit and then fails fast without calling LCIC, until a probe succeeds", async () => {
    const time = fakeTime(START);
    const down = Array.from({ length: 100 }, refused);
    const { client: inner, calls } = scriptedLcic({ LoginUser: down });
    const breaker = new CircuitBreaker({ consecutiveFailures: 5, coolDownMs: 10_000, now: time.now });
    const lcic = createResilientLcicClient(inner, {
      breaker,
      maxQueueMs: 2_000,
      retry: { maxAttempts: 3, baseMs: 100, capMs: 1_000, totalBudgetMs: 5_000 },
      ...time,
      random: () => 0,
    });
    const first = await Promise.allSettled(Array.from({ length: 4 }, () => lcic.loginUser("u1")));
    expect(first.every((o) => o.status === "rejected")).toBe(true);
    expect(lcic.circuitState()).toBe("open");
    const sentWhileClosed = calls.length;
    expect(sentWhileClosed).toBeLessThanOrEqual(5 + 4); // at most the threshold plus calls already in flight
    for (let i = 0; i < 20; i++) {
      await expect(lcic.loginUser("u1")).rejects.toMatchObject({ code: LCIC_CIRCUIT_OPEN, kind: "unavailable", action: "LoginUser" });
    }
    expect(calls).toHaveLength(sentWhileClosed);
    expect(lcic.stats().circuitOpen).toBeGreaterThanOrEqual(20);
    expect(lcic.stats().circuit).toBe("open");

    // LCIC recovers; after the cool-down one probe goes through and closes the circuit.
    down.length = 0;
    time.advance(10_000);
    expect(lcic.circuitState()).toBe("half_open");
    await expect(lcic.loginUser("u1")).resolves.toMatchObject({ userId: "u1" });
    expect(lcic.circuitState()).toBe("closed");
  });

  it("each action has its own circuit: one failing action is refused fast, the others still call LCIC", async () => {
    const time = fakeTime(START);
    const { client: inner, calls } = scriptedLcic({ DeleteUser: Array.from({ length: 100 }, refused) });
    const made: LcicAction[] = [];
    const lcic = createResilientLcicClient(inner, {
      breaker: (action) => {
        made.push(action);
        return new CircuitBreaker({ consecutiveFailures: 3, coolDownMs: 10_000, now: time.now });
      },
      maxQueueMs: 2_000,
      retry: { maxAttempts: 1 },
      ...time,
    });
    for (let i = 0; i < 3; i++) await expect(lcic.deleteUser("u1")).rejects.toMatchObject({ code: "Network.ConnectionRefused" });
    await expect(lcic.deleteUser("u1")).rejects.toMatchObject({ code: LCIC_CIRCUIT_OPEN, action: "DeleteUser" });
    expect(calls.filter((a) => a === "DeleteUser")).toHaveLength(3);
    // Registrations and token requests are not refused because DeleteUser fails.
    await expect(lcic.registerUser({ sdkAppId: 1, name: "n", originId: "o" })).resolves.toMatchObject({ userId: "u1" });
    await expect(lcic.loginUser("u1")).resolves.toMatchObject({ userId: "u1" });
    expect(lcic.circuitStates()).toMatchObject({ DeleteUser: "open", RegisterUser: "closed", LoginUser: "closed", DescribeSdkAppIdUsers: "closed" });
    expect(lcic.circuitState()).toBe("open"); // the most severe, for /readyz
    expect(made.sort()).toEqual(["DeleteUser", "LoginUser", "RegisterUser"]); // one breaker per action, made on first use
    time.advance(10_000);
    expect(lcic.circuitStates().DeleteUser).toBe("half_open");
    expect(lcic.circuitState()).toBe("half_open");
  });

  it("one breaker instance passed in is shared by every action", async () => {
    const time = fakeTime(START);
    const { client: inner } = scriptedLcic({ DeleteUser: [refused()] });
    const breaker = new CircuitBreaker({ consecutiveFailures: 1, coolDownMs: 10_000, now: time.now });
    const lcic = createResilientLcicClient(inner, { breaker, maxQueueMs: 2_000, retry: { maxAttempts: 1 }, ...time });
    await expect(lcic.deleteUser("u1")).rejects.toMatchObject({ code: "Network.ConnectionRefused" });
    await expect(lcic.loginUser("u1")).rejects.toMatchObject({ code: LCIC_CIRCUIT_OPEN, action: "LoginUser" });
    expect(Object.values(lcic.circuitStates()).every((state) => state === "open")).toBe(true);
  });

  it("business and rate-limit answers do not open the circuit", async () => {
    const time = fakeTime(START);
    const notFound = Array.from({ length: 20 }, () => lcicError("ResourceNotFound.User", "business", false));
    const { client: inner } = scriptedLcic({ DescribeUser: notFound, LoginUser: Array.from({ length: 20 }, requestLimit) });
    const lcic = createResilientLcicClient(inner, { maxQueueMs: 2_000, retry: { maxAttempts: 1 }, ...time });
    for (let i = 0; i < 20; i++) {
      await expect(lcic.describeUser({ originId: "x" })).rejects.toMatchObject({ code: "ResourceNotFound.User" });
      await expect(lcic.loginUser("u")).rejects.toMatchObject({ code: "RequestLimitExceeded" });
    }
    expect(lcic.circuitState()).toBe("closed");
  });

  it("a pacer whose database fails yields Lcic.PacerUnavailable: nothing sent, circuit untouched", async () => {
    const time = fakeTime(START);
    const { client: inner, calls } = scriptedLcic();
    const broken: Pacer = { acquire: async () => { throw new Error("connect ECONNREFUSED 127.0.0.1:5432"); } };
    const lcic = createResilientLcicClient(inner, { pacer: broken, maxQueueMs: 2_000, ...time });
    for (let i = 0; i < 10; i++) {
      await expect(lcic.deleteUser("u1")).rejects.toMatchObject({ code: LCIC_PACER_UNAVAILABLE, kind: "unavailable", outcomeUnknown: false, action: "DeleteUser" });
    }
    expect(calls).toHaveLength(0);
    expect(lcic.circuitState()).toBe("closed");
  });

  it("a caller's abort is neither retried nor counted against LCIC", async () => {
    const time = fakeTime(START);
    const controller = new AbortController();
    const aborted = lcicError("Network.Aborted", "unavailable", false, true);
    const { client: inner, calls } = scriptedLcic({ DescribeUser: [aborted, aborted, aborted, aborted, aborted, aborted] });
    const breaker = new CircuitBreaker({ consecutiveFailures: 2, now: time.now });
    const lcic = createResilientLcicClient(inner, { breaker, maxQueueMs: 2_000, ...time });
    controller.abort();
    for (let i = 0; i < 3; i++) await expect(lcic.describeUser({ userId: "u" }, { signal: controller.signal })).rejects.toBeDefined();
    expect(calls).toHaveLength(3);
    expect(breaker.state()).toBe("closed");
  });

  it("a retry bounded by the remaining budget that cannot get a slot ends with LCIC's error, not the queue's", async () => {
    const time = fakeTime(START);
    const bounds: Array<number | undefined> = [];
    const pacer: Pacer = {
      acquire: async (action, _sdkAppId, o) => {
        bounds.push(o?.maxQueueMs);
        if (bounds.length > 1) throw lcicQueueFullError(action, 300, o?.maxQueueMs ?? 0);
        return 0;
      },
    };
    const internal = lcicError("InternalError", "unavailable", true, true);
    const { client: inner, calls } = scriptedLcic({ DescribeUser: [internal] });
    const lcic = createResilientLcicClient(inner, {
      pacer,
      maxQueueMs: 2_000,
      retry: { baseMs: 100, capMs: 100, maxAttempts: 3, totalBudgetMs: 500 },
      ...time,
      random: () => 0.5,
    });
    await expect(lcic.describeUser({ userId: "u" })).rejects.toMatchObject({ code: "InternalError", action: "DescribeUser" });
    expect(calls).toHaveLength(1);
    // First attempt: the full queue bound; the retry: only what is left of the 500 ms budget.
    expect(bounds).toEqual([2_000, 450]);
    expect(lcic.stats()).toMatchObject({ failed: 1, retries: 1, rateLimited: 0, queueFull: 0 });
  });

  it("a retry after RequestLimitExceeded that cannot get a slot keeps the queue's honest retryAfterMs, not LCIC's 1000", async () => {
    const time = fakeTime(START);
    const pacer: Pacer = {
      acquire: async (action, _sdkAppId, o) => {
        if (time.sleeps.length > 0) throw lcicQueueFullError(action, 3_700, o?.maxQueueMs ?? 0);
        return 0;
      },
    };
    const { client: inner } = scriptedLcic({ LoginUser: [requestLimit()] });
    const lcic = createResilientLcicClient(inner, { pacer, maxQueueMs: 2_000, retry: { maxAttempts: 3, totalBudgetMs: 5_000 }, ...time, random: () => 0 });
    const error = await lcic.loginUser("u").catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "RequestLimitExceeded", kind: "rate_limited", action: "LoginUser", retryAfterMs: 3_700 });
  });

  it("passes each call's priority to the pacer (interactive when the caller names none)", async () => {
    const priorities: unknown[] = [];
    const pacer: Pacer = { acquire: async (_a, _s, o) => (priorities.push(o?.priority), 0) };
    const lcic = createResilientLcicClient(scriptedLcic().client, { pacer, maxQueueMs: 2_000, ...fakeTime(START) });
    await lcic.loginOriginId({ sdkAppId: 1, originId: "o" }, { priority: "lookup" });
    await lcic.describeUser({ userId: "u" }, { priority: "background" });
    await lcic.registerUser({ sdkAppId: 1, originId: "o" });
    expect(priorities).toEqual(["lookup", "background", "interactive"]);
  });
});
