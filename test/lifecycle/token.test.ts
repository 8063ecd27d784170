// issueClassroomUserToken end to end: stored token served without LCIC, LoginUser when too old, single-flight.
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { APP, register, startTestServer } from "../support/server.js";
import { issueToken, lcicCalls, remove } from "./support.js";

const MINUTE = 60_000;
const server = await startTestServer({ configEnv: { LCIC_CIRCUIT_FAILURES: "0" }, emulatorOptions: { timeoutMs: 1000 }, logLevel: "info" });
afterAll(() => server.close());
beforeEach(async () => {
  server.emulator.reset();
  await server.db.sql`truncate classroom_users, classroom_user_tombstones`;
});

async function registered(originId: string) {
  const r = await register(server, { originId, name: "Ada" });
  server.emulator.resetCounters();
  return r as { token: string; tokenExpiresAt: string; user: { userId: string } };
}

/** Makes the stored token expire `ms` from now. */
async function expireIn(originId: string, ms: number) {
  await server.db.sql`update classroom_users set token_expires_at = now() + ${`${ms} milliseconds`}::interval where origin_id = ${originId}`;
}

describe("issueClassroomUserToken", () => {
  it("serves the stored token while it stays valid long enough: no LCIC call", async () => {
    const reg = await registered("t1");
    const r = await issueToken(server, { originId: "t1" });
    expect(r).toMatchObject({ __typename: "ClassroomUserToken", token: reg.token, tokenExpiresAt: reg.tokenExpiresAt, fromCache: true, user: { userId: reg.user.userId } });
    expect(await issueToken(server, { userId: reg.user.userId, minValiditySeconds: 6 * 24 * 3600 })).toMatchObject({ token: reg.token, fromCache: true });
    expect(lcicCalls(server)).toEqual({});
  });

  it("a stored token about to expire: LoginUser once, the new token stored encrypted and served from then on", async () => {
    const reg = await registered("t2");
    await expireIn("t2", 30 * MINUTE);
    // 30 minutes are enough for minValiditySeconds 600, not for the default hour.
    expect(await issueToken(server, { originId: "t2", minValiditySeconds: 600 })).toMatchObject({ token: reg.token, fromCache: true });
    const r = await issueToken(server, { originId: "t2" });
    expect(r).toMatchObject({ __typename: "ClassroomUserToken", fromCache: false });
    expect(r.token).not.toBe(reg.token);
    expect(r.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(Date.parse(r.tokenExpiresAt) - Date.now()).toBeGreaterThan(6.9 * 24 * 60 * MINUTE);
    expect(lcicCalls(server)).toEqual({ LoginUser: 1 });
    const [row] = await server.rows();
    expect(row!.token_ciphertext).toMatch(/^v1\./);
    expect(row!.token_ciphertext).not.toContain(r.token);
    expect(await issueToken(server, { originId: "t2" })).toMatchObject({ token: r.token, fromCache: true });
    expect(lcicCalls(server)).toEqual({ LoginUser: 1 });
    expect(server.logs.join("\n")).not.toContain(r.token);
    expect(server.logs.join("\n")).toContain("issued a new classroom user token");
  });

  it("concurrent requests for one user make one LoginUser call and all get its token", async () => {
    await registered("t3");
    await expireIn("t3", MINUTE);
    server.emulator.injectFault({ action: "LoginUser", mode: "latency", ms: 100 });
    const results = await Promise.all(Array.from({ length: 12 }, () => issueToken(server, { originId: "t3" })));
    expect(server.emulator.counters().LoginUser.calls).toBe(1);
    expect(new Set(results.map((r) => r.token)).size).toBe(1);
    expect(results.filter((r) => !r.fromCache)).toHaveLength(1);
  });

  it("a user registered outside this service is adopted (by originId: LoginOriginId's token; by userId: LoginUser)", async () => {
    const byOrigin = await server.lcic.client.registerUser({ sdkAppId: APP, originId: "outside-1" });
    const r1 = await issueToken(server, { originId: "outside-1" });
    expect(r1).toMatchObject({ __typename: "ClassroomUserToken", fromCache: false, user: { userId: byOrigin.userId } });
    const byUserId = await server.lcic.client.registerUser({ sdkAppId: APP, originId: "outside-2" });
    server.emulator.resetCounters();
    const r2 = await issueToken(server, { userId: byUserId.userId });
    expect(r2).toMatchObject({ __typename: "ClassroomUserToken", fromCache: false, user: { userId: byUserId.userId } });
    expect(lcicCalls(server)).toEqual({ DescribeUser: 1, LoginUser: 1 });
    expect(await issueToken(server, { userId: byUserId.userId })).toMatchObject({ token: r2.token, fromCache: true });
    expect(await server.rows()).toHaveLength(2);
  });

  it.each([
    ["minValiditySeconds below 0", { originId: "t4", minValiditySeconds: -1 }, ["input.minValiditySeconds"]],
    ["minValiditySeconds over 6 days", { originId: "t4", minValiditySeconds: 6 * 24 * 3600 + 1 }, ["input.minValiditySeconds"]],
    ["both ids", { originId: "t4", userId: "u" }, ["input.userId", "input.originId"]],
  ])("%s: ValidationError, no LCIC call", async (_label, input, paths) => {
    await registered("t4");
    const r = await issueToken(server, input);
    expect(r.__typename).toBe("ValidationError");
    expect(r.fieldErrors.map((e: { path: string[] }) => e.path.join("."))).toEqual(paths);
    expect(lcicCalls(server)).toEqual({});
  });

  it("unknown, deleted, or of an application not served: ClassroomUserNotFoundError / InvalidSdkAppIdError", async () => {
    expect(await issueToken(server, { originId: "nobody" })).toMatchObject({ __typename: "ClassroomUserNotFoundError" });
    expect(await issueToken(server, { originId: "x", sdkAppId: 999 })).toMatchObject({ __typename: "InvalidSdkAppIdError" });
    const reg = await registered("t5");
    await remove(server, { originId: "t5" });
    server.emulator.resetCounters();
    expect(await issueToken(server, { userId: reg.user.userId })).toMatchObject({ __typename: "ClassroomUserNotFoundError" });
    expect(await issueToken(server, { originId: "t5" })).toMatchObject({ __typename: "ClassroomUserNotFoundError" });
    expect(lcicCalls(server)).toEqual({});
  });

  it.each([
    ["RequestLimitExceeded", "LcicRateLimitedError"],
    ["InternalError", "LcicUnavailableError"],
    ["FailedOperation", "LcicError"],
  ])("LoginUser answering %s every time: %s, the stored token kept", async (code, typename) => {
    await registered("t6");
    await expireIn("t6", MINUTE);
    const [before] = await server.rows();
    server.emulator.injectFault({ action: "LoginUser", mode: "error", code, times: Number.POSITIVE_INFINITY });
    expect(await issueToken(server, { originId: "t6" })).toMatchObject({ __typename: typename, code });
    expect((await server.rows())[0]).toEqual(before);
  });
});
