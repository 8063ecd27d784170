// deleteClassroomUser end to end: erasure, tombstone, idempotency, groups, lost replies, races with registration.
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { APP, find, register, startTestServer } from "../support/server.js";
import { lcicCalls, remove, tombstones } from "./support.js";

const REQUEST_ID = /^[0-9a-f-]{36}$/;
const server = await startTestServer({ configEnv: { LCIC_CIRCUIT_FAILURES: "0" }, emulatorOptions: { timeoutMs: 1000, rateLimits: { RegisterUser: 0, DeleteUser: 0, LoginOriginId: 0 } } });
afterAll(() => server.close());
beforeEach(async () => {
  server.emulator.reset();
  await server.db.sql`truncate classroom_users, classroom_user_tombstones`;
});

async function registered(originId: string) {
  const r = await register(server, { originId, name: "Ada Lovelace", avatar: "https://example.com/a.png" });
  server.emulator.resetCounters();
  return r.user as { userId: string; originId: string };
}

const ENTITIES = /* GraphQL */ `
  query Entities($representations: [_Any!]!) {
    _entities(representations: $representations) { __typename ... on ClassroomUser { userId originId name } }
  }
`;

describe("deleteClassroomUser", () => {
  it("deletes in LCIC, erases the row (no name, avatar or token left), keeps a tombstone of ids and time", async () => {
    const user = await registered("d1");
    const r = await remove(server, { originId: "d1" });
    expect(r).toEqual({ __typename: "DeleteClassroomUserSuccess", userId: user.userId, sdkAppId: APP, originId: "d1", requestId: expect.stringMatching(REQUEST_ID) });
    expect(lcicCalls(server)).toEqual({ DeleteUser: 1 });
    expect(server.emulator.users()).toEqual([]);
    expect(await server.rows()).toEqual([]);
    const [tombstone, ...more] = await tombstones(server);
    expect(more).toEqual([]);
    expect(Object.keys(tombstone!).sort()).toEqual(["deleted_at", "lcic_request_id", "origin_id", "sdk_app_id", "user_id"]);
    expect(tombstone).toMatchObject({ user_id: user.userId, origin_id: "d1", lcic_request_id: r.requestId });
    expect(JSON.stringify(tombstone)).not.toContain("Ada");
  });

  it("afterwards: classroomUser is not found without asking LCIC, _entities is null, and registering the originId again creates a new LCIC user", async () => {
    const user = await registered("d2");
    await remove(server, { userId: user.userId });
    server.emulator.resetCounters();
    expect(await find(server, { originId: "d2" })).toMatchObject({ __typename: "ClassroomUserNotFoundError" });
    expect(await find(server, { userId: user.userId })).toMatchObject({ __typename: "ClassroomUserNotFoundError" });
    const entities = await server.gql(ENTITIES, {
      representations: [
        { __typename: "ClassroomUser", userId: user.userId },
        { __typename: "ClassroomUser", sdkAppId: APP, originId: "d2" },
      ],
    });
    expect(entities.errors).toBeUndefined();
    expect(entities.data!._entities).toEqual([null, null]);
    expect(lcicCalls(server)).toEqual({});

    const again = await register(server, { originId: "d2", name: "Ada again" });
    expect(again).toMatchObject({ created: true, user: { originId: "d2" } });
    expect(again.user.userId).not.toBe(user.userId);
    expect(server.emulator.users().map((u) => u.userId)).toEqual([again.user.userId]);
    expect(await find(server, { originId: "d2" })).toMatchObject({ __typename: "ClassroomUser", userId: again.user.userId });
  });

  it("is idempotent: a repeat by userId or originId is success, without another DeleteUser", async () => {
    const user = await registered("d3");
    const first = await remove(server, { originId: "d3" });
    server.emulator.resetCounters();
    expect(await remove(server, { userId: user.userId })).toEqual(first);
    expect(lcicCalls(server)).toEqual({});
    expect(await remove(server, { originId: "d3" })).toMatchObject({ __typename: "DeleteClassroomUserSuccess", userId: user.userId });
    expect(server.emulator.counters().DeleteUser.calls).toBe(0);
    expect(await tombstones(server)).toHaveLength(1);
  });

  it("a user LCIC already deleted (directly) is success too, and the row is erased", async () => {
    const user = await registered("d4");
    await server.lcic.client.deleteUser(user.userId);
    const r = await remove(server, { originId: "d4" });
    expect(r).toMatchObject({ __typename: "DeleteClassroomUserSuccess", userId: user.userId, requestId: null });
    expect(await server.rows()).toEqual([]);
  });

  it("a user registered outside this service, by userId: looked up in LCIC, deleted, tombstoned", async () => {
    const outside = await server.lcic.client.registerUser({ sdkAppId: APP, originId: "outside" });
    const r = await remove(server, { userId: outside.userId });
    expect(r).toMatchObject({ __typename: "DeleteClassroomUserSuccess", userId: outside.userId, originId: "outside" });
    expect(server.emulator.users()).toEqual([]);
    expect(await tombstones(server)).toEqual([expect.objectContaining({ user_id: outside.userId })]);
  });

  it("a user still in a group: ClassroomUserInGroupError, and nothing is erased", async () => {
    const user = await registered("d5");
    const before = await server.rows();
    server.emulator.setUserInGroup(user.userId, true);
    const r = await remove(server, { originId: "d5" });
    expect(r).toMatchObject({ __typename: "ClassroomUserInGroupError", code: "FailedOperation.UserIsAlreadyInGroup", inGroupUserId: user.userId });
    expect(await server.rows()).toEqual(before);
    expect(await tombstones(server)).toEqual([]);
    expect(server.emulator.users()).toHaveLength(1);
  });

  it("a lost reply (applyThenDrop): DeleteUser is sent once more, \"not found\" then means it worked", async () => {
    const user = await registered("d6");
    server.emulator.injectFault({ action: "DeleteUser", mode: "applyThenDrop" });
    const r = await remove(server, { originId: "d6" });
    expect(r).toMatchObject({ __typename: "DeleteClassroomUserSuccess", userId: user.userId });
    expect(server.emulator.counters().DeleteUser).toMatchObject({ calls: 2, applied: 1 });
    expect(await server.rows()).toEqual([]);
    expect(server.emulator.users()).toEqual([]);
  });

  it("both replies lost: LcicUnavailableError, the row stays; the caller's retry completes the delete", async () => {
    await registered("d7");
    server.emulator.injectFault({ action: "DeleteUser", mode: "applyThenDrop", times: 2 });
    expect(await remove(server, { originId: "d7" })).toMatchObject({ __typename: "LcicUnavailableError" });
    expect(await server.rows()).toHaveLength(1);
    expect(await remove(server, { originId: "d7" })).toMatchObject({ __typename: "DeleteClassroomUserSuccess" });
    expect(await server.rows()).toEqual([]);
  });

  it.each([
    ["unknown originId", { originId: "nobody" }, "ClassroomUserNotFoundError"],
    ["unknown userId", { userId: "2CvDgjRNjylAsBZB4iZc0F6koXe" }, "ClassroomUserNotFoundError"],
    ["an application not served", { originId: "x", sdkAppId: 999 }, "InvalidSdkAppIdError"],
    ["both ids", { originId: "x", userId: "y" }, "ValidationError"],
    ["no id", {}, "ValidationError"],
  ])("%s: %s, nothing deleted", async (_label, input, typename) => {
    await registered("bystander");
    const r = await remove(server, input);
    expect(r.__typename).toBe(typename);
    expect(await server.rows()).toHaveLength(1);
    expect(server.emulator.counters().DeleteUser.calls).toBe(0);
  });

  it.each([
    ["RequestLimitExceeded", "LcicRateLimitedError"],
    ["InternalError", "LcicUnavailableError"],
    ["FailedOperation", "LcicError"],
  ])("LCIC answering %s every time: %s, nothing erased", async (code, typename) => {
    await registered("d8");
    server.emulator.injectFault({ action: "DeleteUser", mode: "error", code, times: Number.POSITIVE_INFINITY });
    expect(await remove(server, { originId: "d8" })).toMatchObject({ __typename: typename, code });
    expect(await server.rows()).toHaveLength(1);
    expect(await tombstones(server)).toEqual([]);
  });

  it("racing registrations of the same originIds: never an LCIC user without a row, nor a row without an LCIC user", async () => {
    const keys = Array.from({ length: 12 }, (_, i) => `race-${i}`);
    for (const originId of keys) await registered(originId);
    // Stale tokens send each registration to LCIC (LoginUser, and RegisterUser again once the user is
    // found deleted), which is where an unserialised delete would erase the row of the new user.
    await server.db.sql`update classroom_users set token_expires_at = now()`;
    server.emulator.injectFault({ action: "LoginUser", mode: "latency", ms: 30, times: 20 });
    const ops = keys.flatMap((originId) => [
      () => remove(server, { originId }),
      () => register(server, { originId }),
      () => remove(server, { originId }),
      () => register(server, { originId }),
      () => register(server, { originId }),
    ]);
    const results = await Promise.all(ops.map((op, i) => new Promise((r) => setTimeout(r, (i % 5) * 5)).then(op)));
    for (const r of results) expect(["RegisterClassroomUserSuccess", "DeleteClassroomUserSuccess", "ClassroomUserNotFoundError"]).toContain(r.__typename);
    const lcicUsers = new Map(server.emulator.users().map((u) => [u.originId, u.userId]));
    const rows = (await server.rows()).filter((r) => r.status === "registered");
    const stored = new Map(rows.map((r) => [r.origin_id as string, r.user_id as string]));
    expect(stored).toEqual(lcicUsers);
    expect((await server.rows()).filter((r) => r.status !== "registered")).toEqual([]);
    // Every deleted user is really gone from LCIC.
    for (const t of await tombstones(server)) expect(server.emulator.users().some((u) => u.userId === t.user_id)).toBe(false);
  });
});
