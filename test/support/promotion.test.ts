// The promotion measure (test/support/promotion.ts) leaves out a one-off interval, not a cost every
// operation pays; and it still sees an object kept by every operation.
import { expect, it } from "vitest";
import { promotedBytesPerOperation, trimmedMeanPerOperation } from "./promotion.js";

it("one interval's burst is left out; what every interval promotes is not", () => {
  const quiet = Array.from({ length: 40 }, () => 2_500);
  expect(trimmedMeanPerOperation(quiet, 50)).toBe(50);
  // The same, with one interval that promoted 2.4 MB at once (a one-off: 1,220 bytes a request in the plain mean).
  expect(trimmedMeanPerOperation([...quiet.slice(1), 2_400_000], 50)).toBe(50);
  // 4 KB kept by every operation.
  expect(trimmedMeanPerOperation(Array.from({ length: 40 }, () => 200_000), 50)).toBe(4_000);
  // Kept by every operation of every other interval: most of it still counts.
  expect(trimmedMeanPerOperation(Array.from({ length: 40 }, (_, i) => (i % 2 ? 200_000 : 0)), 50)).toBeGreaterThan(1_800);
  expect(() => trimmedMeanPerOperation([], 50)).toThrow(/no interval/);
});

it("an operation that keeps what it made is measured as promoting it", async () => {
  const kept: unknown[] = [];
  const keeping = await promotedBytesPerOperation(
    async () => {
      kept.push(Array.from({ length: 32 }, (_, i) => ({ i })));
      await new Promise((resolve) => setImmediate(resolve));
    },
    { total: 2000, warmUp: 200, concurrency: 4 },
  );
  const dropping = await promotedBytesPerOperation(
    async () => {
      if (Array.from({ length: 32 }, (_, i) => ({ i })).length !== 32) throw new Error("unreachable");
      await new Promise((resolve) => setImmediate(resolve));
    },
    { total: 2000, warmUp: 200, concurrency: 4 },
  );
  expect(keeping.perOperation, keeping.describe("kept operation")).toBeGreaterThan(500);
  expect(dropping.perOperation, dropping.describe("operation")).toBeLessThan(100);
  expect(keeping.intervals).toHaveLength(40);
  expect(kept).toHaveLength(2200);
});
