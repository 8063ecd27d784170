/**
 * How many bytes V8's young-generation GC (the scavenger) promotes to the old generation per operation:
 * what outlives its operation past two scavenges. Operations run `concurrency` at a time; a scavenge is
 * forced every 50 completions, and the old generation's growth across each forced scavenge is what it
 * promoted. A warm-up (code, caches) and two full GCs come first, so long-lived state is already old, as
 * after hours of serving. Check results inside `operation` with plain code: vitest's `expect` itself
 * keeps the values it was given through scavenges.
 */
import v8 from "node:v8";
import vm from "node:vm";

v8.setFlagsFromString("--expose-gc");
const gc = vm.runInNewContext("gc") as (options?: { type: "minor" | "major" }) => void;

const oldSpaceUsed = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === "old_space")!.space_used_size;

export async function promotedBytesPerOperation(
  operation: () => Promise<void>,
  options: { total: number; warmUp: number; concurrency: number },
): Promise<number> {
  let promoted = 0;
  const run = async (count: number, measure: boolean) => {
    let started = 0;
    let completed = 0;
    const worker = async () => {
      while (started < count) {
        started++;
        await operation();
        if (++completed % 50 === 0) {
          const before = oldSpaceUsed();
          gc({ type: "minor" });
          if (measure) promoted += Math.max(0, oldSpaceUsed() - before);
        }
      }
    };
    await Promise.all(Array.from({ length: options.concurrency }, worker));
  };
  await run(options.warmUp, false);
  gc({ type: "major" });
  gc({ type: "major" });
  await run(options.total, true);
  return promoted / options.total;
}
