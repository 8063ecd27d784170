// postgres.js 3.4.9 kept, on every Query, two closures made in its constructor (`this.resolve = x =>
// (this.active = false, resolve(x))`, and `reject` alike). V8 then left every settled query, and the
// rows it resolved with, alive through young-generation GCs until the next full GC: ~1.2 KB promoted per
// query of 100 rows, a few hundred bytes for a small one, in the product ~2.9 KB per `_entities` request.
// patches/postgres+3.4.9.patch keeps the settling functions themselves and moves resolve/reject to the
// prototype (same calls, same behaviour). This measures it on every copy the package ships, with the
// Query class alone: a handler that answers 100 rows a turn later stands in for the connection.
import { describe, expect, it } from "vitest";
import { loadPostgresCopies } from "../support/postgres-copies.js";
import { promotedBytesPerOperation, type Promotion } from "../support/promotion.js";

type QueryClass = new (strings: string[], args: unknown[], handler: (query: { resolve(rows: unknown): void }) => void, canceller: null) => Promise<unknown[]>;

const rows = () => Array.from({ length: 100 }, (_, x) => ({ x }));

/** Bytes promoted per settled query: queries one at a time, after 500 to warm up (test/support/promotion.ts). */
function promotedPerQuery(Query: QueryClass, total: number): Promise<Promotion> {
  const handler = (query: { resolve(value: unknown): void }) => void setImmediate(() => query.resolve(rows()));
  const query = async () => {
    const result = await new Query(["select"], [], handler, null);
    if (result.length !== 100) throw new Error(`expected 100 rows, got ${result.length}`);
  };
  return promotedBytesPerOperation(query, { total, warmUp: 500, concurrency: 1 });
}

describe("postgres.js Query (patched)", async () => {
  const copies = await loadPostgresCopies<QueryClass>("query.js", (module) => module.Query);

  it.each(copies)("%s: a settled query and its rows die young (less than 300 bytes promoted a query)", async (_, Query) => {
    const perQuery = await promotedPerQuery(Query, 2000);
    // Unpatched: ~1,100-1,250 bytes a query here.
    expect(perQuery.perOperation, perQuery.describe("query")).toBeLessThan(300);
  });

  it.each(copies)("%s: resolve and reject still settle the query and clear `active`", async (_, Query) => {
    const ok = new Query(["select"], [], (query) => void setImmediate(() => query.resolve([1])), null) as Promise<unknown[]> & { active: boolean };
    ok.active = true;
    expect(await ok).toEqual([1]);
    expect(ok.active).toBe(false);
    const failing = new Query(["select"], [], (query) => void setImmediate(() => (query as unknown as { reject(e: Error): void }).reject(new Error("refused"))), null) as Promise<unknown[]> & { active: boolean };
    failing.active = true;
    await expect(failing).rejects.toThrow("refused");
    expect(failing.active).toBe(false);
  });
});
