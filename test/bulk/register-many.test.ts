// registerClassroomUsers through the HTTP API: BatchRegister in chunks, validation, overlap with
// single registrations and with a second replica's batch, and lost or late BatchRegister replies.
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { REGISTER, startTestServer, type TestServer } from "../support/server.js";

const REGISTER_MANY = /* GraphQL */ `
  mutation RegisterMany($input: RegisterClassroomUsersInput!) {
    registerClassroomUsers(input: $input) {
      __typename
      ... on RegisterClassroomUsersSuccess { createdCount existingCount requestId users { originId created user { userId originId name avatar } } }
      ... on ValidationError { fieldErrors { path message } }
      ... on LcicRateLimitedError { retryAfterMs }
      ... on Error { code message }
    }
  }
`;

const roster = (from: number, count: number, prefix = "s") =>
  Array.from({ length: count }, (_, i) => ({ originId: `${prefix}-${from + i}`, name: `Student ${from + i}`, avatar: `https://example.com/a/${from + i}.png` }));

async function registerMany(server: TestServer, users: unknown[], sdkAppId?: number) {
  const res = await server.gql(REGISTER_MANY, { input: { users, ...(sdkAppId ? { sdkAppId } : {}) } });
  if (res.errors) throw new Error(`GraphQL errors: ${JSON.stringify(res.errors)}`);
  return res.data!.registerClassroomUsers as Record<string, any>;
}

/** Stored rows and LCIC users agree one to one: one LCIC user per originId, every row registered with it. */
async function expectConsistent(server: TestServer, expectedCount: number) {
  const rows = await server.rows();
  const lcicUsers = server.emulator.users();
  expect(rows).toHaveLength(expectedCount);
  expect(lcicUsers).toHaveLength(expectedCount);
  expect(rows.every((r) => r.status === "registered")).toBe(true);
  const lcicByOrigin = new Map(lcicUsers.map((u) => [u.originId, u.userId]));
  for (const row of rows) expect(row.user_id).toBe(lcicByOrigin.get(row.origin_id));
}

// Room for a 600-user BatchRegister behind 200 ms of injected latency on a loaded machine: a call
// past the timeout is resent, and the overlap test counts one attempt per row.
const LCIC_TIMEOUT_MS = 1_500;
const server = await startTestServer({ configEnv: { LCIC_TIMEOUT_MS: String(LCIC_TIMEOUT_MS) } });
const replica = await startTestServer({ shareWith: server, configEnv: { LCIC_TIMEOUT_MS: String(LCIC_TIMEOUT_MS) } });
afterAll(async () => {
  await replica.close();
  await server.close();
});
beforeEach(async () => {
  server.emulator.reset();
  await server.db.sql`truncate classroom_users`;
});

describe("registerClassroomUsers", () => {
  it("registers 2,500 users in three requests, one BatchRegister each, in input order; repeating a request sends nothing", { timeout: 30_000 }, async () => {
    const all = roster(0, 2500);
    const chunks = [all.slice(0, 1000), all.slice(1000, 2000), all.slice(2000)];
    const results = [];
    for (const chunk of chunks) results.push(await registerMany(server, chunk));
    for (const [i, r] of results.entries()) {
      expect(r.__typename).toBe("RegisterClassroomUsersSuccess");
      expect(r).toMatchObject({ createdCount: chunks[i]!.length, existingCount: 0 });
      expect(r.requestId).toEqual(expect.any(String));
      expect(r.users.map((u: any) => u.originId)).toEqual(chunks[i]!.map((u) => u.originId));
    }
    expect(results[2]!.users[7]).toMatchObject({ created: true, user: { originId: "s-2007", name: "Student 2007", avatar: "https://example.com/a/2007.png" } });
    expect(server.emulator.counters().BatchRegister.calls).toBe(3);
    expect(server.emulator.counters().RegisterUser.calls).toBe(0);
    await expectConsistent(server, 2500);

    // Idempotent by originId: the same request again (plus one new user) sends only the new one.
    server.emulator.resetCounters();
    const again = await registerMany(server, [...chunks[2]!, ...roster(2500, 1)]);
    expect(again).toMatchObject({ createdCount: 1, existingCount: 500 });
    expect(again.users[0]).toMatchObject({ created: false, user: { userId: results[2]!.users[0].user.userId } });
    expect(server.emulator.counters().BatchRegister.calls).toBe(1);
    await expectConsistent(server, 2501);
  });

  it("refuses invalid items with one ValidationError naming each, calling and storing nothing", async () => {
    const users: any[] = roster(0, 20);
    users[3] = { originId: "s-3", name: "" };
    users[17] = { originId: "s-17", name: "Ok", avatar: "ftp://example.com/x.png" };
    users[19] = { originId: "s-4", name: "Duplicate of item 4" };
    const r = await registerMany(server, users);
    expect(r.__typename).toBe("ValidationError");
    expect(r.fieldErrors.map((e: any) => e.path)).toEqual([
      ["input", "users", "3", "name"],
      ["input", "users", "17", "avatar"],
      ["input", "users", "19", "originId"],
    ]);
    expect(server.emulator.counters().BatchRegister.calls).toBe(0);
    expect(await server.rows()).toHaveLength(0);

    const tooMany = await registerMany(server, roster(0, 1001));
    expect(tooMany.fieldErrors).toEqual([{ path: ["input", "users"], message: expect.stringContaining("1 to 1000") }]);
    expect((await registerMany(server, [])).__typename).toBe("ValidationError");
    expect((await registerMany(server, roster(0, 2), 999)).__typename).toBe("InvalidSdkAppIdError");
  });

  it("a single registration of an originId inside a running batch returns the batch's user", { timeout: 20_000 }, async () => {
    server.emulator.injectFault({ action: "BatchRegister", mode: "latency", ms: 400 });
    const batch = registerMany(server, roster(0, 300));
    await new Promise((r) => setTimeout(r, 150)); // the batch holds its keys' locks and waits for LCIC
    const singles = await Promise.all([5, 150, 299].map((i) => replica.gql(REGISTER, { input: { originId: `s-${i}`, name: `Student ${i}` } })));
    const result = await batch;
    expect(result.createdCount).toBe(300);
    for (const [n, i] of [5, 150, 299].entries()) {
      const single = singles[n]!.data!.registerClassroomUser;
      expect(single).toMatchObject({ __typename: "RegisterClassroomUserSuccess", created: false, user: { userId: result.users[i].user.userId } });
      expect(single.token).toEqual(expect.any(String));
    }
    expect(server.emulator.counters().RegisterUser.calls).toBe(0);
    await expectConsistent(server, 300);
  });

  it("a single registration first, then a batch holding its originId: the batch returns that user, not created", async () => {
    const single = await server.gql(REGISTER, { input: { originId: "s-2", name: "Student 2" } });
    const r = await registerMany(server, roster(0, 5));
    expect(r).toMatchObject({ createdCount: 4, existingCount: 1 });
    expect(r.users[2]).toMatchObject({ created: false, user: { userId: single.data!.registerClassroomUser.user.userId } });
    await expectConsistent(server, 5);
  });

  it("overlapping batches on two replicas make one LCIC user per originId, each sent once", { timeout: 20_000 }, async () => {
    server.emulator.injectFault({ action: "BatchRegister", mode: "latency", ms: 200, times: 2 });
    const [a, b] = await Promise.all([registerMany(server, roster(0, 600)), registerMany(replica, roster(300, 600))]);
    expect(a.__typename).toBe("RegisterClassroomUsersSuccess");
    expect(b.__typename).toBe("RegisterClassroomUsersSuccess");
    expect(a.createdCount + b.createdCount).toBe(900);
    const byOrigin = new Map<string, string>();
    for (const u of [...a.users, ...b.users]) {
      expect(byOrigin.get(u.originId) ?? u.user.userId).toBe(u.user.userId);
      byOrigin.set(u.originId, u.user.userId);
    }
    await expectConsistent(server, 900);
    // The second batch waited for the first's locks and did not send the 300 keys the first registered.
    expect((await server.rows()).every((row) => row.attempts === 1)).toBe(true);
  });

  it("a reply lost after LCIC applied the batch: the same batch is sent again, nothing duplicated", async () => {
    server.emulator.injectFault({ action: "BatchRegister", mode: "applyThenDrop" });
    const r = await registerMany(server, roster(0, 50));
    expect(r).toMatchObject({ __typename: "RegisterClassroomUsersSuccess", createdCount: 50 });
    expect(server.emulator.counters().BatchRegister).toMatchObject({ calls: 2, applied: 2 });
    await expectConsistent(server, 50);
  });

  it("a late reply (past the timeout): resent, and the late one's overwrite changes nothing", { timeout: 10_000 }, async () => {
    server.emulator.injectFault({ action: "BatchRegister", mode: "latency", ms: LCIC_TIMEOUT_MS + 500 });
    const r = await registerMany(server, roster(0, 40));
    expect(r).toMatchObject({ __typename: "RegisterClassroomUsersSuccess", createdCount: 40 });
    await new Promise((resolve) => setTimeout(resolve, 1_000)); // the late call lands
    expect(server.emulator.counters().BatchRegister.applied).toBe(2);
    await expectConsistent(server, 40);
  });

  it("every reply lost: LcicUnavailableError, rows stay pending; the same request again completes them", async () => {
    server.emulator.injectFault({ action: "BatchRegister", mode: "applyThenDrop", times: 2 });
    const failed = await registerMany(server, roster(0, 30));
    expect(failed.__typename).toBe("LcicUnavailableError");
    const pending = await server.rows();
    expect(pending).toHaveLength(30);
    expect(pending.every((row) => row.status === "pending" && row.attempts === 2 && row.batch_id)).toBe(true);
    const retried = await registerMany(server, roster(0, 30));
    expect(retried).toMatchObject({ __typename: "RegisterClassroomUsersSuccess", createdCount: 30 });
    await expectConsistent(server, 30);
  });

  it("the reconciler completes a batch whose replies were all lost with one BatchRegister, and clears rows never sent", { timeout: 30_000 }, async () => {
    server.emulator.injectFault({ action: "BatchRegister", mode: "applyThenDrop", times: 2 });
    expect((await registerMany(server, roster(0, 120))).__typename).toBe("LcicUnavailableError");
    // And a batch whose process died before sending: intent rows with no attempt.
    await server.db.sql`insert into classroom_users (sdk_app_id, origin_id, status, batch_id) values (${1400000001}, 'never-sent', 'pending', 'b-dead')`;
    await server.db.sql`update classroom_users set updated_at = now() - interval '1 hour'`;
    server.emulator.resetCounters();
    const totals = { registered: 0, cleared: 0, failed: 0 };
    const deadline = Date.now() + 20_000;
    while ((await server.rows()).some((row) => row.status === "pending") && Date.now() < deadline) {
      const swept = await server.app.reconciler!.sweep(); // 50 stale rows a sweep
      for (const key of ["registered", "cleared", "failed"] as const) totals[key] += swept[key];
      // Its calls are background (postponed while the budget was just used) and its lock wait is short.
      if (swept.registered + swept.cleared === 0) await new Promise((r) => setTimeout(r, 150));
    }
    expect(totals).toEqual({ registered: 120, cleared: 1, failed: 0 });
    expect(server.emulator.counters().BatchRegister.calls).toBe(3);
    expect(server.emulator.counters().LoginOriginId.calls).toBe(0);
    await expectConsistent(server, 120);
  });

  it("LCIC refusing the batch leaves nothing behind", async () => {
    server.emulator.injectFault({ action: "BatchRegister", mode: "error", code: "InvalidParameterValue" });
    const r = await registerMany(server, roster(0, 10));
    expect(r).toMatchObject({ __typename: "LcicError", code: "InvalidParameterValue" });
    expect(await server.rows()).toHaveLength(0);
  });
});
