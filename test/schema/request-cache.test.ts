/**
 * Pothos scope-auth's per-request cache is dropped once execution is done (src/schema/request-cache.ts).
 * Left in its WeakMap, the entry (whose value holds its own key, the context) kept every request's
 * objects alive through young-generation GCs. A fresh cache for a finished request's context is the
 * proof it was dropped: the cache used during execution had evaluated the scopes.
 */
import SchemaBuilder from "@pothos/core";
import ScopeAuthPlugin, { RequestCache } from "@pothos/plugin-scope-auth";
import { createYoga, type Plugin } from "graphql-yoga";
import { describe, expect, it } from "vitest";
import { releaseAuthScopeCache } from "../../src/schema/request-cache.js";

function setup(plugins: Plugin[], caller = "reader") {
  let scopeEvaluations = 0;
  const builder = new SchemaBuilder<{ Context: { caller: string }; AuthScopes: { reader: boolean } }>({
    plugins: [ScopeAuthPlugin],
    scopeAuth: {
      authScopes: (ctx) => {
        scopeEvaluations++;
        return { reader: ctx.caller === "reader" };
      },
    },
  });
  builder.queryType({
    fields: (t) => ({
      hello: t.string({ authScopes: { reader: true }, resolve: () => "hi" }),
      again: t.string({ authScopes: { reader: true }, resolve: () => "again" }),
    }),
  });
  const contexts: object[] = [];
  const capture: Plugin = {
    onExecute({ args }) {
      contexts.push(args.contextValue as object);
    },
  };
  const yoga = createYoga({ schema: builder.toSchema(), plugins: [capture, ...plugins], context: () => ({ caller }), logging: false });
  const query = async (document: string) => {
    const res = await yoga.fetch("http://localhost/graphql", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query: document }) });
    return res.json();
  };
  return { builder, contexts, query, evaluations: () => scopeEvaluations };
}

describe("releaseAuthScopeCache", () => {
  it("drops the request's scope cache after execution; scopes were still cached within it", async () => {
    const { builder, contexts, query, evaluations } = setup([releaseAuthScopeCache()]);
    expect(await query("{ hello again }")).toEqual({ data: { hello: "hi", again: "again" } });
    // Within the execution the cache worked: two guarded fields, one evaluation of the scopes.
    expect(evaluations()).toBe(1);
    expect(contexts).toHaveLength(1);
    const after = RequestCache.fromContext(contexts[0] as never, builder as never);
    expect(after.scopes).toBeUndefined();
  });

  it("without it, the finished request's cache stays in the WeakMap (what the plugin exists for)", async () => {
    const { builder, contexts, query } = setup([]);
    await query("{ hello }");
    const after = RequestCache.fromContext(contexts[0] as never, builder as never);
    expect(after.scopes).toEqual({ reader: true });
  });

  it("a refused field is released too", async () => {
    const { builder, contexts, query } = setup([releaseAuthScopeCache()], "stranger");
    const answer = (await query("{ hello }")) as { data: unknown; errors: Array<{ message: string }> };
    expect(answer.data).toEqual({ hello: null });
    expect(answer.errors[0]!.message).toMatch(/Not authorized/);
    expect(RequestCache.fromContext(contexts[0] as never, builder as never).scopes).toBeUndefined();
  });
});
