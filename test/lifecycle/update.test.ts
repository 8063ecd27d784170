// updateClassroomUser end to end: HTTP -> service -> real SDK -> emulator, rows in PostgreSQL.
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { APP, register, startTestServer } from "../support/server.js";
import { lcicCalls, update } from "./support.js";

const REQUEST_ID = /^[0-9a-f-]{36}$/;
// The circuit breaker is off: failures are injected back to back.
const server = await startTestServer({ configEnv: { LCIC_CIRCUIT_FAILURES: "0" }, emulatorOptions: { timeoutMs: 1000 } });
afterAll(() => server.close());
beforeEach(async () => {
  server.emulator.reset();
  await server.db.sql`truncate classroom_users, classroom_user_tombstones`;
});

async function registered(originId: string, fields: Record<string, unknown> = {}) {
  const r = await register(server, { originId, name: "Ada", avatar: "https://example.com/a.png", ...fields });
  server.emulator.resetCounters();
  return r.user as { userId: string; originId: string; updatedAt: string };
}

describe("updateClassroomUser", () => {
  it("changes the name in LCIC (Nickname) and in the row, by originId", async () => {
    const user = await registered("u1");
    const r = await update(server, { originId: "u1", name: "Ada King" });
    expect(r).toMatchObject({ __typename: "UpdateClassroomUserSuccess", user: { userId: user.userId, originId: "u1", name: "Ada King", avatar: "https://example.com/a.png" } });
    expect(r.requestId).toMatch(REQUEST_ID);
    expect(Date.parse(r.user.updatedAt)).toBeGreaterThan(Date.parse(user.updatedAt));
    expect(lcicCalls(server)).toEqual({ ModifyUserProfile: 1 });
    expect(server.emulator.users()).toEqual([expect.objectContaining({ userId: user.userId, name: "Ada King", avatar: "https://example.com/a.png" })]);
    expect(await server.rows()).toEqual([expect.objectContaining({ user_id: user.userId, name: "Ada King", avatar: "https://example.com/a.png" })]);
  });

  it("by userId, the avatar alone; avatar \"\" clears it", async () => {
    const user = await registered("u2");
    expect((await update(server, { userId: user.userId, avatar: "https://example.com/b.png" })).user).toMatchObject({ name: "Ada", avatar: "https://example.com/b.png" });
    const cleared = await update(server, { userId: user.userId, avatar: "" });
    expect(cleared.user).toMatchObject({ name: "Ada", avatar: null });
    expect(server.emulator.users()[0]).toMatchObject({ name: "Ada", avatar: "" });
    expect((await server.rows())[0]).toMatchObject({ name: "Ada", avatar: null });
  });

  it("adopts a user registered outside this service first, then updates it", async () => {
    const outside = await server.lcic.client.registerUser({ sdkAppId: APP, originId: "outside", name: "Old" });
    const r = await update(server, { originId: "outside", name: "New" });
    expect(r).toMatchObject({ __typename: "UpdateClassroomUserSuccess", user: { userId: outside.userId, name: "New" } });
    expect(await server.rows()).toEqual([expect.objectContaining({ user_id: outside.userId, origin_id: "outside", name: "New", status: "registered" })]);
    expect(server.emulator.users()[0]).toMatchObject({ name: "New" });
  });

  it.each([
    ["neither name nor avatar", { originId: "u3" }, ["input.name", "input.avatar"]],
    ["both userId and originId", { originId: "u3", userId: "x", name: "N" }, ["input.userId", "input.originId"]],
    ["neither userId nor originId", { name: "N" }, ["input.userId", "input.originId"]],
    ["a bad avatar", { originId: "u3", avatar: "javascript:alert(1)" }, ["input.avatar"]],
    ["a name too long", { originId: "u3", name: "n".repeat(65) }, ["input.name"]],
  ])("%s: ValidationError, nothing called or changed", async (_label, input, paths) => {
    await registered("u3");
    const before = await server.rows();
    const r = await update(server, input);
    expect(r.__typename).toBe("ValidationError");
    expect(r.fieldErrors.map((e: { path: string[] }) => e.path.join("."))).toEqual(paths);
    expect(lcicCalls(server)).toEqual({});
    expect(await server.rows()).toEqual(before);
  });

  it("an application this service does not serve: InvalidSdkAppIdError", async () => {
    const r = await update(server, { originId: "u4", sdkAppId: 999, name: "N" });
    expect(r).toMatchObject({ __typename: "InvalidSdkAppIdError", sdkAppId: 999 });
    expect(lcicCalls(server)).toEqual({});
  });

  it("unknown to both: ClassroomUserNotFoundError", async () => {
    const r = await update(server, { originId: "nobody", name: "N" });
    expect(r).toMatchObject({ __typename: "ClassroomUserNotFoundError", code: "ResourceNotFound.User", lookedUpOriginId: "nobody" });
    expect(await server.rows()).toEqual([]);
  });

  it("LCIC answering that the user does not exist (deleted there directly): ClassroomUserNotFoundError, row unchanged", async () => {
    const user = await registered("u5");
    const before = await server.rows();
    await server.lcic.client.deleteUser(user.userId);
    const r = await update(server, { originId: "u5", name: "Gone" });
    expect(r).toMatchObject({ __typename: "ClassroomUserNotFoundError" });
    expect(r.requestId).toMatch(REQUEST_ID);
    expect(await server.rows()).toEqual(before);
  });

  it("a lost reply (applyThenDrop): ModifyUserProfile is sent again, the caller gets success, LCIC and the row agree", async () => {
    await registered("u6");
    server.emulator.injectFault({ action: "ModifyUserProfile", mode: "applyThenDrop" });
    const r = await update(server, { originId: "u6", name: "Twice" });
    expect(r).toMatchObject({ __typename: "UpdateClassroomUserSuccess", user: { name: "Twice" } });
    expect(server.emulator.counters().ModifyUserProfile).toMatchObject({ calls: 2, applied: 2 });
    expect(server.emulator.users()[0]).toMatchObject({ name: "Twice" });
    expect((await server.rows())[0]).toMatchObject({ name: "Twice" });
  });

  it.each([
    ["RequestLimitExceeded", "LcicRateLimitedError"],
    ["InternalError", "LcicUnavailableError"],
    ["FailedOperation", "LcicError"],
  ])("LCIC answering %s every time: %s, row unchanged", async (code, typename) => {
    await registered("u7");
    const before = await server.rows();
    server.emulator.injectFault({ action: "ModifyUserProfile", mode: "error", code, times: Number.POSITIVE_INFINITY });
    const r = await update(server, { originId: "u7", name: "Never" });
    expect(r).toMatchObject({ __typename: typename, code });
    expect(await server.rows()).toEqual(before);
  });
});
