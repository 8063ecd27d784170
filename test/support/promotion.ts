/**
 * How many bytes V8's young-generation GC (the scavenger) promotes to the old generation per operation:
 * what outlives its operation past two scavenges. Operations run `concurrency` at a time; a scavenge is
 * forced every 50 completions, and the old generation's growth across each forced scavenge is what it
 * promoted. A warm-up (code, caches) and two full GCs come first, so long-lived state is already old, as
 * after hours of serving. Check results inside `operation` with plain code: vitest's `expect` itself
 * keeps the values it was given through scavenges.
 *
 * The figure is the mean over those intervals without the largest 5 % of them (2 of 40): a one-off
 * promotion in a single interval (a connection opened, a background job's objects) is not a
 * per-operation cost. Something every operation keeps shows in every interval, and so still in the
 * figure. `describe()` lists the intervals, for a failure's message: in one CI run (Node 24, the whole
 * suite) a registration read 1,220 bytes where every other run reads 40-60, and the plain mean did not
 * say whether one interval or all of them made it.
 */
import v8 from "node:v8";
import vm from "node:vm";

v8.setFlagsFromString("--expose-gc");
const gc = vm.runInNewContext("gc") as (options?: { type: "minor" | "major" }) => void;

const oldSpaceUsed = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === "old_space")!.space_used_size;

export interface Promotion {
  /** Bytes promoted per operation: the trimmed mean (see above). */
  perOperation: number;
  /** Bytes promoted across each forced scavenge, in order. */
  intervals: number[];
  /** "N bytes a <what>", and the intervals. */
  describe(what: string): string;
}

export async function promotedBytesPerOperation(
  operation: () => Promise<void>,
  options: { total: number; warmUp: number; concurrency: number },
): Promise<Promotion> {
  const OPERATIONS_PER_INTERVAL = 50;
  const intervals: number[] = [];
  const run = async (count: number, measure: boolean) => {
    let started = 0;
    let completed = 0;
    const worker = async () => {
      while (started < count) {
        started++;
        await operation();
        if (++completed % OPERATIONS_PER_INTERVAL === 0) {
          const before = oldSpaceUsed();
          gc({ type: "minor" });
          if (measure) intervals.push(Math.max(0, oldSpaceUsed() - before));
        }
      }
    };
    await Promise.all(Array.from({ length: options.concurrency }, worker));
  };
  await run(options.warmUp, false);
  gc({ type: "major" });
  gc({ type: "major" });
  await run(options.total, true);
  const perOperation = trimmedMeanPerOperation(intervals, OPERATIONS_PER_INTERVAL);
  return {
    perOperation,
    intervals,
    describe: (what) => `promoted ${perOperation.toFixed(0)} bytes a ${what} (bytes across each forced scavenge, ${OPERATIONS_PER_INTERVAL} ${what}s apart: ${intervals.join(" ")})`,
  };
}

/** Bytes per operation over the intervals, the largest 5 % of them left out. */
export function trimmedMeanPerOperation(intervals: readonly number[], operationsPerInterval: number): number {
  if (intervals.length === 0) throw new Error("no interval was measured: give a total of at least one interval");
  const kept = [...intervals].sort((a, b) => a - b).slice(0, intervals.length - Math.floor(intervals.length / 20));
  return kept.reduce((sum, bytes) => sum + bytes, 0) / (kept.length * operationsPerInterval);
}
