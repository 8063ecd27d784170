// Issue 9 item 6: lookups that fall back to LCIC are remembered when they miss, limited per client,
// and wait behind registrations in the shared pacer.
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { APP, find, register, startTestServer, type TestServer } from "../support/server.js";

const servers: TestServer[] = [];
afterAll(async () => {
  for (const s of servers.reverse()) await s.close();
});
async function start(configEnv: Record<string, string>, shareWith?: TestServer) {
  const s = await startTestServer({ configEnv: { REGISTRATION_RATE_LIMIT_PER_MINUTE: "0", ...configEnv }, ...(shareWith ? { shareWith } : {}) });
  servers.push(s);
  return s;
}
const lcicReads = (s: TestServer) => {
  const c = s.emulator.counters();
  return c.DescribeUser.calls + c.LoginOriginId.calls;
};

describe("lookup misses and the per-client fallback limit", () => {
  let a: TestServer;
  let b: TestServer;
  beforeEach(async () => {
    a ??= await start({ LOOKUP_FALLBACK_RATE_LIMIT_PER_MINUTE: "3", LOOKUP_MISS_TTL_MS: "60000" });
    b ??= await start({ LOOKUP_FALLBACK_RATE_LIMIT_PER_MINUTE: "3", LOOKUP_MISS_TTL_MS: "60000" }, a);
    a.emulator.reset();
    await a.db.sql`truncate classroom_users, lookup_misses, registration_rate_limits`;
  });

  it("a miss is remembered by every replica: asking again, here or on another replica, does not call LCIC", async () => {
    expect(await find(a, { originId: "nobody" })).toMatchObject({ __typename: "ClassroomUserNotFoundError" });
    expect(await find(a, { userId: "no-such-user" })).toMatchObject({ __typename: "ClassroomUserNotFoundError" });
    const reads = lcicReads(a);
    expect(reads).toBeGreaterThan(0);
    for (const s of [a, b]) {
      expect(await find(s, { originId: "nobody" })).toMatchObject({ __typename: "ClassroomUserNotFoundError" });
      expect(await find(s, { userId: "no-such-user" })).toMatchObject({ __typename: "ClassroomUserNotFoundError" });
    }
    expect(lcicReads(a)).toBe(reads);
  });

  it("a client over its fallback budget gets ClientRateLimitedError without an LCIC call; stored users are still served", async () => {
    // The budget counts fixed one-minute windows: do not start just before one ends.
    const toNextWindow = 60_000 - (Date.now() % 60_000);
    if (toNextWindow < 5_000) await new Promise((r) => setTimeout(r, toNextWindow + 50));
    const stored = await register(a, { originId: "stored" });
    for (const originId of ["m-1", "m-2", "m-3"]) expect((await find(a, { originId })).__typename).toBe("ClassroomUserNotFoundError");
    const reads = lcicReads(a);
    const refused = await find(b, { originId: "m-4" }); // the budget is shared by the replicas
    expect(refused).toMatchObject({ __typename: "ClientRateLimitedError", code: "Client.RateLimited" });
    expect(refused.retryAfterMs).toBeGreaterThan(0);
    expect(refused.retryAfterMs).toBeLessThanOrEqual(60_000);
    expect(lcicReads(a)).toBe(reads);
    expect(await find(a, { originId: "stored" })).toMatchObject({ __typename: "ClassroomUser", userId: stored.user.userId });
  });
});

describe("a flood of lookup misses from one client", () => {
  it("leaves every concurrent registration (which needs LoginOriginId too) succeeding", async () => {
    const s = await start({ LOOKUP_FALLBACK_RATE_LIMIT_PER_MINUTE: "120", LCIC_MAX_QUEUE_MS: "2000" });
    // Users registered outside this service: registering them here adopts them (RegisterUser answers
    // OriginIdExists, then LoginOriginId and DescribeUser), the same actions a lookup miss spends.
    const outside = 10;
    for (let i = 0; i < outside; i++) await s.lcic.client.registerUser({ sdkAppId: APP, originId: `adopt-${i}` });
    s.emulator.resetCounters();

    // Forty lookups in flight at all times, each of an id nobody has, until the registrations are done.
    let registering = true;
    let next = 0;
    const lookups: string[] = [];
    const flood = Array.from({ length: 40 }, async () => {
      while (registering) lookups.push((await find(s, { originId: `unknown-${next++}` })).__typename);
    });
    await new Promise((r) => setTimeout(r, 300)); // the flood has filled the queue first
    const registrations = await Promise.all(Array.from({ length: outside }, (_, i) => register(s, { originId: `adopt-${i}` })));
    registering = false;
    await Promise.all(flood);

    expect(registrations.map((r) => r.__typename)).toEqual(Array(outside).fill("RegisterClassroomUserSuccess"));
    // The client's fallbacks stopped at its budget; the rest of the flood never reached LCIC.
    expect(s.emulator.counters().LoginOriginId.calls).toBeLessThanOrEqual(120 + 2 * outside);
    expect(s.emulator.counters().LoginOriginId.rateLimited).toBe(0);
  }, 60_000);
});
