// Every user action against the emulator through the real SDK client: success shapes and the
// parameter / business error paths LCIC documents.
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import http from "node:http";
import { Client } from "tencentcloud-sdk-nodejs/tencentcloud/services/lcic/v20220817/lcic_client.js";
import { toLcicError } from "../../src/lcic/errors.js";
import { catchLcicError, startTestLcic, type TestLcic } from "../support/lcic.js";

const APP = 1400000001;
const OTHER_APP = 1400000002;
const USER_ID = /^[0-9A-Za-z]{27}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

// Limits off: this file is about behaviour, rate limits have their own tests.
const off = { RegisterUser: 0, BatchRegister: 0, DescribeUser: 0, LoginUser: 0, DescribeSdkAppIdUsers: 0 };
const lcic: TestLcic = await startTestLcic({ sdkAppIds: [APP, OTHER_APP], rateLimits: off });
afterAll(() => lcic.close());

/** The SDK itself, for requests our adapter would never build. */
function rawSdk(): Client {
  return new Client({
    credential: lcic.emulator.credentials,
    profile: { httpProfile: { protocol: "http://", endpoint: new URL(lcic.emulator.url).host, agent: new http.Agent() } },
  });
}
beforeEach(() => lcic.emulator.reset());

describe("success shapes", () => {
  it("RegisterUser returns a 27-char base62 UserId, an opaque token and a RequestId", async () => {
    const r = await lcic.client.registerUser({ sdkAppId: APP, name: "Ann", originId: "ann", avatar: "https://a/1.png" });
    expect(r.userId).toMatch(USER_ID);
    expect(r.token.length).toBeGreaterThanOrEqual(32);
    expect(r.requestId).toMatch(UUID);
    expect(lcic.emulator.users(APP)).toEqual([
      { sdkAppId: APP, userId: r.userId, originId: "ann", name: "Ann", avatar: "https://a/1.png" },
    ]);
  });

  it("RegisterUser without OriginId defaults it to the UserId", async () => {
    const r = await lcic.client.registerUser({ sdkAppId: APP, name: "NoOrigin" });
    const u = await lcic.client.describeUser({ userId: r.userId });
    expect(u.originId).toBe(r.userId);
    const r2 = await lcic.client.registerUser({ sdkAppId: APP, originId: "" });
    expect((await lcic.client.describeUser({ userId: r2.userId })).originId).toBe(r2.userId);
  });

  it("DescribeUser by userId and by originId", async () => {
    const r = await lcic.client.registerUser({ sdkAppId: APP, name: "Bo", originId: "bo" });
    const expected = { sdkAppId: APP, userId: r.userId, originId: "bo", name: "Bo", avatar: "" };
    expect(await lcic.client.describeUser({ userId: r.userId })).toEqual({ ...expected, requestId: expect.stringMatching(UUID) });
    expect(await lcic.client.describeUser({ originId: "bo" })).toEqual({ ...expected, requestId: expect.stringMatching(UUID) });
  });

  it("LoginUser and LoginOriginId issue a new token each time", async () => {
    const r = await lcic.client.registerUser({ sdkAppId: APP, originId: "cy" });
    const a = await lcic.client.loginUser(r.userId);
    const b = await lcic.client.loginOriginId({ sdkAppId: APP, originId: "cy" });
    expect(a.userId).toBe(r.userId);
    expect(b.userId).toBe(r.userId);
    expect(new Set([r.token, a.token, b.token]).size).toBe(3);
  });

  it("ModifyUserProfile changes Name through Nickname, and Avatar", async () => {
    const r = await lcic.client.registerUser({ sdkAppId: APP, name: "Old", originId: "d", avatar: "x" });
    const m = await lcic.client.modifyUserProfile({ userId: r.userId, nickname: "New" });
    expect(m.requestId).toMatch(UUID);
    expect(await lcic.client.describeUser({ userId: r.userId })).toMatchObject({ name: "New", avatar: "x" });
    await lcic.client.modifyUserProfile({ userId: r.userId, avatar: "y" });
    expect(await lcic.client.describeUser({ userId: r.userId })).toMatchObject({ name: "New", avatar: "y" });
  });

  it("DeleteUser removes the user", async () => {
    const r = await lcic.client.registerUser({ sdkAppId: APP, originId: "e" });
    expect((await lcic.client.deleteUser(r.userId)).requestId).toMatch(UUID);
    expect(lcic.emulator.users()).toEqual([]);
    expect((await catchLcicError(lcic.client.describeUser({ userId: r.userId }))).code).toBe("ResourceNotFound.User");
    // The OriginId is free again.
    await lcic.client.registerUser({ sdkAppId: APP, originId: "e" });
  });

  it("DeleteUser refuses a user in a group (FailedOperation.UserIsAlreadyInGroup) and deletes nothing, until they leave it", async () => {
    const r = await lcic.client.registerUser({ sdkAppId: APP, originId: "grouped" });
    expect(lcic.emulator.setUserInGroup(r.userId, true)).toBe(true);
    const error = await catchLcicError(lcic.client.deleteUser(r.userId));
    expect(error.code).toBe("FailedOperation.UserIsAlreadyInGroup");
    expect(lcic.emulator.users().map((u) => u.userId)).toEqual([r.userId]);
    // Over the admin route too.
    const res = await fetch(`${lcic.emulator.url}/__emulator/groups`, { method: "POST", body: JSON.stringify({ userId: r.userId, inGroup: false }) });
    expect(res.status).toBe(200);
    await lcic.client.deleteUser(r.userId);
    expect(lcic.emulator.users()).toEqual([]);
    expect(lcic.emulator.setUserInGroup(r.userId, true)).toBe(false);
  });

  it("DescribeSdkAppIdUsers pages in registration order (Page 1, Limit 20 by default) with Total", async () => {
    const batch = Array.from({ length: 45 }, (_, i) => ({ sdkAppId: APP, originId: `p${i}`, name: `P${i}` }));
    await lcic.client.batchRegister(batch);
    await lcic.client.registerUser({ sdkAppId: OTHER_APP, originId: "elsewhere" });

    const first = await lcic.client.describeSdkAppIdUsers({ sdkAppId: APP });
    expect(first.total).toBe(45);
    expect(first.users.map((u) => u.originId)).toEqual(batch.slice(0, 20).map((u) => u.originId));
    expect(first.users[0]).toEqual({ sdkAppId: APP, userId: expect.stringMatching(USER_ID), originId: "p0", name: "P0", avatar: "" });

    const third = await lcic.client.describeSdkAppIdUsers({ sdkAppId: APP, page: 3, limit: 20 });
    expect(third.users.map((u) => u.originId)).toEqual(["p40", "p41", "p42", "p43", "p44"]);
    const beyond = await lcic.client.describeSdkAppIdUsers({ sdkAppId: APP, page: 4 });
    expect(beyond).toMatchObject({ total: 45, users: [] });
    const other = await lcic.client.describeSdkAppIdUsers({ sdkAppId: OTHER_APP, limit: 5 });
    expect(other.total).toBe(1);
  });
});

describe("BatchRegister", () => {
  it("registers up to 1000 users and returns one entry per user", async () => {
    const users = Array.from({ length: 1000 }, (_, i) => ({ sdkAppId: APP, originId: `b${i}` }));
    const r = await lcic.client.batchRegister(users);
    expect(r.users).toHaveLength(1000);
    expect(r.users[999]).toEqual({ sdkAppId: APP, userId: expect.stringMatching(USER_ID), originId: "b999" });
    expect(lcic.emulator.users(APP)).toHaveLength(1000);
  });

  it("refuses 1001 users with InvalidParameterValue and applies nothing", async () => {
    const users = Array.from({ length: 1001 }, (_, i) => ({ sdkAppId: APP, originId: `b${i}` }));
    const e = await catchLcicError(lcic.client.batchRegister(users));
    expect(e).toMatchObject({ code: "InvalidParameterValue", kind: "invalid_parameter", retryable: false });
    expect(lcic.emulator.users()).toEqual([]);
  });

  it("overwrites an existing user: same UserId, new Name and Avatar", async () => {
    const r = await lcic.client.registerUser({ sdkAppId: APP, originId: "same", name: "Before", avatar: "a0" });
    const b = await lcic.client.batchRegister([
      { sdkAppId: APP, originId: "same", name: "After", avatar: "a1" },
      { sdkAppId: APP, name: "Fresh" },
    ]);
    expect(b.users[0]).toEqual({ sdkAppId: APP, userId: r.userId, originId: "same" });
    expect(b.users[1]?.originId).toBe(b.users[1]?.userId);
    expect(await lcic.client.describeUser({ userId: r.userId })).toMatchObject({ name: "After", avatar: "a1" });
    expect(lcic.emulator.users(APP)).toHaveLength(2);
  });

  it("an unknown SdkAppId anywhere in the batch fails the whole batch", async () => {
    const e = await catchLcicError(
      lcic.client.batchRegister([{ sdkAppId: APP, originId: "ok" }, { sdkAppId: 42, originId: "bad" }]),
    );
    expect(e).toMatchObject({ code: "InvalidParameter.SdkAppId", kind: "invalid_parameter" });
    expect(lcic.emulator.users()).toEqual([]);
  });
});

describe("error paths", () => {
  it("FailedOperation.OriginIdExists on a duplicate OriginId in the same app only", async () => {
    await lcic.client.registerUser({ sdkAppId: APP, originId: "dup" });
    const e = await catchLcicError(lcic.client.registerUser({ sdkAppId: APP, originId: "dup" }));
    expect(e).toMatchObject({
      code: "FailedOperation.OriginIdExists",
      kind: "business",
      retryable: false,
      outcomeUnknown: false,
      action: "RegisterUser",
      requestId: expect.stringMatching(UUID),
    });
    await lcic.client.registerUser({ sdkAppId: OTHER_APP, originId: "dup" });
  });

  it("InvalidParameter.SdkAppId for an unknown application", async () => {
    for (const call of [
      lcic.client.registerUser({ sdkAppId: 7 }),
      lcic.client.loginOriginId({ sdkAppId: 7, originId: "x" }),
      lcic.client.describeSdkAppIdUsers({ sdkAppId: 7 }),
    ]) {
      expect(await catchLcicError(call)).toMatchObject({ code: "InvalidParameter.SdkAppId", kind: "invalid_parameter" });
    }
  });

  it("ResourceNotFound.User for unknown users on every user-addressed action", async () => {
    for (const call of [
      lcic.client.describeUser({ userId: "2CvDgjRNjylAsBZB4iZc0F6koXe" }),
      lcic.client.describeUser({ originId: "nobody" }),
      lcic.client.loginUser("2CvDgjRNjylAsBZB4iZc0F6koXe"),
      lcic.client.loginOriginId({ sdkAppId: APP, originId: "nobody" }),
      lcic.client.modifyUserProfile({ userId: "2CvDgjRNjylAsBZB4iZc0F6koXe", nickname: "n" }),
      lcic.client.deleteUser("2CvDgjRNjylAsBZB4iZc0F6koXe"),
    ]) {
      expect(await catchLcicError(call)).toMatchObject({ code: "ResourceNotFound.User", kind: "business", retryable: false });
    }
  });

  it("MissingParameter for an absent required parameter", async () => {
    const e = await catchLcicError(lcic.client.loginUser(""));
    expect(e).toMatchObject({ code: "MissingParameter", kind: "invalid_parameter", retryable: false });
    const d = await catchLcicError(lcic.client.describeUser({ userId: "" }));
    expect(d.code).toBe("MissingParameter");
  });

  it("InvalidParameter for a wrong JSON type", async () => {
    // The interface types forbid it; a JS caller (or a bug) can still send it.
    const e = await catchLcicError(lcic.client.registerUser({ sdkAppId: "1400000001" as unknown as number }));
    expect(e).toMatchObject({ code: "InvalidParameter", kind: "invalid_parameter" });
    const n = await catchLcicError(lcic.client.registerUser({ sdkAppId: APP, name: 5 as unknown as string }));
    expect(n.code).toBe("InvalidParameter");
  });

  it("InvalidParameterValue for Limit or Page <= 0", async () => {
    expect((await catchLcicError(lcic.client.describeSdkAppIdUsers({ sdkAppId: APP, limit: 0 }))).code).toBe(
      "InvalidParameterValue",
    );
    expect((await catchLcicError(lcic.client.describeSdkAppIdUsers({ sdkAppId: APP, page: 0 }))).code).toBe(
      "InvalidParameterValue",
    );
  });

  it("UnknownParameter for a parameter the action does not take (raw SDK call)", async () => {
    const e = toLcicError(
      await rawSdk().request("RegisterUser", { SdkAppId: APP, Nickname: "x" }).catch((error: unknown) => error),
      "RegisterUser",
    );
    expect(e).toMatchObject({ code: "UnknownParameter", kind: "invalid_parameter", retryable: false });
    const nested = toLcicError(
      await rawSdk().request("BatchRegister", { Users: [{ SdkAppId: APP, Foo: 1 }] }).catch((error: unknown) => error),
      "BatchRegister",
    );
    expect(nested.code).toBe("UnknownParameter");
    expect(nested.message).toContain("Users.0.Foo");
    expect(lcic.emulator.users()).toEqual([]);
  });
});
