// Several replicas on one database and one LCIC: exactly-once registration across processes, and
// token keys that differ or rotate between them.
import { randomBytes } from "node:crypto";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { REGISTER, register, startTestServer } from "../support/server.js";

const oldKey = randomBytes(32);
const newKey = randomBytes(32);
const a = await startTestServer({ tokenKeys: [oldKey], configEnv: { DATABASE_POOL_SIZE: "3" } });
const b = await startTestServer({ shareWith: a, tokenKeys: [oldKey], configEnv: { DATABASE_POOL_SIZE: "3" } });
const rotated = await startTestServer({ shareWith: a, tokenKeys: [newKey, oldKey] });
const stranger = await startTestServer({ shareWith: a, tokenKeys: [randomBytes(32)] });
afterAll(async () => {
  await Promise.all([b.close(), rotated.close(), stranger.close()]);
  await a.close();
});
beforeEach(async () => {
  a.emulator.reset();
  await a.db.sql`truncate classroom_users`;
});

describe("two replicas, one originId at the same time", () => {
  it("exactly one LCIC user, one row, one created: true", { timeout: 20_000 }, async () => {
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).gql(REGISTER, { input: { originId: "shared", name: "Shared" } }).then((r) => r.data!.registerClassroomUser)),
    );
    expect(results.map((r: any) => r.__typename)).toEqual(Array(10).fill("RegisterClassroomUserSuccess"));
    expect(results.filter((r: any) => r.created)).toHaveLength(1);
    expect(new Set(results.map((r: any) => r.user.userId)).size).toBe(1);
    expect(a.emulator.counters().RegisterUser.calls).toBe(1);
    expect(await a.rows()).toHaveLength(1);
  });
});

describe("token keys", () => {
  it("a replica with the old key second (rotation) reads tokens sealed with it, without asking LCIC", async () => {
    const first = await register(a, { originId: "rot" });
    a.emulator.resetCounters();
    const r = await register(rotated, { originId: "rot" });
    expect(r).toMatchObject({ created: false, token: first.token });
    expect(a.emulator.counters().LoginUser.calls).toBe(0);
  });

  it("tokens sealed by the new key are readable by the rotated replica only; others get a fresh token, not an error", async () => {
    await register(rotated, { originId: "new-key" });
    await a.db.sql`update classroom_users set token_expires_at = now()`;
    const fresh = await register(rotated, { originId: "new-key" });
    a.emulator.resetCounters();
    const r = await register(stranger, { originId: "new-key" });
    expect(r).toMatchObject({ __typename: "RegisterClassroomUserSuccess", created: false, user: { userId: fresh.user.userId } });
    expect(r.token).not.toBe(fresh.token);
    expect(a.emulator.counters().LoginUser.calls).toBe(1);
    const [row] = await a.rows();
    expect(row!.token_ciphertext).not.toContain(r.token);
  });
});
