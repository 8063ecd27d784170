// What callers see when LCIC misbehaves: injected faults, timeouts, refused connections, rate
// limits, aborts, and an http_proxy variable that must not reroute us. Real SDK, real sockets.
import http from "node:http";
import { afterAll, beforeEach, describe, expect, it, vi } from "vitest";
import { Client } from "tencentcloud-sdk-nodejs/tencentcloud/services/lcic/v20220817/lcic_client.js";
import { createLcicClient } from "../../src/lcic/client.js";
import { startLcicEmulator } from "../../src/lcic/emulator/index.js";
import { catchLcicError, startTestLcic } from "../support/lcic.js";

const APP = 1400000001;
// The clock drives both signature expiry and rate-limit windows: keep it near real time.
let clock = Date.now();
// Generous for normal calls (other test files may load the machine); the timeout test has its own client.
const lcic = await startTestLcic({ now: () => clock, timeoutMs: 2_000 });
afterAll(() => lcic.close());
beforeEach(() => {
  lcic.emulator.reset();
  clock = Date.now();
});

describe("fault modes", () => {
  it("latency: delays, then answers normally", async () => {
    lcic.emulator.injectFault({ mode: "latency", ms: 100, action: "RegisterUser" });
    const started = performance.now();
    await lcic.client.registerUser({ sdkAppId: APP, originId: "slow" });
    expect(performance.now() - started).toBeGreaterThanOrEqual(90);
    expect(lcic.emulator.counters().RegisterUser).toMatchObject({ calls: 1, applied: 1 });
  });

  it("a slow request counts against the rate limit in the second it arrived, not when it finishes", async () => {
    const limited = await startTestLcic({ now: () => clock, rateLimits: { RegisterUser: 1 } });
    try {
      limited.emulator.injectFault({ mode: "latency", ms: 300, action: "RegisterUser" });
      const slow = limited.client.registerUser({ sdkAppId: APP, originId: "arrived-first" });
      await vi.waitFor(() => expect(limited.emulator.counters().RegisterUser.calls).toBe(1));
      clock += 1_000; // the next second begins while the first request is still being processed
      await limited.client.registerUser({ sdkAppId: APP, originId: "next-second" });
      await expect(slow).resolves.toMatchObject({ userId: expect.any(String) });
      expect(limited.emulator.counters().RegisterUser).toMatchObject({ calls: 2, applied: 2, rateLimited: 0 });
    } finally {
      await limited.close();
    }
  });

  it("latency beyond timeoutMs: Network.Timeout, outcome unknown", async () => {
    lcic.emulator.injectFault({ mode: "latency", ms: 500, action: "RegisterUser" });
    const impatient = createLcicClient({ ...lcic.clientConfig, timeoutMs: 150 });
    const e = await catchLcicError(impatient.registerUser({ sdkAppId: APP, originId: "late" }));
    expect(e).toMatchObject({ code: "Network.Timeout", kind: "unavailable", retryable: true, outcomeUnknown: true, action: "RegisterUser" });
    // Outcome unknown indeed: the emulator still applies it once its delay ends. Waiting for that
    // also keeps the late write out of the next test.
    await vi.waitFor(() => expect(lcic.emulator.users(APP)).toEqual([expect.objectContaining({ originId: "late" })]), {
      timeout: 3_000,
    });
  });

  it("error: answers that LCIC error and applies nothing", async () => {
    lcic.emulator.injectFault({ mode: "error", code: "InternalError", message: "boom", action: "RegisterUser" });
    const e = await catchLcicError(lcic.client.registerUser({ sdkAppId: APP, originId: "x" }));
    expect(e).toMatchObject({ code: "InternalError", message: "boom", kind: "unavailable", retryable: true, outcomeUnknown: true });
    expect(e.requestId).toMatch(/^[0-9a-f-]{36}$/);
    // The SDK's X-TC-TraceId, echoed by the emulator and read back by the SDK.
    expect(e.traceId).toMatch(/^[0-9a-f-]{36}$/);
    expect(lcic.emulator.users()).toEqual([]);
    expect(lcic.emulator.counters().RegisterUser).toMatchObject({ calls: 1, applied: 0, errors: 1 });
    // times defaults to 1: the next call succeeds.
    await lcic.client.registerUser({ sdkAppId: APP, originId: "x" });
  });

  it("http 502: Network.HttpStatus with httpStatus, outcome unknown, nothing applied", async () => {
    lcic.emulator.injectFault({ mode: "http", status: 502 });
    const e = await catchLcicError(lcic.client.registerUser({ sdkAppId: APP, originId: "h" }));
    expect(e).toMatchObject({ code: "Network.HttpStatus", httpStatus: 502, kind: "unavailable", retryable: true, outcomeUnknown: true });
    expect(lcic.emulator.users()).toEqual([]);
  });

  it("drop: Network.ConnectionReset, nothing applied", async () => {
    lcic.emulator.injectFault({ mode: "drop", action: "RegisterUser" });
    const e = await catchLcicError(lcic.client.registerUser({ sdkAppId: APP, originId: "d" }));
    expect(e).toMatchObject({ code: "Network.ConnectionReset", kind: "unavailable", retryable: true, outcomeUnknown: true });
    expect(lcic.emulator.users()).toEqual([]);
  });

  it("applyThenDrop: the user exists in LCIC but the caller only learns the outcome is unknown", async () => {
    lcic.emulator.injectFault({ mode: "applyThenDrop", action: "RegisterUser" });
    const e = await catchLcicError(lcic.client.registerUser({ sdkAppId: APP, originId: "ghost" }));
    expect(e).toMatchObject({ kind: "unavailable", outcomeUnknown: true, code: "Network.ConnectionReset" });
    expect(lcic.emulator.users(APP)).toEqual([expect.objectContaining({ originId: "ghost" })]);
    // Reconciling works: the user is there and a retry of the register is refused.
    expect((await lcic.client.describeUser({ originId: "ghost" })).originId).toBe("ghost");
    expect((await catchLcicError(lcic.client.registerUser({ sdkAppId: APP, originId: "ghost" }))).code).toBe(
      "FailedOperation.OriginIdExists",
    );
  });

  it("applyThenHttp: applied, then a 5xx", async () => {
    lcic.emulator.injectFault({ mode: "applyThenHttp", status: 503, action: "DeleteUser" });
    const r = await lcic.client.registerUser({ sdkAppId: APP, originId: "gone" });
    const e = await catchLcicError(lcic.client.deleteUser(r.userId));
    expect(e).toMatchObject({ code: "Network.HttpStatus", httpStatus: 503, outcomeUnknown: true });
    expect(lcic.emulator.users()).toEqual([]);
  });

  it("faults are scoped to their action, count down, and Infinity lasts until cleared", async () => {
    lcic.emulator.injectFault({ mode: "error", code: "ResourceUnavailable", action: "LoginUser", times: Infinity });
    const r = await lcic.client.registerUser({ sdkAppId: APP, originId: "f" });
    for (let i = 0; i < 3; i++) {
      expect(await catchLcicError(lcic.client.loginUser(r.userId))).toMatchObject({
        code: "ResourceUnavailable",
        kind: "unavailable",
        retryable: true,
        outcomeUnknown: false,
      });
    }
    lcic.emulator.clearFaults();
    await lcic.client.loginUser(r.userId);
  });
});

describe("transport", () => {
  it("connection refused: Network.ConnectionRefused, outcome known, retryable", async () => {
    const gone = await startLcicEmulator();
    await gone.close();
    const client = createLcicClient({ endpoint: gone.url, ...gone.credentials, timeoutMs: 1000 });
    const e = await catchLcicError(client.registerUser({ sdkAppId: APP }));
    expect(e).toMatchObject({ code: "Network.ConnectionRefused", kind: "unavailable", retryable: true, outcomeUnknown: false });
    expect(e.traceId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("an aborted call: Network.Aborted", async () => {
    lcic.emulator.injectFault({ mode: "latency", ms: 200 });
    const controller = new AbortController();
    const pending = lcic.client.registerUser({ sdkAppId: APP }, { signal: controller.signal });
    setTimeout(() => controller.abort(), 30);
    expect(await catchLcicError(pending)).toMatchObject({ code: "Network.Aborted", kind: "unavailable", outcomeUnknown: true });
    // The emulator finishes the request anyway; wait so its write does not land in a later test.
    await vi.waitFor(() => expect(lcic.emulator.counters().RegisterUser.applied).toBe(1), { timeout: 3_000 });
  });

  it("http_proxy pointing at a dead port does not affect the client", async () => {
    const dead = http.createServer();
    await new Promise<void>((resolve) => dead.listen(0, "127.0.0.1", resolve));
    const deadPort = (dead.address() as { port: number }).port;
    await new Promise<void>((resolve) => dead.close(() => resolve()));
    const saved = process.env.http_proxy;
    process.env.http_proxy = `http://127.0.0.1:${deadPort}`;
    try {
      // The premise: the bare SDK without an agent is rerouted into the dead proxy.
      const bare = new Client({
        credential: lcic.emulator.credentials,
        profile: { httpProfile: { protocol: "http://", endpoint: new URL(lcic.emulator.url).host, reqTimeout: 1 } },
      });
      await expect(bare.request("LoginUser", { UserId: "x" })).rejects.toThrow(/ECONNREFUSED/);
      // Ours passes an explicit agent, so the variable is ignored.
      const client = createLcicClient(lcic.clientConfig);
      const r = await client.registerUser({ sdkAppId: APP, originId: "proxied" });
      expect((await client.loginUser(r.userId)).userId).toBe(r.userId);
    } finally {
      if (saved === undefined) delete process.env.http_proxy;
      else process.env.http_proxy = saved;
    }
  });
});

describe("rate limits (injected clock)", () => {
  it("over 20/s: RequestLimitExceeded as rate_limited, retryable, counted, not applied; the next second is fine", async () => {
    const calls = Array.from({ length: 20 }, (_, i) => lcic.client.registerUser({ sdkAppId: APP, originId: `r${i}` }));
    await Promise.all(calls);
    const e = await catchLcicError(lcic.client.registerUser({ sdkAppId: APP, originId: "r20" }));
    expect(e).toMatchObject({
      code: "RequestLimitExceeded",
      kind: "rate_limited",
      retryable: true,
      outcomeUnknown: false,
      retryAfterMs: expect.any(Number),
    });
    expect(lcic.emulator.users(APP)).toHaveLength(20);
    expect(lcic.emulator.counters().RegisterUser).toEqual({ calls: 21, applied: 20, errors: 0, rateLimited: 1 });
    // Other actions have their own budget.
    await lcic.client.describeUser({ originId: "r0" });
    clock += 1000;
    await lcic.client.registerUser({ sdkAppId: APP, originId: "r20" });
  });

  it("BatchRegister allows 10/s by default", async () => {
    clock = Math.floor(clock / 1000) * 1000 + 1; // start of a window: nothing else shares it
    for (let i = 0; i < 10; i++) await lcic.client.batchRegister([{ sdkAppId: APP, originId: `b${i}` }]);
    expect((await catchLcicError(lcic.client.batchRegister([{ sdkAppId: APP }]))).kind).toBe("rate_limited");
  });

  it("custom limits, and 0 disables", async () => {
    const custom = await startTestLcic({ rateLimits: { LoginUser: 2, RegisterUser: 0 }, now: () => clock });
    try {
      const r = await Promise.all(Array.from({ length: 30 }, () => custom.client.registerUser({ sdkAppId: APP })));
      await custom.client.loginUser(r[0]!.userId);
      await custom.client.loginUser(r[0]!.userId);
      expect((await catchLcicError(custom.client.loginUser(r[0]!.userId))).code).toBe("RequestLimitExceeded");
    } finally {
      await custom.close();
    }
  });
});
