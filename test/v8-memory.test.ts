// Memory settings the product gives itself at start (src/v8-memory.ts): when it restarts in place
// (V8 >= 13, i.e. Node 24) and with what, and that the restart really happens in a real process:
// same pid, the flag in effect, the script's own arguments and environment kept, before the service
// is loaded; and the start-up memory V8 13 keeps in its page pool given back.
import { spawn } from "node:child_process";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { HEAP_GROWING_PERCENT, HEAP_GROWING_PERCENT_V8_12_UP, hasPagePool, heapGrowingPercentFor, MAX_SEMI_SPACE_MB, memoryRestart, releaseStartupMemory, type RuntimeFacts } from "../src/v8-memory.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const GB = 1024 * 1024 * 1024;
const node24: RuntimeFacts = { execArgv: [], nodeOptions: undefined, v8Version: "13.6.233.17-node.35", heapSizeLimit: 4.2 * GB, canExecve: true };
const FLAG = `--max-semi-space-size=${MAX_SEMI_SPACE_MB}`;

describe("heapGrowingPercentFor", () => {
  it("2x on V8 11 (Node 20), 1.5x on V8 12 and 13 (Node 22 and 24: their roster import peaked over 250 MB at 2x)", () => {
    expect(HEAP_GROWING_PERCENT).toBe(100);
    expect(HEAP_GROWING_PERCENT_V8_12_UP).toBe(50);
    expect(heapGrowingPercentFor("11.3.244.8-node.38")).toBe(100);
    expect(heapGrowingPercentFor("12.4.254.21-node.33")).toBe(50);
    expect(heapGrowingPercentFor("13.6.233.17-node.63")).toBe(50);
    expect(heapGrowingPercentFor("14.1.146.11-node.1")).toBe(50);
  });
});

describe("memoryRestart", () => {
  it("on V8 13 (Node 24) with a normal heap: the semi-space capped", () => {
    expect(memoryRestart(node24)).toEqual({ flags: [FLAG] });
  });

  it("leaves V8 11/12 (Node 20/22) alone: their default is already 16 MB", () => {
    expect(memoryRestart({ ...node24, v8Version: "11.3.244.8-node.33" })).toBeUndefined();
    expect(memoryRestart({ ...node24, v8Version: "12.4.254.21-node.33" })).toBeUndefined();
  });

  it("an operator's semi-space wins, on the command line or in NODE_OPTIONS, also 0 (V8's default)", () => {
    expect(memoryRestart({ ...node24, execArgv: ["--max-semi-space-size=64"] })).toBeUndefined();
    expect(memoryRestart({ ...node24, execArgv: ["--max_semi_space_size=0"] })).toBeUndefined();
    expect(memoryRestart({ ...node24, nodeOptions: "--enable-source-maps --max-semi-space-size=32" })).toBeUndefined();
    // Other flags do not count.
    expect(memoryRestart({ ...node24, execArgv: ["--max-old-space-size=512"], nodeOptions: "--enable-source-maps" })?.flags).toEqual([FLAG]);
  });

  it("a small heap (V8 already picks small semi-spaces) or no process.execve: nothing", () => {
    expect(memoryRestart({ ...node24, heapSizeLimit: 1 * GB })).toBeUndefined();
    expect(memoryRestart({ ...node24, canExecve: false })).toBeUndefined();
  });
});

interface Report {
  pid: number;
  execArgv: string[];
  argv: string[];
  mallocArenaMax: string | null;
}

/** Runs a probe script of test/support (through tsx) in a process of its own; its last stdout line is its JSON report. */
async function runProbe<T>(script: string, execArgv: string[] = [], env: Record<string, string> = {}, args: string[] = []): Promise<{ pid: number; report: T }> {
  const child = spawn(process.execPath, [...execArgv, "--import", "tsx", `test/support/${script}`, ...args], {
    cwd: root,
    env: { ...process.env, NODE_OPTIONS: "", ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  expect(code).toBe(0);
  return { pid: child.pid!, report: JSON.parse(out.trim().split("\n").at(-1)!) as T };
}

/** test/support/v8-memory-probe.ts, which imports src/v8-memory-start.ts first as src/main.ts does. */
const startedProcess = (execArgv: string[] = [], env: Record<string, string> = {}) => runProbe<Report>("v8-memory-probe.ts", execArgv, env, ["kept-argument"]);

describe("at start, in a real process", () => {
  const canExecve = typeof (process as { execve?: unknown }).execve === "function";
  const expectsRestart = memoryRestart({ ...node24, v8Version: process.versions.v8, canExecve }) !== undefined;

  it(`${expectsRestart ? "restarts in place with" : "does not restart (this Node's default is small): no"} ${FLAG}`, async () => {
    const { pid, report } = await startedProcess([], { MALLOC_ARENA_MAX: "3" });
    expect(report.pid).toBe(pid); // in place: the pid a supervisor knows stays the process
    expect(report.argv).toEqual(["kept-argument"]);
    expect(report.execArgv.includes(FLAG)).toBe(expectsRestart);
    expect(report.execArgv.filter((arg) => arg === FLAG).length).toBeLessThanOrEqual(1); // once, no loop
    expect(report.mallocArenaMax).toBe("3"); // the environment is passed on as it was
  }, 30_000);

  // Node's permission model (--permission: Node >= 22) refuses execve without --allow-child-process.
  it.runIf(Number(process.versions.node.split(".")[0]) >= 22)("under --permission without child processes: starts, not restarted", async () => {
    const { report } = await startedProcess(["--permission", "--allow-fs-read=*", "--allow-worker"]);
    expect(report.execArgv).not.toContain(FLAG);
  }, 30_000);

  it("a semi-space given on the command line is kept as given, and nothing else is changed", async () => {
    const { report } = await startedProcess(["--max-semi-space-size=32"]);
    expect(report.execArgv).toContain("--max-semi-space-size=32");
    expect(report.execArgv).not.toContain(FLAG);
  }, 30_000);
});

describe("src/main.ts", () => {
  // Node reads every module of a static import graph before it evaluates one: the entry imports only
  // the memory settings, so a restart in place does not load the service twice (it did: ~1.5 s).
  it("loads the service once per start, after any restart in place", async () => {
    const file = path.join(await mkdtemp(path.join(tmpdir(), "modules-")), "loaded.txt");
    const child = spawn(process.execPath, ["--import", "tsx", "--import", "./test/production/record-modules.mjs", "src/main.ts"], {
      cwd: root,
      // An invalid setting: the service is loaded, then refuses to start, before any database is needed.
      env: { ...process.env, NODE_OPTIONS: "", RECORD_MODULES_FILE: file, AUTH_MODE: "bogus" },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let err = "";
    child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()));
    expect(await new Promise((resolve) => child.once("exit", resolve))).toBe(1);
    expect(err).toContain("AUTH_MODE: must be 'jwt' or 'none'");
    const loaded = (await readFile(file, "utf8")).split("\n");
    // The memory settings run in every image of the process (twice when it restarts), the service once.
    expect(loaded.filter((url) => url.endsWith("/src/v8-memory-start.ts")).length).toBeGreaterThanOrEqual(1);
    expect(loaded.filter((url) => url.endsWith("/src/service.ts"))).toHaveLength(1);
    expect(loaded.filter((url) => url.endsWith("/src/app.ts"))).toHaveLength(1);
  }, 60_000);
});

interface ReleaseReport {
  v8: string;
  released: boolean;
  rssBeforeMb: number;
  rssAfterMb: number;
  operatorGc: boolean;
  globalGcAfter: string;
  newContextGc: string;
}

/** test/support/v8-release-probe.ts: ~150 MB of heap freed by a full GC, then releaseStartupMemory. */
const releaseProbe = async (execArgv: string[] = []) => (await runProbe<ReleaseReport>("v8-release-probe.ts", execArgv)).report;

describe("releaseStartupMemory", () => {
  const pool = hasPagePool(process.versions.v8);

  it("does nothing on V8 before 13 (Node 20, 22): no page pool there, and its gc ignores the options", () => {
    expect(releaseStartupMemory("12.4.254.21-node.33")).toMatchObject({ released: false, ms: 0 });
    expect(releaseStartupMemory("11.3.244.8-node.38").released).toBe(false);
  });

  it(`${pool ? "gives the OS back the heap pages a full GC left in V8's pool" : "leaves this V8 (no page pool) as it is"}, and exposes no gc`, async () => {
    const report = await releaseProbe();
    expect(report.released).toBe(pool);
    // Measured on Node 24: 338 -> 91 MB; a full GC alone gave back none of it.
    if (pool) expect(report.rssAfterMb).toBeLessThan(report.rssBeforeMb - 100);
    expect(report.globalGcAfter).toBe("undefined");
    expect(report.newContextGc).toBe("undefined"); // --expose-gc is off again for later contexts
  }, 60_000);

  it("with an operator's --expose-gc: uses it and leaves it exposed", async () => {
    const report = await releaseProbe(["--expose-gc"]);
    expect(report.operatorGc).toBe(true);
    expect(report.released).toBe(pool);
    expect(report.globalGcAfter).toBe("function");
    expect(report.newContextGc).toBe("function");
  }, 60_000);
});
