// npm run users:sync: 5,000 users registered outside this service, paged from LCIC, stored; profile
// changes taken over; users LCIC lost reported, pruned only with --prune; a re-run changes nothing.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { APP, register, startTestServer } from "../support/server.js";
import { tombstones, update } from "./support.js";

const server = await startTestServer();
afterAll(() => server.close());

function runSync(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli/users-sync.ts", ...args], {
    env: {
      PATH: process.env.PATH,
      DATABASE_URL: server.db.url,
      DATABASE_MIGRATE_ON_START: "false",
      LCIC_ENDPOINT: server.emulator.url,
      TENCENTCLOUD_SECRET_ID: server.emulator.credentials.secretId,
      TENCENTCLOUD_SECRET_KEY: server.emulator.credentials.secretKey,
      LCIC_SDK_APP_ID: String(APP),
      TOKEN_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
    },
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk) => (stdout += chunk));
  child.stderr.on("data", (chunk) => (stderr += chunk));
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr })));
}

const count = async (where = "true") => Number((await server.db.sql.unsafe(`select count(*)::int as n from classroom_users where ${where}`))[0]!.n);

describe("users:sync", () => {
  it("stores 5,000 outside users page by page, updates changed profiles, reports lost ones; --prune removes them; a re-run changes nothing", { timeout: 90_000 }, async () => {
    // Three starts of the CLI under tsx and 5,000 users: 9-16 s alone, 30 s when the machine is oversubscribed.
    // Ours: four users, then one renamed and two deleted in LCIC directly, behind this service's back.
    const ours = await Promise.all(["ours-0", "ours-1", "ours-2", "ours-3"].map((originId) => register(server, { originId, name: originId })));
    await server.lcic.client.modifyUserProfile({ userId: ours[1]!.user.userId, nickname: "Renamed in LCIC", avatar: "https://example.com/r.png" });
    await server.lcic.client.deleteUser(ours[2]!.user.userId);
    await server.lcic.client.deleteUser(ours[3]!.user.userId);
    // Outside: 5,000 users in five BatchRegister calls.
    for (let b = 0; b < 5; b++) {
      await server.lcic.client.batchRegister(
        Array.from({ length: 1000 }, (_, i) => ({ sdkAppId: APP, originId: `ext-${b * 1000 + i}`, name: `External ${b * 1000 + i}` })),
      );
    }
    server.emulator.resetCounters();

    const first = await runSync(["--sdk-app-id", String(APP)]);
    expect(first.stderr).toBe("");
    expect(first.code).toBe(0);
    const lines = first.stdout.trim().split("\n");
    // 5,002 users in LCIC: six pages of at most 1,000, one progress line each.
    expect(lines.filter((l) => l.startsWith("page "))).toHaveLength(6);
    expect(lines[0]).toMatch(/^page 1: 1000 users \(1000\/5002 seen\)/);
    expect(lines[5]).toMatch(/^page 6: 2 users \(5002\/5002 seen\)/);
    expect(lines).toContainEqual(expect.stringMatching(/seen 5002, added 5000, updated 1, unchanged 1, skipped 0/));
    expect(lines).toContainEqual("stored users missing from LCIC: 2 (run with --prune to remove them)");
    expect(lines).toContainEqual(`  missing userId=${ours[2]!.user.userId} originId=ours-2`);
    expect(server.emulator.counters().DescribeSdkAppIdUsers.calls).toBe(6);
    expect(await count("status = 'registered'")).toBe(5004);
    const [ext] = await server.db.sql`select * from classroom_users where origin_id = 'ext-4321'`;
    expect(ext).toMatchObject({ name: "External 4321", avatar: null, token_ciphertext: null, status: "registered" });
    expect(ext!.user_id).toBe(server.emulator.users().find((u) => u.originId === "ext-4321")!.userId);
    const [renamed] = await server.db.sql`select * from classroom_users where origin_id = 'ours-1'`;
    expect(renamed).toMatchObject({ name: "Renamed in LCIC", avatar: "https://example.com/r.png" });

    const pruned = await runSync(["--sdk-app-id", String(APP), "--prune"]);
    expect(pruned.code).toBe(0);
    expect(pruned.stdout).toMatch(/seen 5002, added 0, updated 0, unchanged 5002, skipped 0/);
    expect(pruned.stdout).toContain("stored users missing from LCIC: 2, pruned 2");
    expect(await count()).toBe(5002);
    expect((await tombstones(server)).map((t) => t.origin_id).sort()).toEqual(["ours-2", "ours-3"]);

    // Re-running changes nothing (through the service the command wraps).
    const before = await server.db.sql`select id, updated_at from classroom_users order by id`;
    const again = await server.app.users.sync({ sdkAppId: APP, prune: true });
    expect(again).toMatchObject({ seen: 5002, added: 0, updated: 0, unchanged: 5002, missing: [], pruned: [] });
    expect(await server.db.sql`select id, updated_at from classroom_users order by id`).toEqual(before);
    // A synced user is a user like any other.
    expect(await update(server, { originId: "ext-7", name: "Seven" })).toMatchObject({ __typename: "UpdateClassroomUserSuccess" });
  });

  it("refuses a missing --sdk-app-id with the usage, exit code 2", async () => {
    const r = await runSync([]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("usage: npm run users:sync -- --sdk-app-id N");
  });
});
