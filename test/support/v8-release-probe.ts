// Started by test/v8-memory.test.ts: leaves V8 with freed heap pages, as loading the service does,
// then calls releaseStartupMemory and reports resident memory before and after, and what is exposed.
import v8 from "node:v8";
import vm from "node:vm";
import { releaseStartupMemory } from "../../src/v8-memory.js";

// ~150 MB of small objects reached from the old generation, then dropped: V8's next full GC frees
// their pages (into its page pool, on V8 13).
let garbage: unknown[][] = [];
for (let i = 0; i < 300; i++) garbage.push(Array.from({ length: 20_000 }, (_, j) => ({ i, j })));
garbage = [];
// An ordinary full GC frees those pages (on V8 13 into its pool, still resident): what remains for
// releaseStartupMemory is what such a GC does not give back.
const operatorGc = typeof (globalThis as { gc?: unknown }).gc === "function";
v8.setFlagsFromString("--expose-gc");
(vm.runInNewContext("gc") as () => void)();
if (!operatorGc) v8.setFlagsFromString("--no-expose-gc");

const { released, rssBefore, rssAfter, ms } = releaseStartupMemory();
console.log(
  JSON.stringify({
    v8: process.versions.v8,
    released,
    rssBeforeMb: rssBefore / 1048576,
    rssAfterMb: rssAfter / 1048576,
    ms,
    operatorGc,
    globalGcAfter: typeof (globalThis as { gc?: unknown }).gc,
    newContextGc: vm.runInNewContext("typeof gc"),
    heapUsedMb: v8.getHeapStatistics().used_heap_size / 1048576,
  }),
);
