// deleteClassroomUser end to end: erasure, tombstone, idempotency, groups, lost replies, races with registration.
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { startReconciler } from "../../src/jobs/reconciler.js";
import { createLogger } from "../../src/logger.js";
import { APP, find, register, startTestServer } from "../support/server.js";
import { issueToken, lcicCalls, remove, tombstones } from "./support.js";

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

  /** One reconciler sweep now, over rows stale at once (the product's reconciler waits RECONCILER_STALE_AFTER_MS). */
  async function sweep() {
    const reconciler = startReconciler({ users: server.app.users, logger: createLogger({ level: "silent" }), intervalMs: 3_600_000, staleAfterMs: 0 });
    try {
      return await reconciler.sweep();
    } finally {
      await reconciler.stop();
    }
  }

  it("both replies lost and nobody repeats the delete: the intent recorded before DeleteUser lets the reconciler finish it", async () => {
    const user = await registered("d9");
    server.emulator.injectFault({ action: "DeleteUser", mode: "applyThenDrop", times: 2 });
    expect(await remove(server, { originId: "d9" })).toMatchObject({ __typename: "LcicUnavailableError" });
    const [row] = await server.rows();
    expect(row).toMatchObject({ origin_id: "d9", status: "registered" });
    expect(row!.deletion_requested_at).not.toBeNull();
    expect(server.emulator.users()).toEqual([]); // LCIC deleted it: the stored user is one LCIC no longer has
    await expect.poll(async () => (await sweep()).erased, { timeout: 15_000, interval: 200 }).toBe(1); // a sweep finding LCIC's budget busy postpones
    expect(await server.rows()).toEqual([]);
    expect(await tombstones(server)).toEqual([expect.objectContaining({ user_id: user.userId, origin_id: "d9" })]);
    expect(await find(server, { originId: "d9" })).toMatchObject({ __typename: "ClassroomUserNotFoundError" });
    expect(await sweep()).toMatchObject({ erased: 0 }); // nothing left to do
  });

  it("the process dying between DeleteUser and the erasure: the reconciler finishes the erasure", async () => {
    const user = await registered("d10");
    // What a delete leaves when its process dies right after LCIC deleted the user: the intent, committed
    // before DeleteUser was sent, and the row.
    await server.db.sql`update classroom_users set deletion_requested_at = now() where origin_id = 'd10'`;
    await server.lcic.client.deleteUser(user.userId);
    server.emulator.resetCounters();
    await expect.poll(async () => (await sweep()).erased, { timeout: 15_000, interval: 200 }).toBe(1);
    expect(await server.rows()).toEqual([]);
    expect(await tombstones(server)).toEqual([expect.objectContaining({ user_id: user.userId, lcic_request_id: null })]);
    expect(server.emulator.counters().DeleteUser).toMatchObject({ calls: 1, applied: 0 }); // "not found": the first one worked
  });

  it("a delete LCIC may have applied (InternalError every time) keeps its intent: finished once LCIC answers again", async () => {
    const user = await registered("d11");
    server.emulator.injectFault({ action: "DeleteUser", mode: "error", code: "InternalError", times: Number.POSITIVE_INFINITY });
    expect(await remove(server, { originId: "d11" })).toMatchObject({ __typename: "LcicUnavailableError" });
    expect((await server.rows())[0]!.deletion_requested_at).not.toBeNull();
    // LCIC still failing (or the sweep's background call finding LCIC's budget busy): the row stays as it is.
    const failing = await sweep();
    expect(failing).toMatchObject({ erased: 0, kept: 0 });
    expect(failing.failed + failing.postponed).toBe(1);
    expect((await server.rows())[0]).toMatchObject({ origin_id: "d11", status: "registered" });
    expect((await server.rows())[0]!.deletion_requested_at).not.toBeNull();
    server.emulator.reset();
    await server.db.sql`update classroom_users set reconcile_not_before = null`;
    await expect.poll(async () => (await sweep()).erased, { timeout: 15_000, interval: 200 }).toBe(1);
    expect(await server.rows()).toEqual([]);
    expect(server.emulator.users().map((u) => u.userId)).not.toContain(user.userId);
  });

  it.each([
    ["FailedOperation", "LcicError"],
    ["RequestLimitExceeded", "LcicRateLimitedError"],
  ])("a DeleteUser LCIC refused for sure (%s) clears the intent: the reconciler leaves the user alone", async (code, typename) => {
    await registered("d12");
    server.emulator.injectFault({ action: "DeleteUser", mode: "error", code, times: Number.POSITIVE_INFINITY });
    expect(await remove(server, { originId: "d12" })).toMatchObject({ __typename: typename });
    expect((await server.rows())[0]).toMatchObject({ origin_id: "d12", deletion_requested_at: null });
    expect(await sweep()).toMatchObject({ erased: 0, kept: 0 });
    expect(server.emulator.users()).toHaveLength(1);
  });

  it("a refusal after an earlier delete's lost outcome keeps the intent (that one may have worked); in a group, the user lives on", async () => {
    const user = await registered("d13");
    server.emulator.injectFault({ action: "DeleteUser", mode: "error", code: "InternalError", times: 2 });
    expect(await remove(server, { originId: "d13" })).toMatchObject({ __typename: "LcicUnavailableError" });
    server.emulator.injectFault({ action: "DeleteUser", mode: "error", code: "FailedOperation", times: 1 });
    expect(await remove(server, { originId: "d13" })).toMatchObject({ __typename: "LcicError" });
    expect((await server.rows())[0]!.deletion_requested_at).not.toBeNull();
    // The reconciler's DeleteUser is refused: the user is in a group, so it exists and was never deleted.
    server.emulator.setUserInGroup(user.userId, true);
    await expect.poll(async () => (await sweep()).kept, { timeout: 15_000, interval: 200 }).toBe(1);
    expect((await server.rows())[0]).toMatchObject({ origin_id: "d13", status: "registered", deletion_requested_at: null });
    expect(await find(server, { originId: "d13" })).toMatchObject({ __typename: "ClassroomUser", userId: user.userId });
  });

  /** A registered user whose delete got LcicUnavailableError, both DeleteUser replies lost (LCIC deleted it). */
  async function deleteLost(originId: string) {
    const user = await registered(originId);
    server.emulator.injectFault({ action: "DeleteUser", mode: "applyThenDrop", times: 2 });
    expect(await remove(server, { originId })).toMatchObject({ __typename: "LcicUnavailableError" });
    expect(server.emulator.users()).toEqual([]);
    server.emulator.resetCounters();
    return user;
  }

  it("registering an originId whose delete's outcome was lost finishes the delete first, then registers anew (no token for a user LCIC no longer has)", async () => {
    const old = await deleteLost("d14");
    const again = await register(server, { originId: "d14", name: "Ada" });
    expect(again).toMatchObject({ __typename: "RegisterClassroomUserSuccess", created: true });
    expect(again.user.userId).not.toBe(old.userId);
    expect(server.emulator.users().map((u) => u.userId)).toEqual([again.user.userId]);
    expect(await tombstones(server)).toEqual([expect.objectContaining({ user_id: old.userId })]);
    const rows = await server.rows();
    expect(rows).toEqual([expect.objectContaining({ origin_id: "d14", user_id: again.user.userId, status: "registered", deletion_requested_at: null })]);
  });

  it("issueClassroomUserToken for a user whose delete's outcome was lost: the delete is finished, the user is not found", async () => {
    const old = await deleteLost("d15");
    expect(await issueToken(server, { originId: "d15" })).toMatchObject({ __typename: "ClassroomUserNotFoundError" });
    expect(await issueToken(server, { userId: old.userId })).toMatchObject({ __typename: "ClassroomUserNotFoundError" });
    expect(await server.rows()).toEqual([]);
    expect(lcicCalls(server)).toMatchObject({ DeleteUser: 1 }); // "not found": the lost one had worked
  });

  it("a bulk registration naming an originId whose delete's outcome was lost finishes that delete, then registers it anew", async () => {
    const old = await deleteLost("d17");
    const kept = await registered("d18");
    const res = await server.gql(
      /* GraphQL */ `
        mutation Bulk($input: RegisterClassroomUsersInput!) {
          registerClassroomUsers(input: $input) {
            __typename
            ... on RegisterClassroomUsersSuccess { createdCount existingCount users { originId created user { userId } } }
            ... on Error { code message }
          }
        }
      `,
      { input: { users: [{ originId: "d17", name: "Ada" }, { originId: "d18" }] } },
    );
    const bulk = res.data!.registerClassroomUsers as Record<string, any>;
    expect(bulk).toMatchObject({ __typename: "RegisterClassroomUsersSuccess", createdCount: 1, existingCount: 1 });
    const [d17, d18] = bulk.users as Array<{ originId: string; created: boolean; user: { userId: string } }>;
    expect(d17).toMatchObject({ originId: "d17", created: true });
    expect(d17!.user.userId).not.toBe(old.userId);
    expect(d18).toMatchObject({ originId: "d18", created: false, user: { userId: kept.userId } });
    expect(server.emulator.users().map((u) => u.userId).sort()).toEqual([d17!.user.userId, kept.userId].sort());
    expect(await tombstones(server)).toEqual([expect.objectContaining({ user_id: old.userId })]);
    expect((await server.rows()).map((r) => r.deletion_requested_at)).toEqual([null, null]);
  });

  it("a registration finding an unfinished delete that LCIC now refuses (in a group): the user lives on and is returned", async () => {
    const user = await registered("d16");
    server.emulator.injectFault({ action: "DeleteUser", mode: "error", code: "InternalError", times: 2 });
    expect(await remove(server, { originId: "d16" })).toMatchObject({ __typename: "LcicUnavailableError" });
    server.emulator.setUserInGroup(user.userId, true);
    const again = await register(server, { originId: "d16" });
    expect(again).toMatchObject({ __typename: "RegisterClassroomUserSuccess", created: false, user: { userId: user.userId } });
    expect((await server.rows())[0]).toMatchObject({ status: "registered", deletion_requested_at: null });
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
