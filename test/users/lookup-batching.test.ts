// LOOKUP_BATCHING: `classroomUser` lookups by originId started in the same event-loop turn are read in
// one statement. Each lookup must still get exactly its own answer (the key is the application AND the
// originId), a pending or missing key its own not-found, and a failed statement every waiting lookup.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp, type App } from "../../src/app.js";
import { loadConfig } from "../../src/config.js";
import { connectDatabase } from "../../src/db/client.js";
import { classroomUsers } from "../../src/db/schema.js";
import { createLogger } from "../../src/logger.js";
import { ClassroomUserNotFoundError } from "../../src/users/errors.js";
import { UsersRepository } from "../../src/users/repository.js";
import { createTestDatabase } from "../support/database.js";
import { laneEnv } from "../support/lane.js";
import { startTestLcic, type TestLcic } from "../support/lcic.js";

const A = 1400000001;
const B = 1400000002;

const awkward = ['a,b', '{c}', 'd"e', "f\\g", "h'i", "j k", "NULL", "ü-名前-🎒", "[1,2]", '{"s":1,"o":"x"}'];

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let lcic: TestLcic;
const apps: App[] = [];
const queries: string[] = [];

const userReads = (since: number) => queries.slice(since).filter((q) => /^\s*select/i.test(q) && q.includes('"classroom_users"'));

function start(env: Record<string, string>): App {
  const app = createApp({
    config: loadConfig({ LCIC_SDK_APP_ID: String(A), LCIC_SDK_APP_IDS: `${A},${B}`, TOKEN_WARMING: "false", ...laneEnv(), ...env }),
    logger: createLogger({ level: "silent" }),
    databaseUrl: db.url,
    lcic: lcic.client,
    tokenKeys: [randomBytes(32)],
    onQuery: (q) => queries.push(q),
  });
  apps.push(app);
  return app;
}

beforeAll(async () => {
  [db, lcic] = await Promise.all([createTestDatabase(), startTestLcic({ sdkAppIds: [A, B] })]);
  // The same originId under both applications, with different users: a batch holds both keys.
  await db.db.insert(classroomUsers).values([
    ...Array.from({ length: 20 }, (_, i) => ({ sdkAppId: A, originId: `pupil-${i}`, userId: `a-user-${i}`, name: `A ${i}`, status: "registered" as const })),
    { sdkAppId: B, originId: "pupil-0", userId: "b-user-0", name: "B 0", status: "registered" },
    { sdkAppId: A, originId: "in-flight", status: "pending" },
    // Keys that an array literal could mangle: the batch sends every key inside a text[] parameter.
    ...awkward.map((originId, i) => ({ sdkAppId: A, originId, userId: `awkward-${i}`, name: `Awkward ${i}`, status: "registered" as const })),
  ]);
});

afterAll(async () => {
  for (const app of apps) await app.close(100);
  await lcic?.close();
  await db?.close();
});

const caller = { clientKey: "sub:test" };
const outcome = (p: Promise<{ userId: string | null; sdkAppId: number; originId: string }>) =>
  p.then(
    (row) => `${row.sdkAppId}/${row.originId} → ${row.userId}`,
    (error: unknown) => (error instanceof ClassroomUserNotFoundError ? "not found" : `error ${String(error)}`),
  );

describe("lookup batching", () => {
  it("reads every lookup of one turn in one statement, each answered with its own row", async () => {
    const app = start({});
    const since = queries.length;
    const asked = [
      ...Array.from({ length: 20 }, (_, i) => ({ originId: `pupil-${i}` })),
      { sdkAppId: B, originId: "pupil-0" },
      { sdkAppId: A, originId: "pupil-0" }, // asked twice in one batch
      { originId: "in-flight" },
    ];
    const answers = await Promise.all(asked.map((lookup) => outcome(app.users.find(lookup, caller))));
    expect(answers).toEqual([
      ...Array.from({ length: 20 }, (_, i) => `${A}/pupil-${i} → a-user-${i}`),
      `${B}/pupil-0 → b-user-0`,
      `${A}/pupil-0 → a-user-0`,
      "not found",
    ]);
    // One statement for all 23 lookups (the pending row is answered from what it read).
    const reads = userReads(since);
    expect(reads).toHaveLength(1);
    expect(reads[0]).toContain("unnest");
  });

  it("keys with commas, quotes, braces, backslashes, spaces or non-ASCII are each read as given", async () => {
    const app = start({});
    const since = queries.length;
    const answers = await Promise.all([
      ...awkward.map((originId) => outcome(app.users.find({ originId }, caller))),
      outcome(app.users.find({ originId: "a" }, caller)), // a prefix of "a,b": not found
      outcome(app.users.find({ originId: "j" }, caller)), // a word of "j k": not found
    ]);
    expect(answers).toEqual([...awkward.map((originId, i) => `${A}/${originId} → awkward-${i}`), "not found", "not found"]);
    expect(userReads(since)).toHaveLength(1);
  });

  it("lookups by userId are batched the same way, the application still checked per lookup", async () => {
    const app = start({});
    const since = queries.length;
    const answers = await Promise.all([
      ...Array.from({ length: 10 }, (_, i) => outcome(app.users.find({ userId: `a-user-${i}` }, caller))),
      outcome(app.users.find({ userId: "b-user-0" }, caller)),
      outcome(app.users.find({ userId: "b-user-0", sdkAppId: A }, caller)), // another application's user
      outcome(app.users.find({ userId: "a-user-4", sdkAppId: A }, caller)),
    ]);
    expect(answers).toEqual([
      ...Array.from({ length: 10 }, (_, i) => `${A}/pupil-${i} → a-user-${i}`),
      `${B}/pupil-0 → b-user-0`,
      "not found",
      `${A}/pupil-4 → a-user-4`,
    ]);
    const reads = userReads(since);
    expect(reads).toHaveLength(1);
    expect(reads[0]).toContain("any(");
    expect(await app.users.storedKeyOf("b-user-0")).toEqual({ sdkAppId: B, originId: "pupil-0" });
  });

  it("a lookup alone is read by the single-key statement; separate turns are separate statements", async () => {
    const app = start({});
    const since = queries.length;
    expect(await outcome(app.users.find({ originId: "pupil-3" }, caller))).toBe(`${A}/pupil-3 → a-user-3`);
    expect(await outcome(app.users.find({ sdkAppId: B, originId: "pupil-0" }, caller))).toBe(`${B}/pupil-0 → b-user-0`);
    const reads = userReads(since);
    expect(reads).toHaveLength(2);
    for (const read of reads) expect(read).not.toContain("unnest");
  });

  it("with LOOKUP_BATCHING=false, one statement per lookup and the same answers", async () => {
    const app = start({ LOOKUP_BATCHING: "false" });
    const since = queries.length;
    const answers = await Promise.all(Array.from({ length: 5 }, (_, i) => outcome(app.users.find({ originId: `pupil-${i}` }, caller))));
    expect(answers).toEqual(Array.from({ length: 5 }, (_, i) => `${A}/pupil-${i} → a-user-${i}`));
    const reads = userReads(since);
    expect(reads).toHaveLength(5);
    for (const read of reads) expect(read).not.toContain("unnest");
  });

  it("a lookup missing from a batch is not found, and LCIC is asked for it alone", async () => {
    const app = start({});
    const answers = await Promise.all([
      outcome(app.users.find({ originId: "pupil-1" }, caller)),
      outcome(app.users.find({ originId: "nobody-here" }, caller)),
      outcome(app.users.find({ originId: "pupil-2" }, caller)),
    ]);
    expect(answers).toEqual([`${A}/pupil-1 → a-user-1`, "not found", `${A}/pupil-2 → a-user-2`]);
  });

  it("a batch whose statement fails fails every lookup waiting on it", async () => {
    const handle = connectDatabase(db.url, { poolSize: 1 });
    const repository = new UsersRepository(handle.db);
    expect(await repository.findByOriginIdBatched(A, "pupil-5")).toMatchObject({ userId: "a-user-5" });
    await handle.sql.end();
    const settled = await Promise.allSettled([
      repository.findByOriginIdBatched(A, "pupil-1"),
      repository.findByOriginIdBatched(B, "pupil-0"),
      repository.findByUserIdBatched("a-user-1"),
      repository.findByUserIdBatched("a-user-2"),
    ]);
    expect(settled.map((s) => s.status)).toEqual(["rejected", "rejected", "rejected", "rejected"]);
  });
});
