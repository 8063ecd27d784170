// An idle product is left idle: nothing of ours (or of a library we configure) wakes its event loop
// many times a second. prom-client's event-loop-delay monitor did, at its default 10 ms resolution: 100
// wake-ups a second for as long as the process lived, ~0.7 % of a core on an idle replica
// (src/observability/metrics.ts, EVENT_LOOP_MONITORING_PRECISION_MS).
// Counted as the main thread's voluntary context switches (each sleep in epoll that ends), from /proc.
import { existsSync, readFileSync } from "node:fs";
import { afterAll, expect, it } from "vitest";
import { freePort } from "../../src/db/embedded.js";
import { createTestDatabase } from "../support/database.js";
import { productionEnv, startMainProcess } from "../support/main-process.js";

const db = await createTestDatabase();
afterAll(() => db.close());

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Times the main thread of `pid` went to sleep and was woken, so far. */
function voluntarySwitches(pid: number): number {
  const status = readFileSync(`/proc/${pid}/task/${pid}/status`, "utf8");
  return Number(/^voluntary_ctxt_switches:\s+(\d+)$/m.exec(status)![1]);
}

it.skipIf(!existsSync("/proc/self/task"))(
  "an idle production start, metrics on, wakes its event loop fewer than 40 times a second",
  async () => {
    const metricsPort = await freePort();
    const main = await startMainProcess({ ...productionEnv(), PORT: "0", METRICS_PORT: String(metricsPort), LOG_LEVEL: "info", DATABASE_URL: db.url });
    const pid = main.child.pid!;
    try {
      // The metrics listener is up, so the default process metrics (and their monitor) are running.
      const scraped = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      expect(scraped).toContain("nodejs_eventloop_lag_p99_seconds");
      await sleep(2_000); // start-up's own work (compilation, the first GCs) settles
      const from = voluntarySwitches(pid);
      const started = performance.now();
      await sleep(3_000);
      const perSecond = (voluntarySwitches(pid) - from) / ((performance.now() - started) / 1000);
      // With prom-client's default 10 ms monitor: ~100 a second; with 100 ms: ~10.
      expect(perSecond, `${perSecond.toFixed(1)} wake-ups a second`).toBeLessThan(40);
    } finally {
      main.child.kill("SIGTERM");
      await main.exited;
    }
  },
  60_000,
);
