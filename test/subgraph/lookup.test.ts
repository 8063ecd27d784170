// classroomUser end to end: PostgreSQL first, then LCIC (and store), never a token.
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { APP, find, register, startTestServer } from "../support/server.js";

const OTHER_APP = 1400000002;
const NOT_SERVED = 1400000003;
const server = await startTestServer({
  emulatorOptions: { sdkAppIds: [APP, OTHER_APP, NOT_SERVED] },
  configEnv: { LCIC_SDK_APP_IDS: `${APP},${OTHER_APP}` },
});
afterAll(() => server.close());
beforeEach(async () => {
  server.emulator.reset();
  await server.db.sql`truncate classroom_users, lookup_misses`;
});

const lcicReads = () => {
  const c = server.emulator.counters();
  return c.DescribeUser.calls + c.LoginOriginId.calls + c.LoginUser.calls;
};

describe("exactly one of userId or originId", () => {
  it.each([
    ["neither", {}],
    ["both", { userId: "u", originId: "o" }],
    ["both null", { userId: null, originId: null }],
  ])("%s → ValidationError naming both fields, no LCIC call", async (_label, args) => {
    const r = await find(server, args);
    expect(r).toMatchObject({ __typename: "ValidationError", code: "ValidationFailed" });
    expect(r.fieldErrors.map((e: { path: string[] }) => e.path.join("."))).toEqual(expect.arrayContaining(["userId", "originId"]));
    expect(lcicReads()).toBe(0);
    expect(await server.rows()).toEqual([]);
  });

  it("an oversized or control-character id → ValidationError", async () => {
    expect((await find(server, { originId: "o".repeat(129) })).__typename).toBe("ValidationError");
    expect((await find(server, { userId: "u".repeat(65) })).__typename).toBe("ValidationError");
    expect((await find(server, { originId: "a\u0000b" })).__typename).toBe("ValidationError");
    expect((await find(server, { originId: "" })).__typename).toBe("ValidationError");
    expect((await find(server, { originId: "a\ud800" })).__typename).toBe("ValidationError");
    expect(lcicReads()).toBe(0);
  });

  it("an sdkAppId this service does not serve → InvalidSdkAppIdError without calling LCIC", async () => {
    const r = await find(server, { originId: "x", sdkAppId: NOT_SERVED });
    expect(r).toMatchObject({ __typename: "InvalidSdkAppIdError", sdkAppId: NOT_SERVED, requestId: null });
    expect(lcicReads()).toBe(0);
  });
});

describe("a stored user is read from PostgreSQL", () => {
  it("by userId and by originId, with no LCIC call", async () => {
    const reg = await register(server, { originId: "stored-1", name: "Grace Hopper", avatar: "https://example.com/g.png" });
    server.emulator.resetCounters();
    const byUser = await find(server, { userId: reg.user.userId });
    const byOrigin = await find(server, { originId: "stored-1" });
    expect(byUser).toEqual({ __typename: "ClassroomUser", ...reg.user });
    expect(byOrigin).toEqual(byUser);
    expect(lcicReads()).toBe(0);
  });

  it("the stored row wins even when LCIC's profile differs (no DescribeUser call)", async () => {
    const reg = await register(server, { originId: "stored-2", name: "Old Name" });
    await server.lcic.client.modifyUserProfile({ userId: reg.user.userId, nickname: "Changed In LCIC" });
    expect(server.emulator.users(APP)[0]!.name).toBe("Changed In LCIC");
    server.emulator.resetCounters();
    const r = await find(server, { userId: reg.user.userId });
    expect(r.name).toBe("Old Name");
    expect(server.emulator.counters().DescribeUser.calls).toBe(0);
  });

  it("by originId in another allowed application", async () => {
    const reg = await register(server, { originId: "same-origin", sdkAppId: OTHER_APP });
    server.emulator.resetCounters();
    expect(await find(server, { originId: "same-origin", sdkAppId: OTHER_APP })).toMatchObject({ userId: reg.user.userId, sdkAppId: OTHER_APP });
    expect(lcicReads()).toBe(0);
    // Not in the default application: there it is unknown to both.
    expect((await find(server, { originId: "same-origin" })).__typename).toBe("ClassroomUserNotFoundError");
  });

  it("by userId with a non-matching sdkAppId → not found", async () => {
    const reg = await register(server, { originId: "app-check" });
    const r = await find(server, { userId: reg.user.userId, sdkAppId: OTHER_APP });
    expect(r).toMatchObject({ __typename: "ClassroomUserNotFoundError", lookedUpUserId: reg.user.userId });
  });
});

describe("a user only LCIC knows is fetched, stored and returned", () => {
  it("a lookup by userId filtered to another application is not remembered as a miss of that userId", async () => {
    const outside = await server.lcic.client.registerUser({ sdkAppId: APP, originId: "outside-filtered" });
    expect(await find(server, { userId: outside.userId, sdkAppId: OTHER_APP })).toMatchObject({ __typename: "ClassroomUserNotFoundError" });
    expect(await find(server, { userId: outside.userId })).toMatchObject({ __typename: "ClassroomUser", userId: outside.userId, originId: "outside-filtered" });
  });

  it("by userId: DescribeUser, then stored (without a token); the next lookup is local", async () => {
    const outside = await server.lcic.client.registerUser({ sdkAppId: APP, originId: "outside-1", name: "Outside", avatar: "https://example.com/o.png" });
    server.emulator.resetCounters();
    const r = await find(server, { userId: outside.userId });
    expect(r).toMatchObject({ __typename: "ClassroomUser", userId: outside.userId, sdkAppId: APP, originId: "outside-1", name: "Outside", avatar: "https://example.com/o.png" });
    expect(server.emulator.counters().DescribeUser.calls).toBe(1);
    const rows = await server.rows();
    expect(rows).toEqual([expect.objectContaining({ user_id: outside.userId, origin_id: "outside-1", status: "registered", name: "Outside" })]);
    server.emulator.resetCounters();
    expect(await find(server, { originId: "outside-1" })).toEqual(r);
    expect(lcicReads()).toBe(0);
  });

  it("by originId: LoginOriginId + DescribeUser, stored with an encrypted token that register then returns", async () => {
    const outside = await server.lcic.client.registerUser({ sdkAppId: APP, originId: "outside-2", name: "Found" });
    server.emulator.resetCounters();
    const r = await find(server, { originId: "outside-2" });
    expect(r).toMatchObject({ __typename: "ClassroomUser", userId: outside.userId, originId: "outside-2", name: "Found" });
    const [row] = await server.rows();
    expect(row).toMatchObject({ user_id: outside.userId, status: "registered" });
    expect(row!.token_ciphertext).toMatch(/^v1\./);
    server.emulator.resetCounters();
    const reg = await register(server, { originId: "outside-2" });
    expect(reg).toMatchObject({ __typename: "RegisterClassroomUserSuccess", created: false, user: { userId: outside.userId } });
    expect(row!.token_ciphertext).not.toContain(reg.token);
    expect(server.emulator.counters().RegisterUser.calls).toBe(0);
  });

  it("a user fetched by userId (no token stored) gets one from LoginUser when registered again", async () => {
    const outside = await server.lcic.client.registerUser({ sdkAppId: APP, originId: "outside-3" });
    await find(server, { userId: outside.userId });
    server.emulator.resetCounters();
    const reg = await register(server, { originId: "outside-3" });
    expect(reg).toMatchObject({ __typename: "RegisterClassroomUserSuccess", created: false, user: { userId: outside.userId } });
    expect(reg.token).toEqual(expect.any(String));
    expect(server.emulator.counters().LoginUser.calls).toBe(1);
    expect(server.emulator.counters().RegisterUser.calls).toBe(0);
  });

  it("profile fields LCIC has no value for are null, not empty strings (lookup and adoption)", async () => {
    const bare = await server.lcic.client.registerUser({ sdkAppId: APP, originId: "bare-1" });
    const byUser = await find(server, { userId: bare.userId });
    expect(byUser).toMatchObject({ userId: bare.userId, name: null, avatar: null });
    const bare2 = await server.lcic.client.registerUser({ sdkAppId: APP, originId: "bare-2" });
    const adopted = await register(server, { originId: "bare-2", name: "Proposed" });
    expect(adopted).toMatchObject({ created: false, user: { userId: bare2.userId, name: null, avatar: null } });
    await server.lcic.client.registerUser({ sdkAppId: APP, originId: "bare-3" });
    expect(await find(server, { originId: "bare-3" })).toMatchObject({ name: null, avatar: null });
    const rows = await server.rows();
    expect(rows.map((r) => [r.name, r.avatar])).toEqual([[null, null], [null, null], [null, null]]);
  });

  it("a user of an application this service does not serve is not shown, nor stored", async () => {
    const foreign = await server.lcic.client.registerUser({ sdkAppId: NOT_SERVED, originId: "foreign" });
    const r = await find(server, { userId: foreign.userId });
    expect(r).toMatchObject({ __typename: "ClassroomUserNotFoundError", lookedUpUserId: foreign.userId });
    expect(await server.rows()).toEqual([]);
  });
});

describe("unknown to both", () => {
  it("by userId → ClassroomUserNotFoundError with LCIC's requestId; nothing stored", async () => {
    const r = await find(server, { userId: "2CvDgjRNjylAsBZB4iZc0F6koXe" });
    expect(r).toMatchObject({ __typename: "ClassroomUserNotFoundError", code: "ResourceNotFound.User", lookedUpUserId: "2CvDgjRNjylAsBZB4iZc0F6koXe", lookedUpOriginId: null });
    expect(r.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(await server.rows()).toEqual([]);
  });

  it("by originId → ClassroomUserNotFoundError; nothing stored", async () => {
    const r = await find(server, { originId: "nobody" });
    expect(r).toMatchObject({ __typename: "ClassroomUserNotFoundError", code: "ResourceNotFound.User", lookedUpOriginId: "nobody", lookedUpUserId: null });
    expect(await server.rows()).toEqual([]);
  });
});

describe("tokens are never returned by classroomUser", () => {
  it("querying `token` on ClassroomUser is a GraphQL validation error", async () => {
    const res = await server.gql(`query { classroomUser(originId: "x") { ... on ClassroomUser { userId token } } }`);
    expect(res.data).toBeUndefined();
    expect(res.errors?.[0]?.message).toMatch(/Cannot query field "token" on type "ClassroomUser"/);
    expect(res.errors?.[0]?.extensions?.code).toBe("GRAPHQL_VALIDATION_FAILED");
    // application/json responses carry GraphQL errors with 200 (GraphQL over HTTP); never a 5xx.
    expect(res.status).toBeLessThan(500);
  });

  it("the ClassroomUser type has no token-like field at all", async () => {
    const res = await server.gql(`{ __type(name: "ClassroomUser") { fields { name } } }`);
    const names = (res.data as any).__type.fields.map((f: { name: string }) => f.name);
    expect(names.filter((n: string) => /token/i.test(n))).toEqual([]);
  });

  it("the response of a lookup contains no stored token", async () => {
    const reg = await register(server, { originId: "secret-holder" });
    const res = await server.post(JSON.stringify({ query: `query { classroomUser(originId: "secret-holder") { __typename ... on ClassroomUser { userId } } }` }));
    expect(await res.text()).not.toContain(reg.token);
  });
});
