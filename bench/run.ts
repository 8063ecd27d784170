/** `npm run bench`: every benchmark in turn; exits non-zero when one misses its target. */
import { spawnSync } from "node:child_process";

let failed = false;
for (const file of ["bench/service.ts", "bench/pacer.ts", "bench/roster.ts"]) {
  console.log(`\n=== ${file} ===`);
  const result = spawnSync(process.execPath, ["--import", "tsx", file], { stdio: "inherit" });
  if (result.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
