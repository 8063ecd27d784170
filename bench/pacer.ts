/**
 * Pacer overhead and accuracy, measured against a real PostgreSQL with several connection pools
 * standing in for replicas. Run: `npx tsx bench/pacer.ts` (DATABASE_URL to use an existing, migrated
 * database; otherwise a throw-away embedded PostgreSQL is started and migrated).
 *
 * 1. Overhead: reservations per second and latency of one reservation (one upsert round trip) when
 *    nobody has to wait, spread over many keys so the figure is the database cost, not the pace.
 * 2. Contention: the same, all on one key (every reservation takes the same row lock).
 * 3. Accuracy: callers on every pool send "LoginUser" for real through acquire() (database clock,
 *    real sleeps); the most sends seen in any one-second window, against the paced 18/s. Target: ≤ 20,
 *    LCIC's limit (the run exits 1 otherwise).
 */
import { mkdtemp, rm, chmod } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { connectDatabase, type DatabaseHandle } from "../src/db/client.js";
import { startEmbeddedPostgres } from "../src/db/embedded.js";
import { applyMigrations } from "../src/db/migrate.js";
import { lcicRateLimits } from "../src/db/schema.js";
import { createPostgresPacer, type PostgresPacer } from "../src/lcic/pacer.js";
import { check, finish } from "./support/report.js";

const POOLS = Number(process.env.BENCH_POOLS ?? 3);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 30);
const RESERVATIONS = Number(process.env.BENCH_RESERVATIONS ?? 6000);
const ACCURACY_CALLS = Number(process.env.BENCH_ACCURACY_CALLS ?? 72);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function overhead(pacers: PostgresPacer[], label: string, keyFor: (i: number) => string, callers = CONCURRENCY): Promise<void> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: callers * pacers.length }, async (_, worker) => {
      const pacer = pacers[worker % pacers.length]!;
      while (next < RESERVATIONS) {
        const i = next++;
        const t0 = performance.now();
        // 1 µs interval and a huge bound: nobody waits, so this measures only the reservation itself.
        await pacer.reserve(keyFor(i), 1, 1e9);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  console.log(
    `${label}: ${RESERVATIONS} reservations, ${pacers.length} pools × ${callers} callers: ` +
      `${Math.round(RESERVATIONS / seconds)}/s, latency p50 ${percentile(latencies, 50).toFixed(2)} ms, ` +
      `p99 ${percentile(latencies, 99).toFixed(2)} ms, max ${latencies.at(-1)!.toFixed(2)} ms`,
  );
}

async function accuracy(pacers: PostgresPacer[]): Promise<void> {
  const sentAt: number[] = [];
  const started = performance.now();
  await Promise.all(
    Array.from({ length: ACCURACY_CALLS }, async (_, i) => {
      await pacers[i % pacers.length]!.acquire("LoginUser", undefined, { maxQueueMs: 60_000 });
      sentAt.push(performance.now());
    }),
  );
  sentAt.sort((a, b) => a - b);
  let most = 0;
  for (let i = 0, j = 0; i < sentAt.length; i++) {
    while (sentAt[i]! - sentAt[j]! >= 1000) j++;
    most = Math.max(most, i - j + 1);
  }
  const gaps = sentAt.slice(1).map((t, i) => t - sentAt[i]!).sort((a, b) => a - b);
  console.log(
    `accuracy: ${ACCURACY_CALLS} LoginUser calls from ${pacers.length} pools over ${((performance.now() - started) / 1000).toFixed(2)} s: ` +
      `most in any 1 s window ${most} (paced 18/s, LCIC limit 20/s); gap between sends min ${gaps[0]!.toFixed(1)} ms, ` +
      `p50 ${percentile(gaps, 50).toFixed(1)} ms (interval 55.6 ms)`,
  );
  check("pacer: LoginUser sends from every pool in any 1 s window <= 20 (LCIC's limit)", most, "", most <= 20);
}

async function main(): Promise<void> {
  let url = process.env.DATABASE_URL;
  let cleanup = async () => {};
  if (!url) {
    const dir = await mkdtemp(path.join(tmpdir(), "classroom-users-bench-pg-"));
    await chmod(dir, 0o755);
    const pg = await startEmbeddedPostgres({ dataDir: path.join(dir, "data"), persistent: false, fast: true });
    await pg.createDatabase("bench");
    url = pg.urlFor("bench");
    await applyMigrations(url);
    cleanup = async () => {
      await pg.stop();
      await rm(dir, { recursive: true, force: true });
    };
  }
  const pools: DatabaseHandle[] = Array.from({ length: POOLS }, (_, i) =>
    connectDatabase(url, { poolSize: CONCURRENCY, applicationName: `bench-replica-${i}` }),
  );
  try {
    const pacers = pools.map((p) => createPostgresPacer(p.db, { maxQueueMs: 2_000 }));
    const run = `bench-${Date.now()}`;
    await overhead(pacers, "warm-up", (i) => `${run}-warm-${i % 64}`);
    await overhead(pacers.slice(0, 1), "one caller, 64 keys", (i) => `${run}-solo-${i % 64}`, 1);
    await overhead(pacers, "overhead, 64 keys", (i) => `${run}-many-${i % 64}`);
    await overhead(pacers, "contention, 1 key", () => `${run}-one`);
    await pools[0]!.db.delete(lcicRateLimits);
    await accuracy(pacers);
  } finally {
    await Promise.all(pools.map((p) => p.close()));
    await cleanup();
  }
  finish("pacer bench");
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
