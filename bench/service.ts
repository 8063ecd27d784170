/**
 * The service as users run it: a `src/main.ts` child process against a real PostgreSQL and the LCIC
 * emulator, loaded from this process over HTTP keep-alive.
 *
 * 1. Lookups: `classroomUser(userId)` for stored users (the hot path: one prepared query), req/s and
 *    latency percentiles at BENCH_CONCURRENCY connections.
 * 2. Registrations: new originIds as fast as the deployment-wide pacer allows (≈18/s): rate and the
 *    most LCIC RegisterUser calls seen in any second (must stay ≤ 20).
 * 3. Memory: the server's resident set after the load.
 *
 * Targets (override with env): lookups ≥ BENCH_MIN_LOOKUP_RPS (1500), p99 ≤ BENCH_MAX_P99_MS (100),
 * RSS ≤ BENCH_MAX_RSS_MB (350), no RegisterUser second above 20. Exits 1 when a target is missed.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmod, mkdtemp, readFile, rm } from "node:fs/promises";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { freePort, startEmbeddedPostgres } from "../src/db/embedded.js";
import { applyMigrations } from "../src/db/migrate.js";
import { startLcicEmulator } from "../src/lcic/emulator/index.js";

const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 50);
const LOOKUP_SECONDS = Number(process.env.BENCH_LOOKUP_SECONDS ?? 8);
const SEED_USERS = Number(process.env.BENCH_SEED_USERS ?? 60);
const REGISTRATIONS = Number(process.env.BENCH_REGISTRATIONS ?? 60);
const MIN_LOOKUP_RPS = Number(process.env.BENCH_MIN_LOOKUP_RPS ?? 1500);
const MAX_P99_MS = Number(process.env.BENCH_MAX_P99_MS ?? 100);
const MAX_RSS_MB = Number(process.env.BENCH_MAX_RSS_MB ?? 350);

const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });

function post(port: number, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: "127.0.0.1", port, path: "/graphql", method: "POST", agent, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

async function main() {
  const dir = await mkdtemp(path.join(tmpdir(), "classroom-users-bench-"));
  await chmod(dir, 0o755);
  const pg = await startEmbeddedPostgres({ dataDir: path.join(dir, "pg"), persistent: false });
  await pg.createDatabase("bench");
  const databaseUrl = pg.urlFor("bench");
  await applyMigrations(databaseUrl);
  const registerTimes: number[] = [];
  const emulator = await startLcicEmulator({
    log: (line) => {
      if (line.includes("RegisterUser")) registerTimes.push(Date.now());
    },
  });
  const port = await freePort();
  const server = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
    env: {
      ...process.env,
      PORT: String(port),
      HOST: "127.0.0.1",
      DATABASE_URL: databaseUrl,
      DATABASE_POOL_SIZE: "20",
      LCIC_ENDPOINT: emulator.url,
      TENCENTCLOUD_SECRET_ID: emulator.credentials.secretId,
      TENCENTCLOUD_SECRET_KEY: emulator.credentials.secretKey,
      LCIC_SDK_APP_ID: String(emulator.sdkAppIds[0]),
      LCIC_MAX_QUEUE_MS: "10000",
      TOKEN_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
      LOG_LEVEL: "warn",
    },
    stdio: ["ignore", "inherit", "inherit"],
  });
  try {
    for (let i = 0; ; i++) {
      const ok = await new Promise<boolean>((resolve) =>
        http.get({ host: "127.0.0.1", port, path: "/readyz" }, (res) => { res.resume(); resolve(res.statusCode === 200); }).on("error", () => resolve(false)),
      );
      if (ok) break;
      if (i > 300) throw new Error("server did not become ready");
      await new Promise((r) => setTimeout(r, 100));
    }

    // Seed through the API (paced at the deployment's LCIC rate).
    const userIds: string[] = [];
    const mutation = (originId: string) =>
      JSON.stringify({ query: `mutation { registerClassroomUser(input: { originId: "${originId}", name: "Bench" }) { __typename ... on RegisterClassroomUserSuccess { user { userId } } ... on Error { code } } }` });
    const t0 = performance.now();
    registerTimes.length = 0;
    await Promise.all(
      Array.from({ length: REGISTRATIONS }, async (_, i) => {
        const res = await post(port, mutation(`bench-${i}`));
        const id = /"userId":"([^"]+)"/.exec(res.text)?.[1];
        if (!id) throw new Error(`registration failed: ${res.text}`);
        userIds.push(id);
      }),
    );
    const regSeconds = (performance.now() - t0) / 1000;
    const perSecond = new Map<number, number>();
    for (const t of registerTimes) perSecond.set(Math.floor(t / 1000), (perSecond.get(Math.floor(t / 1000)) ?? 0) + 1);
    const maxRegisterPerSecond = Math.max(0, ...perSecond.values());
    const seeded = userIds.slice(0, SEED_USERS);

    // Lookups.
    const latencies: number[] = [];
    let errors = 0;
    const deadline = performance.now() + LOOKUP_SECONDS * 1000;
    const bodies = seeded.map((id) => JSON.stringify({ query: `{ classroomUser(userId: "${id}") { __typename ... on ClassroomUser { userId name originId } } }` }));
    const started = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async (_, w) => {
        let i = w;
        while (performance.now() < deadline) {
          const s = performance.now();
          const res = await post(port, bodies[i++ % bodies.length]!);
          latencies.push(performance.now() - s);
          if (res.status !== 200 || !res.text.includes('"ClassroomUser"')) errors++;
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    latencies.sort((a, b) => a - b);
    const rps = latencies.length / seconds;
    const status = await readFile(`/proc/${server.pid}/status`, "utf8").catch(() => "");
    const rssMb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024;

    const results = [
      { metric: "lookups/s (classroomUser by userId)", value: rps.toFixed(0), target: `>= ${MIN_LOOKUP_RPS}`, ok: rps >= MIN_LOOKUP_RPS && errors === 0 },
      { metric: "lookup p50 ms", value: pct(latencies, 50).toFixed(1), target: "", ok: true },
      { metric: "lookup p99 ms", value: pct(latencies, 99).toFixed(1), target: `<= ${MAX_P99_MS}`, ok: pct(latencies, 99) <= MAX_P99_MS },
      { metric: "lookup errors", value: String(errors), target: "0", ok: errors === 0 },
      { metric: "registrations/s (paced)", value: (REGISTRATIONS / regSeconds).toFixed(1), target: "≈ 18", ok: true },
      { metric: "max RegisterUser calls in any second", value: String(maxRegisterPerSecond), target: "<= 20", ok: maxRegisterPerSecond <= 20 },
      { metric: "server RSS MB after load", value: rssMb.toFixed(0), target: `<= ${MAX_RSS_MB}`, ok: !(rssMb > MAX_RSS_MB) },
    ];
    console.table(results);
    if (results.some((r) => !r.ok)) {
      console.error("bench: a target was missed");
      process.exitCode = 1;
    }
  } finally {
    server.kill("SIGTERM");
    await new Promise((r) => server.once("exit", r));
    agent.destroy();
    await emulator.close();
    await pg.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
