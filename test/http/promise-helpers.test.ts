// @whatwg-node/promise-helpers 1.3.2 (envelop's and yoga's) built a fresh object literal with three
// closures for every fake promise, and handleMaybePromise chained two or three of them even when
// everything was synchronous: envelop runs every plugin hook through it, and this was ~20% of the bytes
// a lookup allocated. patches/@whatwg-node+promise-helpers+1.3.2.patch (applied by `npm ci` through the
// postinstall script) backports 2.0.2's synchronous path and class-based fake promises (2.x itself
// requires Node 22.15 and drops mapMaybePromise); this checks both installed copies and that the
// answers are those of the original chain.
import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";

type Helpers = typeof import("@whatwg-node/promise-helpers");

const require = createRequire(import.meta.url);
// The copy envelop and graphql-yoga resolve (the root one, 1.3.2).
const envelopRequire = createRequire(require.resolve("@envelop/core"));
const cjsEntry = envelopRequire.resolve("@whatwg-node/promise-helpers");
const packageRoot = path.resolve(path.dirname(cjsEntry), "..");

async function copies(): Promise<Array<[string, Helpers]>> {
  return [
    ["esm", (await import(pathToFileURL(path.join(packageRoot, "esm/index.js")).href)) as Helpers],
    ["cjs", envelopRequire("@whatwg-node/promise-helpers") as Helpers],
  ];
}

describe("@whatwg-node/promise-helpers patch", () => {
  it("is the 1.3.2 copy envelop uses", () => {
    expect((require(path.join(packageRoot, "package.json")) as { version: string }).version).toBe("1.3.2");
  });

  it("fake promises share their methods through a class (no closures per value)", async () => {
    for (const [name, h] of await copies()) {
      const fake = h.fakePromise(1);
      expect(Object.getOwnPropertyNames(fake), name).not.toContain("then");
      expect(Object.getPrototypeOf(fake), name).toBe(Object.getPrototypeOf(h.fakePromise(2)));
      expect(Object.getOwnPropertyNames(h.fakeRejectPromise(new Error("x"))), name).not.toContain("then");
    }
  });

  it("handleMaybePromise answers as the original chain did", async () => {
    for (const [name, h] of await copies()) {
      // Synchronous: the value itself, at once.
      expect(h.handleMaybePromise(() => 1, (v: number) => v + 1), name).toBe(2);
      // The input factory is called with one (undefined) argument, as `.then(inputFactory)` did.
      let args = -1;
      h.handleMaybePromise(
        function (this: unknown) {
          args = arguments.length;
          return 0;
        },
        (v: number) => v,
      );
      expect(args, name).toBe(1);
      // A throwing input goes to the error factory, else is thrown.
      const boom = new Error("boom");
      expect(h.handleMaybePromise(() => { throw boom; }, () => "ok", (e: unknown) => e), name).toBe(boom);
      expect(() => h.handleMaybePromise(() => { throw boom; }, () => "ok"), name).toThrow(boom);
      // A throwing success factory is thrown, not routed to the error factory.
      expect(() => h.handleMaybePromise(() => 1, () => { throw boom; }, () => "recovered"), name).toThrow(boom);
      // Asynchronous input, fulfilled and rejected.
      await expect(h.handleMaybePromise(() => Promise.resolve(2), (v: number) => v * 2), name).resolves.toBe(4);
      await expect(h.handleMaybePromise(() => Promise.reject(boom), () => "ok", () => "recovered"), name).resolves.toBe("recovered");
      await expect(Promise.resolve(h.handleMaybePromise(() => Promise.reject(boom), () => "ok")), name).rejects.toBe(boom);
      // A promise returned by the success factory is returned as is.
      await expect(h.handleMaybePromise(() => 1, (v: number) => Promise.resolve(v + 10)), name).resolves.toBe(11);
      // With a finally factory it still runs after either outcome.
      const order: string[] = [];
      expect(h.handleMaybePromise(() => 1, (v: number) => (order.push("success"), v), undefined, () => void order.push("finally")), name).toBe(1);
      expect(order, name).toEqual(["success", "finally"]);
      // mapMaybePromise (1.3.2's API, used by envelop and yoga) is kept.
      expect(h.mapMaybePromise(3, (v: number) => v + 1), name).toBe(4);
      // unfakePromise still sees through fake promises.
      expect(h.unfakePromise(h.fakePromise(5)), name).toBe(5);
      expect(() => h.unfakePromise(h.fakeRejectPromise(boom)), name).toThrow(boom);
    }
  });

  it("iterateAsync runs every hook in order, synchronously when they are", async () => {
    for (const [name, h] of await copies()) {
      const seen: number[] = [];
      const results: unknown[] = [];
      const out = h.iterateAsync([1, 2, 3], (v: number) => (seen.push(v), v * 10), results);
      expect(out, name).toBeUndefined();
      expect(seen, name).toEqual([1, 2, 3]);
      expect(results, name).toEqual([10, 20, 30]);
    }
  });
});
