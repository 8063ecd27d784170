// A production start (real credentials) never loads the LCIC emulator's code, so its unauthenticated
// /__emulator/ routes cannot exist there; the zero-credential start does load it. Nor is the
// OpenTelemetry SDK loaded without an OTLP endpoint.
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, expect, it } from "vitest";
import { createTestDatabase } from "../support/database.js";
import { productionEnv, startMainProcess } from "../support/main-process.js";

const db = await createTestDatabase();
afterAll(() => db.close());

/** Starts src/main.ts, waits for "ready", stops it; returns the modules it resolved. */
async function modulesLoadedBy(env: Record<string, string>): Promise<string[]> {
  const file = path.join(await mkdtemp(path.join(tmpdir(), "modules-")), "loaded.txt");
  const main = await startMainProcess(
    { PORT: "0", METRICS_PORT: "0", LOG_LEVEL: "info", DATABASE_URL: db.url, RECORD_MODULES_FILE: file, ...env },
    ["--import", "./test/production/record-modules.mjs"],
  );
  main.child.kill("SIGTERM");
  expect(await main.exited).toBe(0);
  return (await readFile(file, "utf8")).split("\n").filter(Boolean);
}

it("NODE_ENV=production with real credentials: the emulator module is not loaded", async () => {
  const loaded = await modulesLoadedBy(productionEnv());
  expect(loaded.some((url) => url.endsWith("/src/app.ts"))).toBe(true); // the recorder works
  expect(loaded.filter((url) => url.includes("/lcic/emulator/"))).toEqual([]);
  // No OTEL_EXPORTER_OTLP_ENDPOINT: the trace SDK and exporter are not loaded either.
  expect(loaded.filter((url) => /@opentelemetry\/(sdk-trace|exporter)/.test(url))).toEqual([]);
}, 60_000);

it("without credentials (development): the emulator is loaded and used", async () => {
  const loaded = await modulesLoadedBy({ TENCENTCLOUD_SECRET_ID: "", TENCENTCLOUD_SECRET_KEY: "", DATA_DIR: await mkdtemp(path.join(tmpdir(), "cu-data-")) });
  expect(loaded.some((url) => url.includes("/lcic/emulator/index.ts"))).toBe(true);
}, 60_000);
