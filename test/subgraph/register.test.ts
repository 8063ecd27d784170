// registerClassroomUser end to end: HTTP -> yoga -> service -> real SDK -> emulator, rows in PostgreSQL.
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { APP, register, startTestServer } from "../support/server.js";

const OTHER_APP = 1400000002;
const server = await startTestServer({
  emulatorOptions: { sdkAppIds: [APP, OTHER_APP] },
  configEnv: { LCIC_SDK_APP_IDS: `${APP},${OTHER_APP}` },
});
afterAll(() => server.close());
beforeEach(async () => {
  server.emulator.reset();
  await server.db.sql`truncate classroom_users`;
});

const DAY = 24 * 60 * 60 * 1000;
const registerCalls = () => server.emulator.counters().RegisterUser.calls;

describe("1. validation comes first", () => {
  it.each([
    ["name too long", { originId: "v1", name: "x".repeat(65) }, [["input", "name"]]],
    ["empty name", { originId: "v1", name: "" }, [["input", "name"]]],
    ["originId too long", { originId: "o".repeat(129) }, [["input", "originId"]]],
    ["avatar not a URL", { originId: "v1", avatar: "not a url" }, [["input", "avatar"]]],
    ["avatar javascript:", { originId: "v1", avatar: "javascript:alert(1)" }, [["input", "avatar"]]],
    ["avatar ftp", { originId: "v1", avatar: "ftp://example.com/a.png" }, [["input", "avatar"]]],
    ["control character in name", { originId: "v1", name: "Ada\u0007" }, [["input", "name"]]],
    ["bidi override in originId", { originId: "a\u202Eb" }, [["input", "originId"]]],
    ["lone surrogate in originId", { originId: "s\ud800" }, [["input", "originId"]]],
    ["lone surrogate in name", { originId: "v1", name: "Ada\udc00" }, [["input", "name"]]],
    ["newline in avatar", { originId: "v1", avatar: "https://example.com/\n.png" }, [["input", "avatar"]]],
  ])("%s: ValidationError naming the field, nothing called or stored", async (_label, input, paths) => {
    const r = await register(server, input);
    expect(r.__typename).toBe("ValidationError");
    expect(r.code).toBe("ValidationFailed");
    expect(r.fieldErrors.map((e: { path: string[] }) => e.path)).toEqual(paths);
    expect(registerCalls()).toBe(0);
    expect(await server.rows()).toEqual([]);
  });

  it("names every invalid field at once", async () => {
    const r = await register(server, { originId: "o".repeat(200), name: "n".repeat(100), avatar: "mailto:a@b.c" });
    expect(r.__typename).toBe("ValidationError");
    expect(r.fieldErrors.map((e: { path: string[] }) => e.path.join("."))).toEqual(
      expect.arrayContaining(["input.name", "input.originId", "input.avatar"]),
    );
    expect(r.fieldErrors).toHaveLength(3);
    expect(registerCalls()).toBe(0);
    expect(await server.rows()).toEqual([]);
  });

  it("validates before checking the sdkAppId", async () => {
    const r = await register(server, { sdkAppId: 999, name: "x".repeat(65) });
    expect(r.__typename).toBe("ValidationError");
  });

  it("stores non-ASCII text exactly as given (and finds it again)", async () => {
    const r = await register(server, { originId: "学生-😀-42", name: "Zoë 李 😀" });
    expect(r).toMatchObject({ created: true, user: { originId: "学生-😀-42", name: "Zoë 李 😀" } });
    expect(await server.rows()).toEqual([expect.objectContaining({ origin_id: "学生-😀-42", name: "Zoë 李 😀" })]);
    expect(server.emulator.users()[0]).toMatchObject({ originId: "学生-😀-42", name: "Zoë 李 😀" });
    expect((await register(server, { originId: "学生-😀-42" })).created).toBe(false);
  });

  it("accepts the limits exactly", async () => {
    const r = await register(server, { originId: "o".repeat(128), name: "n".repeat(64), avatar: `https://e.com/${"a".repeat(1000)}` });
    expect(r.__typename).toBe("RegisterClassroomUserSuccess");
  });
});

describe("2. sdkAppId", () => {
  it("defaults to LCIC_SDK_APP_ID", async () => {
    const r = await register(server, { originId: "default-app" });
    expect(r.user.sdkAppId).toBe(APP);
    expect(server.emulator.users(APP).map((u) => u.originId)).toEqual(["default-app"]);
  });

  it("may name another allowed application", async () => {
    const r = await register(server, { originId: "other-app", sdkAppId: OTHER_APP });
    expect(r.user.sdkAppId).toBe(OTHER_APP);
    expect(server.emulator.users(OTHER_APP).map((u) => u.originId)).toEqual(["other-app"]);
    const [row] = await server.rows();
    expect(Number(row!.sdk_app_id)).toBe(OTHER_APP);
  });

  it("outside LCIC_SDK_APP_IDS: InvalidSdkAppIdError without calling LCIC", async () => {
    const r = await register(server, { originId: "bad-app", sdkAppId: 1400009999 });
    expect(r).toMatchObject({ __typename: "InvalidSdkAppIdError", code: "InvalidParameter.SdkAppId", sdkAppId: 1400009999, requestId: null });
    expect(registerCalls()).toBe(0);
    expect(await server.rows()).toEqual([]);
  });
});

describe("4. a new user is registered and stored", () => {
  it("calls RegisterUser once, stores user, encrypted token, expiry and request id; created: true", async () => {
    const before = Date.now();
    const r = await register(server, { originId: "student-1", name: "Ada Lovelace", avatar: "https://example.com/ada.png" });
    expect(r).toMatchObject({
      __typename: "RegisterClassroomUserSuccess",
      created: true,
      user: { sdkAppId: APP, originId: "student-1", name: "Ada Lovelace", avatar: "https://example.com/ada.png" },
    });
    expect(r.token).toEqual(expect.any(String));
    expect(r.token.length).toBeGreaterThan(10);
    expect(r.requestId).toMatch(/^[0-9a-f-]{36}$/);
    const expires = Date.parse(r.tokenExpiresAt);
    expect(expires - before).toBeGreaterThanOrEqual(7 * DAY - 1000);
    expect(expires - Date.now()).toBeLessThanOrEqual(7 * DAY + 1000);
    expect(server.emulator.counters().RegisterUser).toMatchObject({ calls: 1, applied: 1 });

    const lcicUsers = server.emulator.users(APP);
    expect(lcicUsers).toHaveLength(1);
    expect(lcicUsers[0]).toMatchObject({ userId: r.user.userId, originId: "student-1", name: "Ada Lovelace", avatar: "https://example.com/ada.png" });

    const rows = await server.rows();
    expect(rows).toHaveLength(1);
    const row = rows[0]!;
    expect(row).toMatchObject({
      user_id: r.user.userId,
      origin_id: "student-1",
      name: "Ada Lovelace",
      avatar: "https://example.com/ada.png",
      status: "registered",
      lcic_request_id: r.requestId,
      origin_id_generated: false,
      last_error: null,
    });
    expect(Number(row.sdk_app_id)).toBe(APP);
    expect(row.token_ciphertext).toEqual(expect.any(String));
    expect(row.token_ciphertext).not.toContain(r.token);
    expect(row.token_ciphertext).toMatch(/^v1\./);
    expect(new Date(row.token_expires_at).toISOString()).toBe(r.tokenExpiresAt);
  });

  it("generates an originId when none is given", async () => {
    const r = await register(server, { name: "No Origin" });
    expect(r.created).toBe(true);
    expect(r.user.originId).toMatch(/^cu-[0-9a-f-]{36}$/);
    const [row] = await server.rows();
    expect(row).toMatchObject({ origin_id: r.user.originId, origin_id_generated: true, status: "registered" });
  });
});

describe("3. a user already stored", () => {
  it("RETURN_EXISTING (the default): same user, created: false, stored token, no LCIC call", async () => {
    const first = await register(server, { originId: "again", name: "First" });
    server.emulator.resetCounters();
    const second = await register(server, { originId: "again", name: "Second" });
    expect(second).toMatchObject({ __typename: "RegisterClassroomUserSuccess", created: false, token: first.token, tokenExpiresAt: first.tokenExpiresAt });
    expect(second.user).toEqual(first.user);
    const c = server.emulator.counters();
    expect(c.RegisterUser.calls + c.LoginUser.calls + c.LoginOriginId.calls + c.DescribeUser.calls).toBe(0);
    const rows = await server.rows();
    expect(rows).toHaveLength(1);
    expect(rows[0]!.name).toBe("First");
  });

  it("RETURN_EXISTING with a token near expiry: asks LoginUser for a fresh one and stores it", async () => {
    const first = await register(server, { originId: "stale", onExisting: "RETURN_EXISTING" });
    await server.db.sql`update classroom_users set token_expires_at = now() + interval '30 minutes' where origin_id = 'stale'`;
    const [old] = await server.rows();
    server.emulator.resetCounters();
    const before = Date.now();
    const r = await register(server, { originId: "stale", onExisting: "RETURN_EXISTING" });
    expect(r.created).toBe(false);
    expect(r.user.userId).toBe(first.user.userId);
    expect(server.emulator.counters().LoginUser).toMatchObject({ calls: 1, applied: 1 });
    expect(server.emulator.counters().RegisterUser.calls).toBe(0);
    expect(r.token).not.toBe(first.token);
    expect(Date.parse(r.tokenExpiresAt) - before).toBeGreaterThanOrEqual(7 * DAY - 1000);
    expect(r.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.requestId).not.toBe(first.requestId);
    const [row] = await server.rows();
    expect(row!.token_ciphertext).not.toBe(old!.token_ciphertext);
    expect(row!.token_ciphertext).not.toContain(r.token);
    expect(new Date(row!.token_expires_at).toISOString()).toBe(r.tokenExpiresAt);
    expect(row!.lcic_request_id).toBe(r.requestId);
    // The refreshed token is now served from the store.
    server.emulator.resetCounters();
    const third = await register(server, { originId: "stale" });
    expect(third.token).toBe(r.token);
    expect(server.emulator.counters().LoginUser.calls).toBe(0);
  });

  it("RETURN_EXISTING with a token exactly an hour from expiry or less is refreshed; well within is not", async () => {
    await register(server, { originId: "edge" });
    await server.db.sql`update classroom_users set token_expires_at = now() + interval '61 minutes' where origin_id = 'edge'`;
    server.emulator.resetCounters();
    await register(server, { originId: "edge" });
    expect(server.emulator.counters().LoginUser.calls).toBe(0);
    await server.db.sql`update classroom_users set token_expires_at = now() - interval '1 day' where origin_id = 'edge'`;
    const r = await register(server, { originId: "edge" });
    expect(server.emulator.counters().LoginUser.calls).toBe(1);
    expect(Date.parse(r.tokenExpiresAt)).toBeGreaterThan(Date.now() + 6 * DAY);
  });

  it("RETURN_EXISTING for a stored user since deleted in LCIC (token due for refresh): registers the originId anew", async () => {
    const first = await register(server, { originId: "deleted", name: "Kept Name" });
    await server.lcic.client.deleteUser(first.user.userId);
    await server.db.sql`update classroom_users set token_expires_at = now() + interval '10 minutes'`;
    server.emulator.resetCounters();
    const r = await register(server, { originId: "deleted" });
    expect(r).toMatchObject({ __typename: "RegisterClassroomUserSuccess", created: true, user: { originId: "deleted", name: "Kept Name" } });
    expect(r.user.userId).not.toBe(first.user.userId);
    expect(server.emulator.counters().LoginUser.calls).toBe(1);
    expect(server.emulator.counters().RegisterUser.calls).toBe(1);
    expect(server.emulator.users()).toEqual([expect.objectContaining({ userId: r.user.userId, originId: "deleted", name: "Kept Name" })]);
    const rows = await server.rows();
    expect(rows).toEqual([expect.objectContaining({ user_id: r.user.userId, status: "registered", lcic_request_id: r.requestId })]);
    expect(rows[0]!.token_ciphertext).not.toContain(r.token);
  });

  it("FAIL: OriginIdExistsError with the stored userId; nothing changes", async () => {
    const first = await register(server, { originId: "taken", name: "Owner" });
    const [before] = await server.rows();
    server.emulator.resetCounters();
    const r = await register(server, { originId: "taken", name: "Intruder", onExisting: "FAIL" });
    expect(r).toMatchObject({
      __typename: "OriginIdExistsError",
      code: "FailedOperation.OriginIdExists",
      originId: "taken",
      userId: first.user.userId,
    });
    expect(server.emulator.counters().RegisterUser.calls).toBe(0);
    const rows = await server.rows();
    expect(rows).toEqual([before]);
  });
});

describe("5. registered elsewhere (LCIC says OriginIdExists, nothing stored here)", () => {
  it("RETURN_EXISTING adopts LCIC's user with LCIC's profile; created: false", async () => {
    const elsewhere = await server.lcic.client.registerUser({ sdkAppId: APP, originId: "outside", name: "Registered Elsewhere", avatar: "https://example.com/e.png" });
    server.emulator.resetCounters();
    const r = await register(server, { originId: "outside", name: "Proposed Name" });
    expect(r).toMatchObject({
      __typename: "RegisterClassroomUserSuccess",
      created: false,
      user: { userId: elsewhere.userId, originId: "outside", name: "Registered Elsewhere", avatar: "https://example.com/e.png" },
    });
    expect(r.token).toEqual(expect.any(String));
    expect(r.requestId).toMatch(/^[0-9a-f-]{36}$/);
    const c = server.emulator.counters();
    expect(c.RegisterUser.calls).toBe(1);
    expect(c.LoginOriginId.calls + c.LoginUser.calls).toBeGreaterThanOrEqual(1);
    expect(c.DescribeUser.calls).toBe(1);
    expect(server.emulator.users(APP)).toHaveLength(1);
    const rows = await server.rows();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ user_id: elsewhere.userId, status: "registered", name: "Registered Elsewhere", origin_id_generated: false });
    expect(rows[0]!.token_ciphertext).not.toContain(r.token);
    // And now it is stored: a second call is served locally.
    server.emulator.resetCounters();
    const again = await register(server, { originId: "outside" });
    expect(again).toMatchObject({ created: false, token: r.token });
    expect(server.emulator.counters().RegisterUser.calls).toBe(0);
  });

  it("FAIL: OriginIdExistsError with LCIC's userId and requestId; nothing stored", async () => {
    const elsewhere = await server.lcic.client.registerUser({ sdkAppId: APP, originId: "outside-fail" });
    const r = await register(server, { originId: "outside-fail", onExisting: "FAIL" });
    expect(r).toMatchObject({
      __typename: "OriginIdExistsError",
      code: "FailedOperation.OriginIdExists",
      originId: "outside-fail",
      userId: elsewhere.userId,
    });
    expect(r.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(await server.rows()).toEqual([]);
    expect(server.emulator.users(APP)).toHaveLength(1);
  });
});
