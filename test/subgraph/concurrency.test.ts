// Concurrent registrations over HTTP against a small connection pool: every request finishes, and one
// originId still makes exactly one LCIC user and one row.
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { APP, REGISTER, startTestServer } from "../support/server.js";

const POOL = 3;
const server = await startTestServer({ configEnv: { DATABASE_POOL_SIZE: String(POOL) } });
afterAll(() => server.close());
beforeEach(async () => {
  server.emulator.reset();
  await server.db.sql`truncate classroom_users`;
});

const registerMany = (inputs: Array<Record<string, unknown>>) =>
  Promise.all(inputs.map((input) => server.gql(REGISTER, { input }).then((r) => r.data?.registerClassroomUser ?? r.errors)));

describe("more concurrent registrations than database connections", () => {
  it("distinct originIds: all registered (advisory locks must not starve the query pool)", { timeout: 20_000 }, async () => {
    const n = POOL * 3;
    const results = await registerMany(Array.from({ length: n }, (_, i) => ({ originId: `distinct-${i}` })));
    expect(results.map((r: any) => r.__typename)).toEqual(Array(n).fill("RegisterClassroomUserSuccess"));
    expect(results.every((r: any) => r.created === true)).toBe(true);
    expect(server.emulator.users()).toHaveLength(n);
    const rows = await server.rows();
    expect(rows).toHaveLength(n);
    expect(rows.every((r) => r.status === "registered")).toBe(true);
  });

  it("one originId: exactly one LCIC user and one row; one created: true, the rest the same user", { timeout: 20_000 }, async () => {
    const n = POOL * 3;
    const results = await registerMany(Array.from({ length: n }, () => ({ originId: "same", name: "Same" })));
    expect(results.map((r: any) => r.__typename)).toEqual(Array(n).fill("RegisterClassroomUserSuccess"));
    expect(results.filter((r: any) => r.created)).toHaveLength(1);
    expect(new Set(results.map((r: any) => r.user.userId)).size).toBe(1);
    expect(server.emulator.users()).toHaveLength(1);
    expect(server.emulator.counters().RegisterUser.calls).toBe(1);
    expect(await server.rows()).toEqual([expect.objectContaining({ origin_id: "same", status: "registered", attempts: 1 })]);
  });

  it("FAIL and RETURN_EXISTING racing for one new originId: one creates, FAIL callers get OriginIdExistsError", { timeout: 20_000 }, async () => {
    const results = await registerMany(Array.from({ length: 6 }, (_, i) => ({ originId: "race", onExisting: i % 2 ? "FAIL" : "RETURN_EXISTING" })));
    const created = results.filter((r: any) => r.created === true);
    expect(created).toHaveLength(1);
    for (const r of results as any[]) {
      if (r.__typename === "OriginIdExistsError") expect(r.userId).toBe(created[0].user.userId);
      else expect(r).toMatchObject({ __typename: "RegisterClassroomUserSuccess", user: { userId: created[0].user.userId } });
    }
    expect(server.emulator.users()).toHaveLength(1);
    expect(await server.rows()).toHaveLength(1);
  });
});

describe("an originId registered outside this service, FAIL and RETURN_EXISTING at once", () => {
  it("the FAIL caller gets OriginIdExistsError; the RETURN_EXISTING caller waiting behind it still adopts the user", { timeout: 20_000 }, async () => {
    const outside = await server.lcic.client.registerUser({ sdkAppId: APP, originId: "contested", name: "Outside" });
    // Hold the FAIL request inside its RegisterUser call long enough for the other to queue behind its lock.
    server.emulator.injectFault({ mode: "latency", ms: 300, action: "RegisterUser" });
    const failing = server.gql(REGISTER, { input: { originId: "contested", onExisting: "FAIL" } });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const failingToo = server.gql(REGISTER, { input: { originId: "contested", onExisting: "FAIL" } });
    const adopting = server.gql(REGISTER, { input: { originId: "contested", onExisting: "RETURN_EXISTING" } });
    const [f, f2, r] = await Promise.all([failing, failingToo, adopting]);
    expect(f2.data!.registerClassroomUser).toMatchObject({ __typename: "OriginIdExistsError", userId: outside.userId });
    expect(f.data!.registerClassroomUser).toMatchObject({ __typename: "OriginIdExistsError", userId: outside.userId });
    expect(r.data!.registerClassroomUser).toMatchObject({
      __typename: "RegisterClassroomUserSuccess",
      created: false,
      user: { userId: outside.userId, name: "Outside" },
    });
    expect(await server.rows()).toEqual([expect.objectContaining({ user_id: outside.userId, status: "registered" })]);
    expect(server.emulator.users()).toHaveLength(1);
  });
});
