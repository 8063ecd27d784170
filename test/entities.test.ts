/** `_entities` straight against this subgraph: both keys, batching, LCIC fallback, null for strangers. */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp, type App } from "../src/app.js";
import { loadConfig } from "../src/config.js";
import { laneEnv } from "./support/lane.js";
import { createLogger } from "../src/logger.js";
import { createTestDatabase } from "./support/database.js";
import { startTestLcic, type TestLcic } from "./support/lcic.js";

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let lcic: TestLcic;
let app: App;
let sdkAppId: number;
const queries: string[] = [];
const users: Array<{ userId: string; originId: string }> = [];

const ENTITIES = `query ($representations: [_Any!]!) {
  _entities(representations: $representations) { ... on ClassroomUser { userId sdkAppId originId name } }
}`;

async function entities(representations: object[]) {
  const response = await app.server.yoga.fetch("http://subgraph.test/graphql", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query: ENTITIES, variables: { representations } }),
  });
  return (await response.json()) as { data?: { _entities: Array<Record<string, unknown> | null> }; errors?: unknown[] };
}

const userReads = () => queries.filter((q) => /^\s*select/i.test(q) && q.includes('"classroom_users"'));

beforeAll(async () => {
  [db, lcic] = await Promise.all([createTestDatabase(), startTestLcic()]);
  sdkAppId = lcic.emulator.sdkAppIds[0]!;
  app = createApp({
    config: loadConfig({ LCIC_SDK_APP_ID: String(sdkAppId), ...laneEnv() }),
    logger: createLogger({ level: "silent" }),
    databaseUrl: db.url,
    lcic: lcic.client,
    tokenKeys: [randomBytes(32)],
    onQuery: (q) => queries.push(q),
  });
  for (let i = 0; i < 6; i++) {
    const { user } = await app.users.register({ originId: `pupil-${i}`, name: `Pupil ${i}` });
    users.push({ userId: user.userId!, originId: user.originId });
  }
});

afterAll(async () => {
  await app?.close(100);
  await lcic?.close();
  await db?.close();
});

describe("_entities", () => {
  it("resolves references by userId and by (sdkAppId, originId), mixed, in order, with one SQL query", async () => {
    const representations = users.map((u, i) =>
      i % 2 === 0 ? { __typename: "ClassroomUser", userId: u.userId } : { __typename: "ClassroomUser", sdkAppId, originId: u.originId },
    );
    queries.length = 0;
    const result = await entities(representations);
    expect(result.errors).toBeUndefined();
    expect(result.data!._entities).toEqual(users.map((u, i) => ({ userId: u.userId, sdkAppId, originId: u.originId, name: `Pupil ${i}` })));
    expect(userReads()).toHaveLength(1);
  });

  it("the same user referenced twice is loaded once", async () => {
    const ref = { __typename: "ClassroomUser", userId: users[0]!.userId };
    queries.length = 0;
    const result = await entities([ref, ref, { __typename: "ClassroomUser", sdkAppId, originId: users[0]!.originId }]);
    expect(result.data!._entities.map((u) => u?.originId)).toEqual(["pupil-0", "pupil-0", "pupil-0"]);
    expect(userReads()).toHaveLength(1);
  });

  it("looks a user not stored here up in LCIC by either key, and stores it", async () => {
    const byOrigin = await lcic.client.registerUser({ sdkAppId, originId: "elsewhere-1", name: "Elsewhere One" });
    const byUserId = await lcic.client.registerUser({ sdkAppId, originId: "elsewhere-2", name: "Elsewhere Two" });
    queries.length = 0;
    const result = await entities([
      { __typename: "ClassroomUser", sdkAppId, originId: "elsewhere-1" },
      { __typename: "ClassroomUser", userId: byUserId.userId },
    ]);
    expect(result.errors).toBeUndefined();
    expect(result.data!._entities).toEqual([
      { userId: byOrigin.userId, sdkAppId, originId: "elsewhere-1", name: "Elsewhere One" },
      { userId: byUserId.userId, sdkAppId, originId: "elsewhere-2", name: "Elsewhere Two" },
    ]);
    // The batch query answered for PostgreSQL; the misses go to LCIC without being read again.
    expect(userReads()).toHaveLength(1);
    expect(await app.users.find({ userId: byOrigin.userId }, { clientKey: "test" })).toMatchObject({ originId: "elsewhere-1", status: "registered" });
  });

  it("resolves users nobody knows, and applications this service does not serve, to null", async () => {
    const result = await entities([
      { __typename: "ClassroomUser", userId: "no-such-user" },
      { __typename: "ClassroomUser", sdkAppId, originId: "no-such-origin" },
      { __typename: "ClassroomUser", sdkAppId: 99_999, originId: "pupil-0" },
      { __typename: "ClassroomUser", userId: users[1]!.userId },
    ]);
    expect(result.errors).toBeUndefined();
    expect(result.data!._entities).toEqual([null, null, null, expect.objectContaining({ originId: "pupil-1" })]);
  });

  it("a reference to a user whose registration is pending here is null, with no LCIC call and no write (even though LCIC has it)", async () => {
    const pending = await app.users.context.repository.findOrInsertPending({ sdkAppId, originId: "in-flight", name: "In flight" });
    await app.users.context.repository.recordAttempt(pending.id, "In flight", null);
    const inLcic = await lcic.client.registerUser({ sdkAppId, originId: "in-flight" }); // its RegisterUser landed; the request has not recorded it yet
    lcic.emulator.resetCounters();
    const result = await entities([
      { __typename: "ClassroomUser", sdkAppId, originId: "in-flight" },
      { __typename: "ClassroomUser", userId: inLcic.userId },
    ]);
    expect(result.errors).toBeUndefined();
    expect(result.data!._entities).toEqual([null, null]);
    expect(lcic.emulator.counters().LoginOriginId.calls + lcic.emulator.counters().LoginUser.calls).toBe(0);
    expect(await app.users.context.repository.findByOriginId(sdkAppId, "in-flight")).toMatchObject({ id: pending.id, status: "pending", userId: null, tokenCiphertext: null });
  });
});
