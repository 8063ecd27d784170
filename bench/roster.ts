/**
 * Onboarding a school: `npm run roster:import` from a CSV into a `src/main.ts` child process, against
 * a real PostgreSQL and the LCIC emulator with LCIC's documented rates enforced (BatchRegister
 * 10/s, the other user actions 20/s). The issue's Targets:
 *
 * 1. Tokens ready before class: 1,000 students imported, then the time until every one has a valid
 *    stored token (background LoginUser at ≤ 20/s): ≤ 70 s. Then 1,000 concurrent
 *    `issueClassroomUserToken` requests: LCIC calls made (target 0), when this build has that mutation.
 * 2. While that warming runs, single registrations: p99 latency added over the unloaded p99 (≤ 60 ms,
 *    one pacer slot). Then, printed for context, token requests that need LoginUser (the action warming
 *    uses) while a second, smaller roster warms.
 * 3. 10,000 students from a CSV to stored and registered: wall time ≤ 5 s, LCIC calls = 10
 *    BatchRegister and nothing else on the critical path, server RSS ≤ 250 MB (the peak of the
 *    server's process tree during the import, sampled every 100 ms).
 * 4. 100,000 students: the same, wall time ≤ 40 s (BENCH_ROSTER_LARGE=0 skips it).
 *
 * Every figure is printed beside its target; exits 1 when one is missed.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import postgres from "postgres";
import { freePort, startEmbeddedPostgres } from "../src/db/embedded.js";
import { applyMigrations } from "../src/db/migrate.js";
import { startLcicEmulator } from "../src/lcic/emulator/index.js";
import { QUICK } from "./support/environment.js";
import { buildProduct, ROOT, treeRssKb } from "./support/processes.js";

// BENCH_QUICK=1: a smoke run (no 100,000, a small warming phase); targets are then not enforced.
const LARGE = Number(process.env.BENCH_ROSTER_LARGE ?? (QUICK ? 0 : 100_000));
const MEDIUM = 10_000;
const WARM = Number(process.env.BENCH_ROSTER_WARM ?? (QUICK ? 100 : 1_000));
const SINGLES = Number(process.env.BENCH_ROSTER_SINGLES ?? 200);

const agent = new http.Agent({ keepAlive: true, maxSockets: 1000 });

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

const pct = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
};
const p99AndP50 = (values: number[]) => `${pct(values, 99).toFixed(1)} (p50 ${pct(values, 50).toFixed(1)})`;

async function writeRoster(file: string, prefix: string, count: number) {
  const lines = ["originId,name,avatar"];
  for (let i = 0; i < count; i++) lines.push(`${prefix}-${i},Student ${i},https://example.com/avatars/${prefix}/${i}.png`);
  await writeFile(file, lines.join("\n") + "\n");
}

function runImport(file: string, url: string, extra: string[] = process.env.BENCH_ROSTER_IMPORT_ARGS?.split(" ").filter(Boolean) ?? []): Promise<{ code: number | null; ms: number; out: string }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "src/cli/roster-import.ts", file, "--url", url, ...extra], { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, ms: performance.now() - started, out }));
  });
}

async function main() {
  const dir = await mkdtemp(path.join(tmpdir(), "classroom-users-roster-bench-"));
  await chmod(dir, 0o755);
  const pg = await startEmbeddedPostgres({ dataDir: path.join(dir, "pg"), persistent: false });
  await pg.createDatabase("bench");
  const databaseUrl = pg.urlFor("bench");
  await applyMigrations(databaseUrl);
  const sql = postgres(databaseUrl, { max: 2, onnotice: () => {} });
  // The emulator's defaults are LCIC's documented limits: BatchRegister 10/s, the rest 20/s.
  const emulator = await startLcicEmulator({});
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/graphql`;
  // The server as deployed: `npm run build` (once per `npm run bench`), `node dist/main.js`.
  buildProduct();
  const server = spawn(process.execPath, [...(process.env.BENCH_SERVER_NODE_ARGS?.split(" ").filter(Boolean) ?? []), path.join(ROOT, "dist/main.js")], {
    cwd: ROOT,
    env: {
      ...process.env,
      // As deployed (graphql-js without its development-mode checks); no authentication, on loopback only.
      NODE_ENV: "production",
      AUTH_MODE: "none",
      PORT: String(port),
      HOST: "127.0.0.1",
      DATABASE_URL: databaseUrl,
      DATABASE_POOL_SIZE: "20",
      DATABASE_MIGRATE_ON_START: "false",
      LCIC_ENDPOINT: emulator.url,
      TENCENTCLOUD_SECRET_ID: emulator.credentials.secretId,
      TENCENTCLOUD_SECRET_KEY: emulator.credentials.secretKey,
      LCIC_SDK_APP_ID: String(emulator.sdkAppIds[0]),
      TOKEN_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
      REGISTRATION_RATE_LIMIT_PER_MINUTE: "0",
      LOG_LEVEL: "warn",
    },
    stdio: ["ignore", "inherit", "inherit"],
  });
  const results: Array<{ metric: string; value: string; target: string; ok: boolean }> = [];
  const record = (metric: string, value: string, target: string, ok: boolean) => results.push({ metric, value, target, ok });
  try {
    for (let i = 0; ; i++) {
      const ok = await new Promise<boolean>((resolve) =>
        http.get({ host: "127.0.0.1", port, path: "/readyz" }, (res) => { res.resume(); resolve(res.statusCode === 200); }).on("error", () => resolve(false)),
      );
      if (ok) break;
      if (i > 300) throw new Error("server did not become ready");
      await new Promise((r) => setTimeout(r, 100));
    }
    record("server RSS MB when ready", (treeRssKb(server.pid!) / 1024).toFixed(0), "", true);
    /** One request, timed; throws unless the answer contains `served`. */
    const timed = async (query: string, served: string) => {
      const s = performance.now();
      const res = await post(port, JSON.stringify({ query }));
      if (!res.text.includes(served)) throw new Error(`not served (${served}): ${res.text}`);
      return performance.now() - s;
    };
    const single = (originId: string) => timed(`mutation { registerClassroomUser(input: { originId: "${originId}", name: "Single" }) { __typename } }`, "RegisterClassroomUserSuccess");
    /** Users `<prefix>-*` whose stored token is fresh from LoginUser (valid over 6 more days). */
    const freshTokens = async (prefix: string) => {
      const [row] = await sql<{ n: number }[]>`select count(*)::int as n from classroom_users where origin_id like ${`${prefix}-%`} and token_expires_at > now() + interval '6 days'`;
      return row!.n;
    };
    const importRoster = async (prefix: string, count: number) => {
      const file = path.join(dir, `${prefix}.csv`);
      await writeRoster(file, prefix, count);
      const run = await runImport(file, url);
      if (run.code !== 0) throw new Error(`import failed: ${run.out}`);
    };
    // Unloaded single registrations (one at a time: latency, not throughput), after a few that are not
    // counted: a fresh server's first registrations run cold code (until 2026-12-02 the first one, 120-160
    // ms, was the unloaded p99 of 40 and made "added while warming" negative).
    for (let i = 0; i < 10; i++) await single(`unloaded-warm-up-${i}`);
    const unloaded: number[] = [];
    for (let i = 0; i < SINGLES; i++) unloaded.push(await single(`unloaded-${i}`));

    // 1. 1,000 students, then tokens warmed in the background.
    if (WARM > 0) {
    await importRoster("warm", WARM);
    const warmStarted = performance.now();
    // 2. Meanwhile: single registrations.
    const loaded: number[] = [];
    for (let i = 0; i < SINGLES; i++) loaded.push(await single(`loaded-${i}`));
    let warmed = 0;
    while (performance.now() - warmStarted < 120_000) {
      warmed = await freshTokens("warm");
      if (warmed >= WARM) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const warmSeconds = (performance.now() - warmStarted) / 1000;
    record(`${WARM} imported students with a valid stored token, s after the import`, warmed >= WARM ? warmSeconds.toFixed(1) : `only ${warmed} in 120 s`, "<= 70", warmed >= WARM && warmSeconds <= 70);
    record("single registration p99 ms, unloaded", p99AndP50(unloaded), "", true);
    record("single registration p99 ms while warming", p99AndP50(loaded), "", true);
    const added = pct(loaded, 99) - pct(unloaded, 99);
    record("single registration p99 ms added while warming", added.toFixed(1), "<= 60", added <= 60);

    {
      emulator.resetCounters();
      const body = (i: number) => JSON.stringify({ query: `mutation { issueClassroomUserToken(input: { originId: "warm-${i}" }) { __typename } }` });
      const s = performance.now();
      const answers = await Promise.all(Array.from({ length: WARM }, (_, i) => post(port, body(i))));
      const ms = performance.now() - s;
      const ok = answers.filter((a) => a.text.includes("ClassroomUserToken")).length;
      const refused = answers.find((a) => !a.text.includes("ClassroomUserToken"));
      if (refused) console.error(`issueClassroomUserToken: ${WARM - ok} not served, e.g. HTTP ${refused.status}: ${refused.text.slice(0, 300)}`);
      const calls = Object.values(emulator.counters()).reduce((n, c) => n + c.calls, 0);
      record(`${WARM} concurrent issueClassroomUserToken: LCIC calls`, `${calls} (${ok} served, ${ms.toFixed(0)} ms)`, "0", calls === 0 && ok === WARM);
    }

    {
      // Token requests that need LoginUser (its stored token made to expire in 4 days, outside
      // TOKEN_REFRESH_AHEAD_HOURS so warming leaves it alone, and 5 days asked for): unloaded, then while
      // a second, smaller roster warms and competes for that action's budget (so the time to warm the
      // first, above, is not charged for them). Context, not a target: by design (and
      // test/bulk/token-warming.test.ts) such a request waits at most one pacer slot (55.6 ms) more for
      // warming; sequential ones leave warming almost no idle budget meanwhile.
      const tokenRequest = (originId: string) =>
        timed(`mutation { issueClassroomUserToken(input: { originId: "${originId}", minValiditySeconds: 432000 }) { __typename ... on ClassroomUserToken { fromCache } } }`, '"fromCache":false');
      const tokenRequests = async () => {
        await sql`update classroom_users set token_expires_at = now() + interval '4 days' where origin_id like 'unloaded-%'`;
        const ms: number[] = [];
        for (let i = 0; i < SINGLES; i++) ms.push(await tokenRequest(`unloaded-${i}`));
        return ms;
      };
      const tokensUnloaded = await tokenRequests();
      const again = Math.max(100, Math.floor(WARM / 3));
      await importRoster("warm-again", again);
      for (const until = performance.now() + 30_000; (await freshTokens("warm-again")) === 0 && performance.now() < until; ) await new Promise((r) => setTimeout(r, 100));
      const loginUserBefore = emulator.counters().LoginUser.calls;
      const tokensLoaded = await tokenRequests();
      const warming = emulator.counters().LoginUser.calls - loginUserBefore - SINGLES;
      const left = again - (await freshTokens("warm-again"));
      record("token request (LoginUser) p99 ms, unloaded", p99AndP50(tokensUnloaded), "", true);
      record(
        `token request (LoginUser) p99 ms while warming (warming's own LoginUser calls meanwhile ${warming}, ${left} still to warm after)`,
        `${p99AndP50(tokensLoaded)}; p99 added ${(pct(tokensLoaded, 99) - pct(tokensUnloaded, 99)).toFixed(1)}`,
        "",
        true,
      );
    }
    }

    record("server RSS MB after warming", (treeRssKb(server.pid!) / 1024).toFixed(0), "", true);
    // 3 and 4. Rosters from CSV to stored and registered in LCIC.
    for (const count of [MEDIUM, ...(LARGE > 0 ? [LARGE] : [])]) {
      const file = path.join(dir, `roster-${count}.csv`);
      await writeRoster(file, `r${count}`, count);
      emulator.resetCounters();
      let peakRss = 0;
      const sampler = setInterval(() => (peakRss = Math.max(peakRss, treeRssKb(server.pid!) / 1024)), 100);
      const run = await runImport(file, url);
      clearInterval(sampler);
      if (run.code !== 0) throw new Error(`import of ${count} failed: ${run.out.slice(-2000)}`);
      const [row] = await sql<{ n: number }[]>`select count(*)::int as n from classroom_users where origin_id like ${`r${count}-%`} and status = 'registered'`;
      const lcicUsers = emulator.users().filter((u) => u.originId.startsWith(`r${count}-`)).length;
      const counters = emulator.counters();
      const batches = counters.BatchRegister.calls;
      const critical = counters.RegisterUser.calls + counters.LoginOriginId.calls + counters.DescribeUser.calls;
      const limitMs = count === MEDIUM ? 5_000 : 40_000;
      record(`${count} students CSV -> stored + in LCIC, wall s`, (run.ms / 1000).toFixed(1), `<= ${limitMs / 1000}`, run.ms <= limitMs && row!.n === count && lcicUsers === count);
      record(`${count} students: BatchRegister calls (+ RegisterUser/LoginOriginId/DescribeUser)`, `${batches} (+${critical})`, `${Math.ceil(count / 1000)} (+0)`, batches === Math.ceil(count / 1000) && critical === 0);
      record(`${count} students: server peak RSS MB (process tree, sampled every 100 ms)`, peakRss.toFixed(0), "<= 250", peakRss <= 250);
      record(`${count} students: BatchRegister refused by LCIC's rate limit`, String(counters.BatchRegister.rateLimited), "0", counters.BatchRegister.rateLimited === 0);
    }
    console.table(results);
    if (results.some((r) => !r.ok)) {
      console.error(QUICK ? "bench (quick): a target was missed (not enforced)" : "bench: a target was missed");
      if (!QUICK) process.exitCode = 1;
    }
  } finally {
    server.kill("SIGTERM");
    await new Promise((r) => server.once("exit", r));
    agent.destroy();
    await sql.end({ timeout: 1 });
    await emulator.close();
    await pg.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
