// `npm run roster:import` against a running service: checking first, progress, --out, --dry-run,
// and a re-run after the command was killed half-way.
import { spawn } from "node:child_process";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { parse } from "csv-parse/sync";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { startTestServer } from "../support/server.js";

const server = await startTestServer();
const dir = await mkdtemp(path.join(tmpdir(), "roster-"));
afterAll(() => server.close());
beforeEach(async () => {
  server.emulator.reset();
  await server.db.sql`truncate classroom_users`;
});

function csv(count: number, extra = ""): string {
  const lines = ["originId,name,avatar,grade"];
  for (let i = 0; i < count; i++) lines.push(`s-${i},"Student, ${i}",https://example.com/a/${i}.png,7`);
  return lines.join("\n") + "\n" + extra;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the command as a user would (a separate Node process through tsx); `onStdout` may kill it. */
function runImport(args: string[], onStdout?: (text: string, kill: () => void) => void): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "src/cli/roster-import.ts", "--url", server.graphqlUrl, ...args], {
      env: { ...process.env, CLASSROOM_USERS_TOKEN: "" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
      onStdout?.(stdout, () => child.kill("SIGKILL"));
    });
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("roster:import", () => {
  it("reports bad rows by line and sends nothing; --dry-run checks only; --skip-invalid imports the rest", { timeout: 30_000 }, async () => {
    const file = path.join(dir, "bad.csv");
    await writeFile(file, csv(5, `s-5,,ftp://bad\n,No id,\ns-1,Again,\n`));
    const refused = await runImport([file]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("line 7: avatar: must be an http(s) URL");
    expect(refused.stderr).toContain("line 8: originId: is required");
    expect(refused.stderr).toContain("line 9: originId: repeats line 3");
    expect(refused.stderr).toContain("nothing was sent");
    expect(server.emulator.counters().BatchRegister.calls).toBe(0);

    const dry = await runImport([file, "--dry-run"]);
    expect(dry.code).toBe(1);
    expect(dry.stdout).toContain("dry run: 5 valid, 3 invalid of 8 rows");
    const good = path.join(dir, "good.json");
    await writeFile(good, JSON.stringify([{ originId: "j-1", name: "Json One" }, { originId: "j-2" }]));
    expect((await runImport([good, "--dry-run"])).code).toBe(0);
    expect(await server.rows()).toHaveLength(0);

    const skipped = await runImport([file, "--skip-invalid"]);
    expect(skipped.code).toBe(1); // three rows failed
    expect(skipped.stdout).toContain("done: 5 created, 0 existing, 3 failed of 8 rows");
    expect(await server.rows()).toHaveLength(5);
    expect((await runImport([good])).code).toBe(0);
  });

  it("imports 1,500 rows in two requests with progress lines, writes --out, and a re-run creates nobody", { timeout: 30_000 }, async () => {
    const file = path.join(dir, "school.csv");
    const out = path.join(dir, "results.csv");
    await writeFile(file, csv(1500));
    const run = await runImport([file, "--out", out]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/progress: 1500\/1500 \(100%\), \d+ users\/s, ETA 0 s/);
    expect(run.stdout).toContain("done: 1500 created, 0 existing, 0 failed of 1500 rows");
    expect(server.emulator.counters().BatchRegister.calls).toBe(2);
    const results = parse(await readFile(out, "utf8"), { columns: true }) as Array<Record<string, string>>;
    expect(results).toHaveLength(1500);
    const rows = await server.rows();
    const byOrigin = new Map(rows.map((r) => [r.origin_id, r]));
    expect(results[42]).toEqual({ originId: "s-42", userId: byOrigin.get("s-42")!.user_id, created: "true", error: "" });
    expect(byOrigin.get("s-42")!.name).toBe("Student, 42");

    const again = await runImport([file]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("done: 0 created, 1500 existing, 0 failed");
    expect(await server.rows()).toHaveLength(1500);
  });

  it("killed half-way, the same command again finishes with exactly one user per originId", { timeout: 40_000 }, async () => {
    const file = path.join(dir, "big.csv");
    await writeFile(file, csv(3000));
    // Slow LCIC, so the kill lands while requests are in flight.
    server.emulator.injectFault({ action: "BatchRegister", mode: "latency", ms: 400, times: 8 });
    const killed = await runImport([file, "--concurrency", "2"], (text, kill) => {
      if (text.includes("progress:")) kill();
    });
    expect(killed.code).toBe(null); // SIGKILL
    const partial = (await server.rows()).filter((r) => r.status === "registered").length;
    expect(partial).toBeGreaterThan(0);
    expect(partial).toBeLessThan(3000);

    const rerun = await runImport([file]);
    expect(rerun.code).toBe(0);
    expect(rerun.stdout).toMatch(/done: \d+ created, \d+ existing, 0 failed of 3000 rows/);
    const rows = await server.rows();
    expect(rows).toHaveLength(3000);
    expect(rows.every((r) => r.status === "registered")).toBe(true);
    const lcicUsers = server.emulator.users();
    expect(lcicUsers).toHaveLength(3000);
    expect(new Set(lcicUsers.map((u) => u.originId)).size).toBe(3000);
  });
});
