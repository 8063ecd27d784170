// Every LCIC failure maps to its union member, with LCIC's requestId where LCIC answered; what is
// stored afterwards is checked row by row.
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { LCIC_AUTH_MESSAGE } from "../../src/lcic/errors.js";
import { APP, find, register, startTestServer, type TestServer } from "../support/server.js";

// Allowed by our config but unknown to the emulator: LCIC answers InvalidParameter.SdkAppId.
const UNKNOWN_TO_LCIC = 1400000077;
const REQUEST_ID = /^[0-9a-f-]{36}$/;

// The circuit breaker is off here: this file injects failures back to back on one server, and each
// test must see LCIC's own answer, not a circuit opened by the tests before it.
const server = await startTestServer({
  configEnv: { LCIC_SDK_APP_IDS: `${APP},${UNKNOWN_TO_LCIC}`, LCIC_CIRCUIT_FAILURES: "0" },
  emulatorOptions: { timeoutMs: 1000 },
});
afterAll(() => server.close());
beforeEach(async () => {
  server.emulator.reset();
  await server.db.sql`truncate classroom_users`;
});

describe("registerClassroomUser: LCIC refuses (nothing created, nothing stored)", () => {
  it("FailedOperation → LcicError with LCIC's code and requestId", async () => {
    server.emulator.injectFault({ mode: "error", code: "FailedOperation", message: "no", action: "RegisterUser" });
    const r = await register(server, { originId: "f1" });
    expect(r).toMatchObject({ __typename: "LcicError", code: "FailedOperation" });
    expect(r.requestId).toMatch(REQUEST_ID);
    expect(await server.rows()).toEqual([]);
    // Nothing blocks a later attempt.
    expect((await register(server, { originId: "f1" })).created).toBe(true);
  });

  it("InvalidParameter.SdkAppId (allowed here, unknown to LCIC) → InvalidSdkAppIdError with requestId", async () => {
    const r = await register(server, { originId: "f2", sdkAppId: UNKNOWN_TO_LCIC });
    expect(r).toMatchObject({ __typename: "InvalidSdkAppIdError", code: "InvalidParameter.SdkAppId", sdkAppId: UNKNOWN_TO_LCIC });
    expect(r.requestId).toMatch(REQUEST_ID);
    expect(server.emulator.counters().RegisterUser.calls).toBe(1);
    expect(await server.rows()).toEqual([]);
  });

  it("one RequestLimitExceeded is waited out: retried after a backoff, and the caller never sees it", async () => {
    server.emulator.injectFault({ mode: "error", code: "RequestLimitExceeded", action: "RegisterUser" });
    const r = await register(server, { originId: "f3a" });
    expect(r).toMatchObject({ __typename: "RegisterClassroomUserSuccess", created: true });
    expect(server.emulator.counters().RegisterUser).toMatchObject({ calls: 2, applied: 1 });
    expect(server.emulator.users()).toHaveLength(1);
  });

  it("RequestLimitExceeded that outlasts the retries → LcicRateLimitedError with retryAfterMs and requestId", async () => {
    server.emulator.injectFault({ mode: "error", code: "RequestLimitExceeded", action: "RegisterUser", times: Number.POSITIVE_INFINITY });
    const r = await register(server, { originId: "f3" });
    expect(r).toMatchObject({ __typename: "LcicRateLimitedError", code: "RequestLimitExceeded" });
    expect(r.retryAfterMs).toBeGreaterThan(0);
    expect(r.requestId).toMatch(REQUEST_ID);
    expect(await server.rows()).toEqual([]);
  });

  it("AuthFailure (wrong secret key) → LcicError with the AuthFailure code, a generic message and requestId; LCIC's text only in the log", async () => {
    const wrongKey = await startTestServer({ credentials: { secretKey: "definitely-not-the-key-000000000" }, logLevel: "warn" });
    try {
      const r = await register(wrongKey, { originId: "f4" });
      expect(r.__typename).toBe("LcicError");
      expect(r.code).toMatch(/^AuthFailure\./);
      // LCIC's own explanation (which credential, which signature step) is not the caller's business.
      expect(r.message).toBe(LCIC_AUTH_MESSAGE);
      expect(r.message).not.toMatch(/signature|SecretId|credential scope/i);
      const logged = wrongKey.logs.map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(logged).toContainEqual(expect.objectContaining({ level: 50, code: r.code, action: "RegisterUser", detail: expect.stringMatching(/signature/i) }));
      expect(r.requestId).toMatch(REQUEST_ID);
      expect(await wrongKey.rows()).toEqual([]);
      expect(wrongKey.emulator.users()).toEqual([]);
      // Lookups report it the same way.
      const f = await find(wrongKey, { originId: "f4" });
      expect(f.__typename).toBe("LcicError");
      expect(f.code).toMatch(/^AuthFailure\./);
    } finally {
      await wrongKey.close();
    }
  });
});

describe("registerClassroomUser: LCIC unavailable", () => {
  it.each([
    ["InternalError", { mode: "error", code: "InternalError", action: "RegisterUser" }, "InternalError", true],
    ["http 502", { mode: "http", status: 502, action: "RegisterUser" }, "Network.HttpStatus", false],
    ["drop", { mode: "drop", action: "RegisterUser" }, "Network.ConnectionReset", false],
  ] as const)("%s on both RegisterUser rounds → LcicUnavailableError; no user in LCIC; only a pending record of intent, completed by a retry", async (_label, fault, code, answered) => {
    server.emulator.injectFault({ ...fault, times: 2 });
    const r = await register(server, { originId: "u1", name: "Unlucky" });
    expect(r).toMatchObject({ __typename: "LcicUnavailableError", code });
    if (answered) expect(r.requestId).toMatch(REQUEST_ID);
    else expect(r.requestId).toBeNull();
    expect(server.emulator.users()).toEqual([]);
    // The outcome was unknown to the service, so it keeps a pending row (no user id, no token) for the retry.
    const rows = await server.rows();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ status: "pending", user_id: null, token_ciphertext: null, last_error: code, attempts: 2 });
    // A classroomUser lookup does not show a pending user.
    const f = await find(server, { originId: "u1" });
    expect(f.__typename).toBe("ClassroomUserNotFoundError");
    // The retry registers exactly one user.
    const retry = await register(server, { originId: "u1", name: "Unlucky" });
    expect(retry).toMatchObject({ __typename: "RegisterClassroomUserSuccess", created: true });
    expect(server.emulator.users()).toHaveLength(1);
    expect(await server.rows()).toEqual([expect.objectContaining({ status: "registered", user_id: retry.user.userId, name: "Unlucky" })]);
  });

  it("one lost reply (502, nothing applied) is absorbed: reconciled, RegisterUser sent once more, created: true", async () => {
    server.emulator.injectFault({ mode: "http", status: 502, action: "RegisterUser" });
    const r = await register(server, { originId: "u2", name: "Lucky" });
    expect(r).toMatchObject({ __typename: "RegisterClassroomUserSuccess", created: true });
    expect(server.emulator.counters().RegisterUser.calls).toBe(2);
    expect(server.emulator.users()).toHaveLength(1);
  });

  it("applyThenDrop: LCIC created the user though the reply was lost → adopted as ours, created: true", async () => {
    server.emulator.injectFault({ mode: "applyThenDrop", action: "RegisterUser" });
    const r = await register(server, { originId: "ghost", name: "Ghost" });
    expect(r).toMatchObject({ __typename: "RegisterClassroomUserSuccess", created: true, user: { originId: "ghost", name: "Ghost" } });
    expect(server.emulator.users()).toHaveLength(1);
    expect(await server.rows()).toEqual([expect.objectContaining({ status: "registered", user_id: r.user.userId })]);
  });

  it("LoginUser failing while refreshing a stale token → LcicUnavailableError; the stored user is untouched", async () => {
    const first = await register(server, { originId: "stale" });
    await server.db.sql`update classroom_users set token_expires_at = now() + interval '5 minutes'`;
    const [before] = await server.rows();
    // LoginUser is idempotent, so one failure is retried away; a lasting one reaches the caller.
    server.emulator.injectFault({ mode: "http", status: 502, action: "LoginUser", times: Number.POSITIVE_INFINITY });
    const r = await register(server, { originId: "stale" });
    expect(r.__typename).toBe("LcicUnavailableError");
    expect(await server.rows()).toEqual([before]);
    expect(server.emulator.counters().LoginUser.calls).toBeGreaterThan(1);
    server.emulator.clearFaults();
    const again = await register(server, { originId: "stale" });
    expect(again).toMatchObject({ created: false, user: { userId: first.user.userId } });
  });
});

describe("registerClassroomUser: LCIC's real rate limit", () => {
  it("LCIC refusing for rate (its limit lower than our pace) is waited out: every caller succeeds, exactly once", async () => {
    const limited = await startTestServer({ emulatorOptions: { rateLimits: { RegisterUser: 2 } } });
    try {
      const results = await Promise.all(Array.from({ length: 5 }, (_, i) => register(limited, { originId: `rl-${i}` })));
      expect(results.map((r) => r.__typename)).toEqual(Array(5).fill("RegisterClassroomUserSuccess"));
      // LCIC did refuse some calls; the service retried them after a backoff instead of failing.
      expect(limited.emulator.counters().RegisterUser.rateLimited).toBeGreaterThan(0);
      const rows = await limited.rows();
      expect(rows.map((row) => row.origin_id).sort()).toEqual(results.map((r) => r.user.originId).sort());
      expect(rows.every((row) => row.status === "registered")).toBe(true);
      expect(limited.emulator.users()).toHaveLength(5);
    } finally {
      await limited.close();
    }
  });
});

describe("registerClassroomUser: LCIC too slow (LCIC_TIMEOUT_MS)", () => {
  it("Network.Timeout on both rounds → LcicUnavailableError; LCIC creates the user late; the retry adopts it as ours, exactly once", async () => {
    const slow = await startTestServer({ configEnv: { LCIC_TIMEOUT_MS: "200" } });
    try {
      // Far slower than both rounds and the reconciliation after each (timeouts 200 ms): nothing has
      // landed when the request gives up, however the machine is loaded.
      slow.emulator.injectFault({ mode: "latency", ms: 2_500, action: "RegisterUser", times: 2 });
      const r = await register(slow, { originId: "slow", name: "Slow" });
      expect(r).toMatchObject({ __typename: "LcicUnavailableError", code: "Network.Timeout", requestId: null });
      expect(await slow.rows()).toEqual([expect.objectContaining({ status: "pending", user_id: null, last_error: "Network.Timeout", attempts: 2 })]);
      // LCIC finishes the slow calls after we gave up: the first creates the user, the second is refused.
      await expect.poll(() => slow.emulator.counters().RegisterUser.errors + slow.emulator.counters().RegisterUser.applied, { timeout: 6000 }).toBe(2);
      expect(slow.emulator.users()).toHaveLength(1);
      const retry = await register(slow, { originId: "slow", name: "Slow" });
      expect(retry).toMatchObject({ __typename: "RegisterClassroomUserSuccess", created: true, user: { userId: slow.emulator.users()[0]!.userId, name: "Slow" } });
      expect(slow.emulator.counters().RegisterUser.calls).toBe(2);
      expect(slow.emulator.users()).toHaveLength(1);
      expect(await slow.rows()).toEqual([expect.objectContaining({ status: "registered", user_id: retry.user.userId, last_error: null })]);
    } finally {
      await slow.close();
    }
  });

  it("a lookup leaves a pending registration alone (no LCIC call, no write, no token); the next registration completes it", async () => {
    server.emulator.injectFault({ mode: "applyThenDrop", action: "RegisterUser" });
    server.emulator.injectFault({ mode: "drop", action: "LoginOriginId", times: Number.POSITIVE_INFINITY });
    const r = await register(server, { originId: "half", name: "Half" });
    expect(r.__typename).toBe("LcicUnavailableError");
    const pending = await server.rows();
    expect(pending).toEqual([expect.objectContaining({ status: "pending", user_id: null })]);
    server.emulator.clearFaults();
    server.emulator.resetCounters();
    const f = await find(server, { originId: "half" });
    expect(f).toMatchObject({ __typename: "ClassroomUserNotFoundError", lookedUpOriginId: "half" });
    expect(await server.rows()).toEqual(pending);
    expect(server.emulator.counters().LoginOriginId.calls + server.emulator.counters().DescribeUser.calls).toBe(0);
    const done = await register(server, { originId: "half" });
    expect(done).toMatchObject({ __typename: "RegisterClassroomUserSuccess", created: true, user: { userId: server.emulator.users()[0]!.userId, name: "Half" } });
    expect(server.emulator.counters().RegisterUser.calls).toBe(0);
  });

  it("a lookup by userId of a user whose registration here is pending does not complete or overwrite the pending row", async () => {
    server.emulator.injectFault({ mode: "applyThenDrop", action: "RegisterUser" });
    server.emulator.injectFault({ mode: "drop", action: "LoginOriginId", times: Number.POSITIVE_INFINITY });
    expect((await register(server, { originId: "half-2", name: "Half" })).__typename).toBe("LcicUnavailableError");
    server.emulator.clearFaults();
    const landed = server.emulator.users().find((u) => u.originId === "half-2")!;
    const before = (await server.rows()).filter((row) => row.origin_id === "half-2");
    expect(before).toEqual([expect.objectContaining({ status: "pending" })]);
    const f = await find(server, { userId: landed.userId });
    expect(f).toMatchObject({ __typename: "ClassroomUserNotFoundError" });
    expect((await server.rows()).filter((row) => row.origin_id === "half-2")).toEqual(before);
  });
});

describe("classroomUser: LCIC failures during a lookup", () => {
  it("DescribeUser InternalError → LcicUnavailableError with requestId; nothing stored", async () => {
    const outside = await server.lcic.client.registerUser({ sdkAppId: APP, originId: "look-1" });
    server.emulator.injectFault({ mode: "error", code: "InternalError", action: "DescribeUser", times: Number.POSITIVE_INFINITY });
    const r = await find(server, { userId: outside.userId });
    expect(r.__typename).toBe("LcicUnavailableError");
    expect(r.requestId).toMatch(REQUEST_ID);
    expect(await server.rows()).toEqual([]);
  });

  it("RequestLimitExceeded → LcicRateLimitedError", async () => {
    server.emulator.injectFault({ mode: "error", code: "RequestLimitExceeded", action: "LoginOriginId", times: Number.POSITIVE_INFINITY });
    const r = await find(server, { originId: "look-2" });
    expect(r).toMatchObject({ __typename: "LcicRateLimitedError", code: "RequestLimitExceeded" });
    expect(r.retryAfterMs).toBeGreaterThan(0);
  });

  it("drop → LcicUnavailableError without requestId", async () => {
    server.emulator.injectFault({ mode: "drop", times: Number.POSITIVE_INFINITY });
    const r = await find(server, { userId: "nobody" });
    expect(r).toMatchObject({ __typename: "LcicUnavailableError", requestId: null });
  });

  it("InvalidParameter.SdkAppId from LCIC on an originId lookup → InvalidSdkAppIdError", async () => {
    const r = await find(server, { originId: "x", sdkAppId: UNKNOWN_TO_LCIC });
    expect(r).toMatchObject({ __typename: "InvalidSdkAppIdError", sdkAppId: UNKNOWN_TO_LCIC });
    expect(r.requestId).toMatch(REQUEST_ID);
  });
});

export type { TestServer };
