// Token warming: users created by a bulk registration get their LCIC tokens in the background,
// shared by replicas without double work; tokens of recently active users are refreshed ahead of
// expiry; interactive calls are not queued behind the backlog.
import { randomBytes } from "node:crypto";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { LCIC_PUBLISHED_RATE_LIMITS, DEFAULT_PACING_HEADROOM } from "../../src/lcic/pacer.js";
import { REGISTER, register, startTestServer, type TestServer } from "../support/server.js";

const REGISTER_MANY = /* GraphQL */ `
  mutation RegisterMany($input: RegisterClassroomUsersInput!) {
    registerClassroomUsers(input: $input) {
      __typename
      ... on RegisterClassroomUsersSuccess { createdCount users { originId created user { userId } } }
      ... on Error { code message }
    }
  }
`;

const roster = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => ({ originId: `${prefix}-${i}`, name: `Student ${i}` }));

const warm = { TOKEN_WARMING: "true" };
const tokenKeys = [randomBytes(32)];
const a = await startTestServer({ configEnv: warm, tokenKeys, logLevel: "info" });
const b = await startTestServer({ shareWith: a, configEnv: warm, tokenKeys, logLevel: "info" });
await Promise.all([a.app.tokenWarming!.ready, b.app.tokenWarming!.ready]);
afterAll(async () => {
  await b.close();
  await a.close();
});
beforeEach(async () => {
  a.emulator.reset();
  await a.db.sql`truncate classroom_users`;
});

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 100));
  }
}

const tokensStored = async (server: TestServer) => (await server.rows()).filter((r) => r.token_ciphertext).length;

describe("token warming", () => {
  it("fetches each new user's token once (LoginUser), shared by two replicas, and registration then serves it without LCIC", { timeout: 30_000 }, async () => {
    const result = (await a.gql(REGISTER_MANY, { input: { users: roster("w", 40) } })).data!.registerClassroomUsers;
    expect(result.createdCount).toBe(40);
    await b.app.tokenWarming!.scan(); // the other replica sees the same work and must not repeat it
    await waitFor(async () => (await tokensStored(a)) === 40);
    await new Promise((r) => setTimeout(r, 300));
    expect(a.emulator.counters().LoginUser.calls).toBe(40);
    const rows = await a.rows();
    expect(rows.every((r) => new Date(r.token_expires_at).getTime() > Date.now() + 6 * 24 * 3_600_000)).toBe(true);
    expect(rows.some((r) => String(r.token_ciphertext).includes("Student"))).toBe(false);
    // Every token fetched in the background is audited once, by the system, without the token.
    const audits = [...a.logs, ...b.logs].map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.audit === true && l.operation === "tokenWarming");
    expect(audits).toHaveLength(40);
    expect(audits.every((l) => l.event === "token.issued" && l.source === "lcic" && l.lcicAction === "LoginUser" && l.actor === "system")).toBe(true);
    expect(new Set(audits.map((l) => l.originId)).size).toBe(40);

    a.emulator.resetCounters();
    const single = await register(b, { originId: "w-7" });
    expect(single).toMatchObject({ __typename: "RegisterClassroomUserSuccess", created: false, user: { userId: result.users[7].user.userId } });
    expect(single.token).toEqual(expect.any(String));
    expect(Object.values(a.emulator.counters()).reduce((n, c) => n + c.calls, 0)).toBe(0);
  });

  it("refreshes tokens expiring within TOKEN_REFRESH_AHEAD_HOURS of users active within TOKEN_KEEP_WARM_DAYS only", { timeout: 30_000 }, async () => {
    for (const originId of ["active", "idle", "fresh"]) await register(a, { originId });
    await a.db.sql`update classroom_users set token_expires_at = now() + interval '3 hours' where origin_id in ('active', 'idle')`;
    await a.db.sql`update classroom_users set last_login_at = now() - interval '30 days', created_at = now() - interval '30 days' where origin_id = 'idle'`;
    a.emulator.resetCounters();
    expect(await a.app.tokenWarming!.scan()).toBe(1);
    await waitFor(async () => new Date((await a.rows()).find((r) => r.origin_id === "active")!.token_expires_at).getTime() > Date.now() + 6 * 24 * 3_600_000);
    await new Promise((r) => setTimeout(r, 300));
    expect(a.emulator.counters().LoginUser.calls).toBe(1);
    const idle = (await a.rows()).find((r) => r.origin_id === "idle")!;
    expect(new Date(idle.token_expires_at).getTime()).toBeLessThan(Date.now() + 4 * 3_600_000);
  });

  it("an interactive LoginUser waits at most one pacer slot for the warming backlog", { timeout: 30_000 }, async () => {
    // Replica b serves the interactive calls only, so its pacer waits are theirs alone; a warms.
    await b.app.tokenWarming!.stop();
    // Users for interactive calls: not due for warming (inactive), but their tokens need renewing on request.
    for (let i = 0; i < 5; i++) await register(b, { originId: `live-${i}` });
    await a.db.sql`update classroom_users set token_expires_at = now() + interval '10 minutes', last_login_at = now() - interval '30 days', created_at = now() - interval '30 days'`;
    await a.gql(REGISTER_MANY, { input: { users: roster("backlog", 80) } });
    await waitFor(async () => a.emulator.counters().LoginUser.calls >= 10);
    const slotMs = 1000 / (LCIC_PUBLISHED_RATE_LIMITS.LoginUser * DEFAULT_PACING_HEADROOM);
    const waits: number[] = [];
    for (let i = 0; i < 5; i++) {
      const before = b.app.lcic.stats();
      const r = (await b.gql(REGISTER, { input: { originId: `live-${i}` } })).data!.registerClassroomUser;
      expect(r).toMatchObject({ __typename: "RegisterClassroomUserSuccess", created: false });
      const after = b.app.lcic.stats();
      expect(after.attempts - before.attempts).toBe(1); // its LoginUser
      waits.push(after.pacedMs - before.pacedMs);
    }
    // pacedMs is measured locally, so the reservation's round trip and the timer's lateness come on
    // top of the one slot; a FIFO pacer would make it up to two slots (the worker books its next one
    // as soon as it sent the last).
    expect(Math.max(...waits)).toBeLessThanOrEqual(slotMs + 35);
    expect(await tokensStored(a)).toBeLessThan(85); // the backlog was still being worked on
    await waitFor(async () => (await tokensStored(a)) === 85, 20_000);
    expect(a.emulator.counters().RegisterUser.calls + a.emulator.counters().LoginUser.calls).toBe(5 + 80 + 5);
  });
});
