// postgres.js 3.4.9's Queue.remove searched from index 0 through every slot shift() had emptied, and
// a queue that never empties (the busy connections under steady load) never dropped those slots: the
// array and each scan grew by one per query. patches/postgres+3.4.9.patch (applied by `npm ci`
// through the postinstall script) fixes every copy the package ships; this checks the installed files.
import { describe, expect, it } from "vitest";
import { loadPostgresCopies } from "../support/postgres-copies.js";

interface Queue<T> {
  readonly length: number;
  remove(x: T): T | null;
  push(x: T): T;
  shift(): T | undefined;
}
type QueueFactory = <T>(initial?: T[]) => Queue<T>;

/** Runs `work` while recording, for every Array#indexOf call, the array's length and how many slots it searched. */
function observeIndexOf(work: () => void): { longestArray: number; longestScan: number } {
  const original = Array.prototype.indexOf;
  let longestArray = 0;
  let longestScan = 0;
  Array.prototype.indexOf = function (this: unknown[], search: unknown, fromIndex?: number) {
    longestArray = Math.max(longestArray, this.length);
    longestScan = Math.max(longestScan, this.length - (fromIndex ?? 0));
    return original.call(this, search, fromIndex);
  };
  try {
    work();
  } finally {
    Array.prototype.indexOf = original;
  }
  return { longestArray, longestScan };
}

describe("postgres.js Queue (patched)", async () => {
  const copies = await loadPostgresCopies<QueueFactory>("queue.js", (module) => (typeof module === "function" ? module : (module as { default: unknown }).default));

  it.each(copies)("%s: the busy queue's array and every remove() scan stay bounded under steady load", (_, Queue) => {
    // What src/index.js does with busy connections: go(busy.shift(), query) then move(c, busy), which
    // calls busy.remove(c) (already shifted, so not found) and busy.push(c). The queue never empties.
    const connections = [{ id: 1 }, { id: 2 }, { id: 3 }, { id: 4 }];
    const busy = Queue<{ id: number }>();
    for (const c of connections) busy.push(c);
    let found = 0;
    const seen = observeIndexOf(() => {
      for (let query = 0; query < 50_000; query++) {
        const c = busy.shift()!;
        if (busy.remove(c) !== null) found++;
        busy.push(c);
      }
    });
    expect(found).toBe(0);
    expect(busy.length).toBe(4);
    // Unpatched: both reach ~50,000 (one slot left behind per query).
    expect(seen.longestArray).toBeLessThan(200);
    expect(seen.longestScan).toBeLessThan(200);
  });

  it.each(copies)("%s: still first in, first out, and remove() takes out exactly the element asked for", (_, Queue) => {
    const q = Queue<number>([0, 1, 2]);
    const out: number[] = [];
    let next = 3;
    for (let i = 0; i < 1_000; i++) {
      q.push(next++);
      q.push(next++);
      out.push(q.shift()!);
      if (i % 10 === 0) {
        // Remove the newest element: it must never be handed out.
        const newest = next - 1;
        expect(q.remove(newest)).toBe(newest);
        expect(q.remove(newest)).toBeNull();
      }
    }
    while (q.length > 0) out.push(q.shift()!);
    const removed = new Set(Array.from({ length: 100 }, (_, k) => 3 + 2 * (k * 10) + 1));
    const expected = Array.from({ length: next }, (_, n) => n).filter((n) => !removed.has(n));
    expect(out).toEqual(expected);
    // Consumed elements are not found again.
    expect(q.remove(0)).toBeNull();
  });
});
