/**
 * Servers under test as child processes, their resident memory, and the load generator process.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "../../src/db/embedded.js";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/**
 * The Node that runs the servers under test (product and baseline alike): BENCH_NODE (a path to a
 * node binary), else the one running the bench. An env entry BENCH_NODE given to `startProduct`
 * overrides it for that product only (A/B runs).
 */
export const NODE = process.env.BENCH_NODE || process.execPath;

export interface ServerProcess {
  name: string;
  url: string;
  child: ChildProcess;
  /** Resident memory of the process and its children (npm, then the service and its PostgreSQL), MB. */
  rssMb(): number;
  /** CPU time (user + system) the process and its children have used so far, ms. */
  cpuMs(): number;
  stop(): Promise<void>;
}

/** How the product is started: the production build, or `npm start` (tsx). */
export type ProductStart = "built" | "tsx";

/** `npm run build` once per bench run (run.ts builds and sets BENCH_BUILT=1), so `node dist/main.js` runs the current sources. */
export function buildProduct(): void {
  if (process.env.BENCH_BUILT === "1") return;
  const result = spawnSync("npm", ["run", "build", "--silent"], { cwd: ROOT, stdio: "inherit" });
  if (result.status !== 0) throw new Error("npm run build failed");
}

/** `nodeArgs` (built start only): e.g. ["--cpu-prof"] to profile the product under a benchmark's load. */
export async function startProduct(name: string, start: ProductStart, env: Record<string, string>, nodeArgs: string[] = []): Promise<ServerProcess> {
  const port = await freePort();
  // Metrics stay on, as in production, each product on its own listener: several run side by side.
  const metricsPort = env.METRICS_PORT ?? String(await freePort());
  const command = start === "built" ? [env.BENCH_NODE || NODE, [...nodeArgs, "dist/main.js"]] : ["npm", ["start", "--silent"]];
  const child = spawn(command[0] as string, command[1] as string[], {
    cwd: ROOT,
    env: { ...process.env, ...env, PORT: String(port), METRICS_PORT: metricsPort },
    stdio: ["ignore", "inherit", "inherit"],
  });
  return await ready(name, child, `http://127.0.0.1:${port}`, "/graphql");
}

export async function startBaseline(env: { databaseUrl: string; poolSize: number; sdkAppId: number }): Promise<ServerProcess> {
  return await startBareServer("bare node:http + postgres.js", "baseline-server.mjs", {
    DATABASE_URL: env.databaseUrl,
    POOL_SIZE: String(env.poolSize),
    SDK_APP_ID: String(env.sdkAppId),
  });
}

/**
 * A registration floor (bench/support/registration-floor-server.mjs): `lcic` answers after the SDK's
 * RegisterUser alone, `exactly-once` records the intent before it and the user after it.
 */
export async function startRegistrationFloor(mode: "lcic" | "exactly-once", env: Record<string, string>): Promise<ServerProcess> {
  return await startBareServer(`registration floor (${mode})`, "registration-floor-server.mjs", { ...env, MODE: mode });
}

/** One of bench/support's bare servers (bare-server.mjs), on a free port, with the servers' Node. */
async function startBareServer(name: string, script: string, env: Record<string, string>): Promise<ServerProcess> {
  const port = await freePort();
  const child = spawn(NODE, [path.join(ROOT, "bench/support", script)], {
    cwd: ROOT,
    env: { ...process.env, ...env, PORT: String(port) },
    stdio: ["ignore", "inherit", "inherit"],
  });
  return await ready(name, child, `http://127.0.0.1:${port}`, "/");
}

async function ready(name: string, child: ChildProcess, origin: string, endpoint: string): Promise<ServerProcess> {
  let exited = false;
  child.once("exit", () => (exited = true));
  for (let i = 0; ; i++) {
    if (exited) throw new Error(`${name} exited before it was ready`);
    const ok = await new Promise<boolean>((resolve) =>
      http
        .get(`${origin}/readyz`, (res) => {
          res.resume();
          resolve(res.statusCode === 200);
        })
        .on("error", () => resolve(false)),
    );
    if (ok) break;
    if (i > 600) throw new Error(`${name} did not become ready within 60 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const pid = child.pid!;
  return {
    name,
    url: origin + endpoint,
    child,
    rssMb: () => treeRssKb(pid) / 1024,
    cpuMs: () => treeCpuMs(pid),
    async stop() {
      if (exited) return;
      const tree = descendants(pid);
      const gone = new Promise((r) => child.once("exit", r));
      // npm forwards the signal to the script (sh execs node, the service itself): one signal, at the top.
      child.kill("SIGTERM");
      await gone;
      for (let i = 0; i < 50 && tree.some(alive); i++) await new Promise((r) => setTimeout(r, 100));
      for (const p of tree.filter(alive)) process.kill(p, "SIGKILL");
    },
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Every process below `pid` (children, their children, …), from /proc. */
export function descendants(pid: number): number[] {
  const out: number[] = [];
  let tasks: string[] = [];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const task of tasks) {
    let children = "";
    try {
      children = readFileSync(`/proc/${pid}/task/${task}/children`, "utf8");
    } catch {
      continue;
    }
    for (const child of children.split(" ").filter(Boolean).map(Number)) out.push(child, ...descendants(child));
  }
  return out;
}

/** Resident memory of `pid` and every process under it, kB (0 once it has exited). */
export function treeRssKb(pid: number): number {
  let total = 0;
  for (const p of [pid, ...descendants(pid)]) {
    try {
      total += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, "utf8"))?.[1] ?? 0);
    } catch {
      /* exited */
    }
  }
  return total;
}

/** utime + stime of /proc/<pid>/stat (fields 14 and 15, in clock ticks of 10 ms on Linux). */
function treeCpuMs(pid: number): number {
  let ticks = 0;
  for (const p of [pid, ...descendants(pid)]) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      /* exited */
    }
  }
  return ticks * 10;
}

export interface LoadSpec {
  kind: "lookup" | "entities" | "baseline";
  users: number;
  sdkAppId: number;
  connections: number;
  warmupS: number;
  durationS: number;
  tokens?: string[];
  representations?: number;
}

export interface LoadResult {
  requests: number;
  seconds: number;
  rps: number;
  p50: number;
  p99: number;
  non2xx: number;
  /** 2xx answers that were not the one asked for (an error-union member, a null, an entity missing). */
  wrong: number;
  errors: number;
  timeouts: number;
  /** Answers by HTTP status. */
  statusCodes: Record<string, number>;
  /**
   * Seconds from the start of the load until every connection had its first answer (the measured
   * window opens only then, and after the warm-up); -1 when some never answered within a minute.
   */
  connectS: number;
  /** Highest resident memory of the server seen during the measured window, MB. */
  peakRssMb: number;
  /** Resident memory right after the load, MB. */
  rssAfterMb: number;
  /**
   * Server CPU time per answered request in the measured window, ms: unlike req/s, barely moved by
   * other processes competing for the cores, so levers compare across rounds on a busy machine.
   */
  cpuMsPerRequest: number;
}

/** Requests of a load that failed: a non-2xx, a wrong answer, a connection error or a timeout. */
export function loadFailures(r: LoadResult): number {
  return r.non2xx + r.wrong + r.errors + r.timeouts;
}

/** Drives `server` from a separate process (bench/support/load-worker.mjs), sampling its memory. */
export async function runLoad(server: ServerProcess, spec: LoadSpec): Promise<LoadResult> {
  const child = spawn(process.execPath, [path.join(ROOT, "bench/support/load-worker.mjs"), JSON.stringify({ ...spec, url: server.url })], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "inherit"],
  });
  let output = "";
  let peakRssMb = 0;
  let sampler: NodeJS.Timeout | undefined;
  let cpuAtStart = 0;
  child.stdout!.on("data", (chunk: Buffer) => {
    output += chunk.toString();
    if (!sampler && output.includes('"measuring"')) {
      cpuAtStart = server.cpuMs();
      sampler = setInterval(() => (peakRssMb = Math.max(peakRssMb, server.rssMb())), 250);
    }
  });
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  const cpuUsed = server.cpuMs() - cpuAtStart;
  clearInterval(sampler);
  const line = output.trim().split("\n").at(-1) ?? "";
  if (code !== 0 || !line.includes('"requests"')) throw new Error(`load generator failed (exit ${code}): ${output}`);
  const rssAfterMb = server.rssMb();
  const measured = JSON.parse(line) as Omit<LoadResult, "peakRssMb" | "rssAfterMb" | "cpuMsPerRequest">;
  const cpuMsPerRequest = measured.requests > 0 ? cpuUsed / measured.requests : 0;
  return { ...measured, peakRssMb: Math.max(peakRssMb, rssAfterMb), rssAfterMb, cpuMsPerRequest };
}

/**
 * A POST of JSON over `node:http` on a keep-alive agent, timed from the request's start to the last
 * byte of the answer: for latencies of a few ms, where the client's own cost must stay small.
 * (`fetch`, below, costs the client ~1-2 ms a request when called only now and then: undici's code
 * paths, a stream per body. That is the bench's time, not the server's.)
 */
export function postJsonKeepAlive(agent: http.Agent, url: string, body: unknown): Promise<{ status: number; json: unknown; ms: number }> {
  const payload = Buffer.from(JSON.stringify(body));
  const target = new URL(url);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request(
      { agent, host: target.hostname, port: target.port, path: target.pathname, method: "POST", headers: { "content-type": "application/json", "content-length": payload.length } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => {
          const ms = performance.now() - started;
          try {
            resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString("utf8")), ms });
          } catch (error) {
            reject(error as Error);
          }
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

/** One GraphQL request, for checking that a server answers what the load will ask. */
export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: unknown; ms: number }> {
  const started = performance.now();
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
  const json: unknown = await res.json();
  return { status: res.status, json, ms: performance.now() - started };
}
