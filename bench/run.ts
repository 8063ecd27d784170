/**
 * `npm run bench`: every benchmark in turn, each in its own process; exits non-zero when one misses a
 * target. BENCH_QUICK=1 runs a short smoke version (targets printed, not enforced). To add a benchmark,
 * add its file here; it prints its figures against a baseline of the same run and sets process.exitCode.
 */
import { spawnSync } from "node:child_process";
import os from "node:os";
import { NODE } from "./support/processes.js";

const BENCHMARKS = ["bench/lookup.ts", "bench/registration.ts", "bench/pacer.ts", "bench/roster.ts"];

// The product is benchmarked as production runs it: built once here for every benchmark.
if (spawnSync("npm", ["run", "build", "--silent"], { stdio: "inherit" }).status !== 0) process.exit(1);
const env = { ...process.env, BENCH_BUILT: "1" };

// Figures depend on the Node that runs the servers under test (BENCH_NODE, else this one): say which.
const serversVersion = spawnSync(NODE, ["--version"], { encoding: "utf8" }).stdout?.trim() || "unknown";
console.log(`servers under test on Node ${serversVersion} (${NODE}); ${os.cpus().length} CPUs, load average ${os.loadavg().map((x) => x.toFixed(2)).join(" ")}`);

const only = process.env.BENCH_ONLY?.split(",").map((name) => name.trim());
let failed = false;
for (const file of BENCHMARKS) {
  if (only && !only.some((name) => file.includes(name))) continue;
  console.log(`\n=== ${file} ===`);
  const started = Date.now();
  const result = spawnSync(process.execPath, ["--import", "tsx", file], { stdio: "inherit", env });
  console.log(`=== ${file}: ${result.status === 0 ? "ok" : "FAILED"} in ${Math.round((Date.now() - started) / 1000)} s`);
  if (result.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
