// Started by test/v8-memory.test.ts: imports the start-up settings first, as src/main.ts does, then reports.
import "../../src/v8-memory-start.js";
import v8 from "node:v8";

console.log(
  JSON.stringify({
    pid: process.pid,
    execArgv: process.execArgv,
    argv: process.argv.slice(2),
    mallocArenaMax: process.env.MALLOC_ARENA_MAX ?? null,
    limitMb: v8.getHeapStatistics().heap_size_limit / 1048576,
  }),
);
