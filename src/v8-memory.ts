/**
 * V8 heap settings the product applies to itself at start (src/main.ts), so `node dist/main.js` and
 * `npm start` get them without flags. A value given on the command line (or in NODE_OPTIONS, where
 * Node allows it) always wins; `=0` there means V8's own choice.
 */
import v8 from "node:v8";
import vm from "node:vm";

/** `process.execve` (Node >= 22.15 / 23.11); this project's @types/node (20) does not declare it. */
type Execve = (file: string, args?: readonly string[], env?: NodeJS.ProcessEnv) => never;
const execve = (process as { execve?: Execve }).execve;

/**
 * V8 lets the old generation grow to up to 4x what survived the last full GC before it collects
 * again. This service's live heap is ~40 MB, but a roster import promotes the data of every
 * 1,000-user request (held across its database and LCIC round trips) to the old generation, so the
 * heap reached ~190 MB and the process ~270 MB at 100,000 students. On Node 20, 2x keeps the roster
 * import's peak under 250 MB and lookups under load near 160 MB (later V8s: the next constant). (1.5x kept both lower still, but its more frequent
 * full GCs cost lookups ~13% CPU and p99: interleaved A/B, `AB_A_ARGS=--heap-growing-percent=... npx tsx
 * bench/ab.ts lookup jwt 4`; 2x gave back the same CPU.) V8 reads this flag at every GC, so setting it
 * at run time works (checked on Node 20, 22 and 24); Node refuses it in NODE_OPTIONS. One given on the
 * command line wins (`node --heap-growing-percent=0 dist/main.js`: V8's own choice again).
 */
export const HEAP_GROWING_PERCENT = 100;

/**
 * The same on V8 12 and later (Node 22 and 24), where it is 1.5x. On V8 13 (Node 24) the heap pages
 * a burst reaches stay resident (V8's page pool, see releaseStartupMemory), so the roster import's peak
 * is the process's from then on. Measured 2026-12-01 (`bench/roster.ts`, 100,000 students):
 * - Node 24: 274-281 MB at 2x, over the 250 MB target; 213 MB at 1.5x, the import as fast (13.5 s).
 *   Lookups paid for the more frequent full GCs: CPU per lookup +4 % on average, higher in 5 of 6
 *   interleaved rounds (0.088 vs 0.092 ms, p99 17 vs 18 ms).
 * - Node 22: 259 and 261 MB at 2x, over the target; 216 MB at 1.5x (13.7 s). Lookups did not pay:
 *   two interleaved A/Bs of 6 rounds, each order once (`bench/ab.ts lookup jwt 6`), 1.5x used less
 *   CPU per lookup and ended the load ~40 MB lower (README, "Memory on Node 22").
 * On Node 20 (V8 11) the same 1.5x measured once better and once much worse than 2x, and its roster
 * peak is under the target at 2x (235 MB), so it stays 2x.
 */
export const HEAP_GROWING_PERCENT_V8_12_UP = 50;

/** First V8 major version given HEAP_GROWING_PERCENT_V8_12_UP (Node 22's). */
const V8_WITH_SLOWER_HEAP_GROWTH = 12;

/** First V8 major version that keeps freed heap pages in a page pool (and whose `gc` takes `flavor`). */
const V8_WITH_PAGE_POOL = 13;

/** The major version of a V8 version string (`process.versions.v8`: "13.6.233.17-node.35" -> 13). */
function v8Major(v8Version: string): number {
  return Number.parseInt(v8Version, 10);
}

/** Whether this V8 (`process.versions.v8`) keeps freed heap pages resident in a page pool. */
export function hasPagePool(v8Version: string): boolean {
  return v8Major(v8Version) >= V8_WITH_PAGE_POOL;
}

/** The --heap-growing-percent the product sets on this V8. */
export function heapGrowingPercentFor(v8Version: string): number {
  return v8Major(v8Version) >= V8_WITH_SLOWER_HEAP_GROWTH ? HEAP_GROWING_PERCENT_V8_12_UP : HEAP_GROWING_PERCENT;
}

/**
 * Largest semi-space of the young generation, MB (the young generation is two of them plus as much
 * again for young large objects). Node 20 and 22 (V8 <= 12) use 16 MB on any machine with more than
 * ~2 GB; Node 24 (V8 13) uses 64 MB, and a busy server fills it: 128 MB of new space resident, the
 * product's RSS after the lookup load 313-330 MB instead of ~150 MB on Node 20, with no gain in CPU
 * per request (measured side by side: README, Performance). V8 sizes the young generation when the
 * heap is created, so this flag works only on the command line: see `memoryRestart`.
 */
export const MAX_SEMI_SPACE_MB = 16;

/** First V8 major version whose default semi-space is larger than MAX_SEMI_SPACE_MB. */
const V8_WITH_LARGE_SEMI_SPACE = 13;

/**
 * Below this heap limit V8 (like Node 20) already picks small semi-spaces (a container with little
 * memory): forcing MAX_SEMI_SPACE_MB there would enlarge the young generation, so it is left alone.
 */
const SMALL_HEAP_LIMIT = 2 * 1024 * 1024 * 1024;

function flagGiven(name: string, args: readonly string[]): boolean {
  const pattern = new RegExp(`^--${name.replace(/-/g, "[-_]")}(=|$)`);
  return args.some((arg) => pattern.test(arg));
}

/** Sets --heap-growing-percent (heapGrowingPercentFor this V8) unless the command line gave one. */
export function limitHeapGrowth(execArgv: readonly string[] = process.execArgv): boolean {
  if (flagGiven("heap-growing-percent", execArgv)) return false;
  v8.setFlagsFromString(`--heap-growing-percent=${heapGrowingPercentFor(process.versions.v8)}`);
  return true;
}

export interface RuntimeFacts {
  execArgv: readonly string[];
  /** NODE_OPTIONS (Node takes --max-semi-space-size there). */
  nodeOptions: string | undefined;
  /** process.versions.v8 */
  v8Version: string;
  /** v8.getHeapStatistics().heap_size_limit, bytes. */
  heapSizeLimit: number;
  /** process.execve exists (Node >= 22.15 / 23.11) and works here (not Windows). */
  canExecve: boolean;
}

/** Under Node's permission model (`--permission`) execve needs `--allow-child-process`. */
function mayStartProcesses(): boolean {
  const permission = (process as { permission?: { has(scope: string): boolean } }).permission;
  return permission === undefined || permission.has("child");
}

export function currentFacts(): RuntimeFacts {
  return {
    execArgv: process.execArgv,
    nodeOptions: process.env.NODE_OPTIONS,
    v8Version: process.versions.v8,
    heapSizeLimit: v8.getHeapStatistics().heap_size_limit,
    canExecve: typeof execve === "function" && process.platform !== "win32" && mayStartProcesses(),
  };
}

export interface MemoryRestart {
  /** Node options to add, before the script. */
  flags: string[];
}

/**
 * What to restart this process with so that its memory stays near Node 20's, or undefined when there
 * is nothing to do: an older V8 (its default semi-space is already MAX_SEMI_SPACE_MB or less), a
 * value given by the operator (command line or NODE_OPTIONS, `0` = V8's default: then nothing of
 * ours is applied), a small heap, or no `process.execve` to restart in place with (then
 * NODE_OPTIONS=--max-semi-space-size=16 does it; README).
 */
export function memoryRestart(facts: RuntimeFacts): MemoryRestart | undefined {
  if (v8Major(facts.v8Version) < V8_WITH_LARGE_SEMI_SPACE) return undefined;
  const fromOptions = (facts.nodeOptions ?? "").split(/\s+/).filter(Boolean);
  if (flagGiven("max-semi-space-size", facts.execArgv) || flagGiven("max-semi-space-size", fromOptions)) return undefined;
  if (facts.heapSizeLimit < SMALL_HEAP_LIMIT) return undefined;
  if (!facts.canExecve) return undefined;
  return { flags: [`--max-semi-space-size=${MAX_SEMI_SPACE_MB}`] };
}

/**
 * Replaces this process (same pid, same stdio and environment, nothing started yet) with node run with the same
 * arguments plus what `memoryRestart` says; returns only when there is nothing to do. Called by
 * src/v8-memory-start.ts, before any other module of the product is loaded.
 */
export function restartForMemory(facts: RuntimeFacts = currentFacts()): void {
  const restart = memoryRestart(facts);
  if (!restart) return;
  try {
    // The flags go last among the node options, before the script and its arguments.
    execve!.call(process, process.execPath, [process.execPath, ...process.execArgv, ...restart.flags, ...process.argv.slice(1)], process.env);
  } catch {
    // Refused (e.g. a permission model we did not foresee): start as we are, with V8's young generation.
  }
}

/** V8's `gc` extension (`--expose-gc`) with its options; Node's types know only `gc()`. */
type GcExtension = (options?: { type?: "major" | "minor"; execution?: "sync" | "async"; flavor?: "regular" | "last-resort" }) => void;

/**
 * Gives the operating system back the memory V8 keeps after start-up, on V8 13 (Node 24). Loading the
 * service allocates ~130 MB of heap that one full GC finds dead; V8 13 keeps the pages it frees
 * resident in its page pool (`--trace-gc-verbose`: "pooled: 30 MB"), which only a memory-reducing GC
 * empties, and V8's own memory reducer never runs one for a process that was busy at start and then
 * idle (it measures the allocation rate only at GCs). That was ~70 MB: RSS after start 178 -> 107 MB,
 * after the lookup bench's load 208-224 -> 164-182 MB, for one pause of ~100 ms before the server listens.
 * Older V8 (Node 20, 22) has no such pool, and its `gc` ignores a full GC asked with options: nothing
 * is done there (`released: false`).
 *
 * The GC is V8's "last resort" flavour (full GCs until nothing more is freed, the page pool released),
 * reached through the `gc` function of a fresh `vm` context made while `--expose-gc` is briefly on: no
 * `gc` is added to the product's own global (an operator's `--expose-gc` is used as given).
 */
export function releaseStartupMemory(v8Version: string = process.versions.v8): { released: boolean; ms: number; rssBefore: number; rssAfter: number } {
  const rssBefore = process.memoryUsage.rss();
  if (!hasPagePool(v8Version)) return { released: false, ms: 0, rssBefore, rssAfter: rssBefore };
  const started = performance.now();
  let gc = (globalThis as { gc?: GcExtension }).gc;
  if (typeof gc !== "function") {
    v8.setFlagsFromString("--expose-gc");
    try {
      gc = vm.runInNewContext("gc") as GcExtension;
    } finally {
      v8.setFlagsFromString("--no-expose-gc");
    }
  }
  gc({ type: "major", execution: "sync", flavor: "last-resort" });
  return { released: true, ms: performance.now() - started, rssBefore, rssAfter: process.memoryUsage.rss() };
}
