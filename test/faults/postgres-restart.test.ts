// PostgreSQL stopped and started under load (a restart or failover): the process keeps running,
// /readyz says 503 while the database is away, GraphQL requests fail fast with DATABASE_UNAVAILABLE,
// the service serves again soon after the database is back, and every registration that reached LCIC
// is completed: LCIC's users and our rows agree one to one afterwards.
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, expect, it, onTestFinished } from "vitest";
import { freePort, startEmbeddedPostgres, type EmbeddedDatabase } from "../../src/db/embedded.js";
import { applyMigrations } from "../../src/db/migrate.js";
import { APP, FIND, REGISTER, startTestServer, type TestServer } from "../support/server.js";

const UNAVAILABLE_TIMEOUT_MS = 3000;
const dir = await mkdtemp(path.join(tmpdir(), "cu-pg-restart-"));
await chmod(dir, 0o755);
const dataDir = path.join(dir, "data");
const port = await freePort();
let pg: EmbeddedDatabase | undefined = await startEmbeddedPostgres({ dataDir, persistent: true, port, fast: true });
await pg.createDatabase("restart");
const url = pg.urlFor("restart");
await applyMigrations(url);

const server: TestServer = await startTestServer({
  databaseUrl: url,
  configEnv: {
    DATABASE_UNAVAILABLE_TIMEOUT_MS: String(UNAVAILABLE_TIMEOUT_MS),
    RECONCILER_INTERVAL_MS: "300",
    RECONCILER_STALE_AFTER_MS: "1000",
    REGISTRATION_RATE_LIMIT_PER_MINUTE: "0",
  },
  logLevel: "info",
});
afterAll(async () => {
  await server.close();
  await pg?.stop();
  await rm(dir, { recursive: true, force: true });
});

type Outcome = { originId: string; ms: number; startedAt: number; typename?: string; userId?: string; errorCode?: string };

async function registerOnce(originId: string): Promise<Outcome> {
  const started = Date.now();
  const http = await server.post(JSON.stringify({ query: REGISTER, variables: { input: { originId, name: "Restart" } } }), { "x-request-id": originId });
  const res = (await http.json()) as { data?: any; errors?: any[] };
  const ms = Date.now() - started;
  const result = res.data?.registerClassroomUser as Record<string, any> | null | undefined;
  if (result) return { originId, ms, startedAt: started, typename: result.__typename, ...(result.user ? { userId: result.user.userId } : {}) };
  return { originId, ms, startedAt: started, errorCode: String(res.errors?.[0]?.extensions?.code) };
}

it("survives PostgreSQL stopped and started mid-run; nothing lost or duplicated", async () => {
  // Every RegisterUser takes a while, so registrations are in flight when PostgreSQL goes away.
  server.emulator.injectFault({ action: "RegisterUser", mode: "latency", ms: 150, times: Infinity });
  const outcomes: Outcome[] = [];
  let running = true;
  const workers = Array.from({ length: 4 }, async (_, w) => {
    for (let n = 0; running; n++) {
      const outcome = await registerOnce(`restart-${w}-${n}`);
      outcomes.push(outcome);
      if (outcome.errorCode) await new Promise((r) => setTimeout(r, 50));
    }
  });
  for (const worker of workers) worker.catch(() => {}); // awaited below; not unhandled if the test stops first
  onTestFinished(() => {
    running = false; // also when an expectation below fails: no request is left to outlive the server
  });
  // Registrations succeed before the outage (the first can take a while on a busy machine), and then
  // some are in flight when it starts.
  const succeeded = () => outcomes.filter((o) => o.typename === "RegisterClassroomUserSuccess").length;
  for (const firstBy = Date.now() + 15_000; succeeded() === 0; ) {
    expect(Date.now(), "no registration succeeded before the outage").toBeLessThan(firstBy);
    await new Promise((r) => setTimeout(r, 50));
  }
  await new Promise((r) => setTimeout(r, 400));

  await pg!.stop();
  pg = undefined;
  const downAt = Date.now();
  // Readiness follows the database.
  const readyStarted = Date.now();
  const ready = await fetch(`${server.url}/readyz`);
  expect(ready.status).toBe(503);
  expect(Date.now() - readyStarted).toBeLessThan(2000);
  expect(await ready.json()).toMatchObject({ status: "unavailable", database: false });
  // A lookup fails with a clear error, within the bound.
  const lookupStarted = Date.now();
  const lookup = await server.gql(FIND, { originId: "restart-0-0" });
  expect(Date.now() - lookupStarted).toBeLessThan(UNAVAILABLE_TIMEOUT_MS);
  expect(lookup.errors?.[0]).toMatchObject({ message: "The database is unavailable; retry shortly.", extensions: { code: "DATABASE_UNAVAILABLE" } });
  await new Promise((r) => setTimeout(r, 1500));
  const duringOutage = outcomes.filter((o) => o.errorCode === "DATABASE_UNAVAILABLE");
  expect(duringOutage.length).toBeGreaterThan(0);

  pg = await startEmbeddedPostgres({ dataDir, persistent: true, port, fast: true });
  const upAt = Date.now();
  // Serving again without a restart of the service.
  for (;;) {
    const res = await server.gql(FIND, { originId: "restart-0-0" });
    if (res.data?.classroomUser?.__typename === "ClassroomUser") break;
    expect(Date.now() - upAt).toBeLessThan(5000);
    await new Promise((r) => setTimeout(r, 100));
  }
  expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
  await new Promise((r) => setTimeout(r, 500));
  running = false;
  await Promise.all(workers);
  server.emulator.clearFaults();

  // No request hung: every one answered within the bound (plus one LCIC call's latency).
  const slowest = Math.max(...outcomes.map((o) => o.ms));
  expect(slowest, JSON.stringify(outcomes.filter((o) => o.ms > 1000).map((o) => ({ ...o, startedAt: o.startedAt - downAt })))).toBeLessThan(UNAVAILABLE_TIMEOUT_MS + 1000);
  // The log says why, without SQL.
  const unavailableLines = server.logs.filter((l) => l.includes('"database unavailable: request failed"'));
  expect(unavailableLines.length).toBeGreaterThan(0);
  expect(unavailableLines.join("\n")).not.toMatch(/params|insert into/i);
  // Every failure said why.
  expect(outcomes.filter((o) => o.errorCode && o.errorCode !== "DATABASE_UNAVAILABLE")).toEqual([]);

  // The reconciler completes (or clears) whatever the outage left pending.
  const deadline = Date.now() + 20_000;
  for (;;) {
    if ((await pendingRows()) === 0) break;
    expect(Date.now()).toBeLessThan(deadline);
    await new Promise((r) => setTimeout(r, 200));
  }
  const rows = await registeredRows();
  const lcicUsers = server.emulator.users(APP);
  // One LCIC user per stored row and the other way round: nothing lost, nothing duplicated.
  expect(new Set(lcicUsers.map((u) => u.originId)).size).toBe(lcicUsers.length);
  expect(rows.map((r) => `${r.origin_id}=${r.user_id}`).sort()).toEqual(lcicUsers.map((u) => `${u.originId}=${u.userId}`).sort());
  // Every success the callers saw is what is stored.
  const byOrigin = new Map(rows.map((r) => [r.origin_id, r.user_id]));
  for (const o of outcomes.filter((o) => o.typename === "RegisterClassroomUserSuccess")) expect(byOrigin.get(o.originId)).toBe(o.userId);
}, 90_000);

async function pendingRows(): Promise<number> {
  const sql = (await import("postgres")).default(url, { max: 1, onnotice: () => {} });
  try {
    const [row] = await sql<{ n: number }[]>`select count(*)::int as n from classroom_users where status = 'pending'`;
    return row!.n;
  } finally {
    await sql.end({ timeout: 1 });
  }
}

async function registeredRows(): Promise<Array<{ origin_id: string; user_id: string }>> {
  const sql = (await import("postgres")).default(url, { max: 1, onnotice: () => {} });
  try {
    return await sql<Array<{ origin_id: string; user_id: string }>>`select origin_id, user_id from classroom_users where status = 'registered'`;
  } finally {
    await sql.end({ timeout: 1 });
  }
}
