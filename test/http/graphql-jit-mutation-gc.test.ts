// graphql-jit 0.8.9 runs a mutation's root fields one after another ("serial execution"); its compiled
// function ended with `return new Promise(resolve => __context.finalResolve = resolve)`. Made there, V8
// left every mutation's execution context (its variables, the resolvers' results, the GraphQL context
// with the whole request) alive through young-generation GCs until the next full GC: in the product
// ~5 KB promoted per mutation (issueClassroomUserToken, registerClassroomUser; queries were not
// affected, their promise is made by the runtime's finalizeResult). patches/graphql-jit+0.8.9.patch
// makes that promise in the runtime too (`serialPromise`), the same code moved. Measured here with a
// schema of our own, on both builds the package ships.
import { createRequire } from "node:module";
import { GraphQLObjectType, GraphQLSchema, GraphQLString, parse, type DocumentNode, type ExecutionResult } from "graphql";
import { describe, expect, it } from "vitest";
import { promotedBytesPerOperation } from "../support/promotion.js";

type CompileQuery = (schema: GraphQLSchema, document: DocumentNode, operationName?: string, options?: object) => object;
type Compiled = { query(root: unknown, context: unknown, variables: Record<string, unknown>): Promise<ExecutionResult> | ExecutionResult };

const require = createRequire(import.meta.url);
const builds: Array<[string, CompileQuery]> = [
  ["dist/index.js (require)", (require("graphql-jit") as { compileQuery: CompileQuery }).compileQuery],
  ["dist/index.mjs (import)", ((await import("graphql-jit")) as { compileQuery: CompileQuery }).compileQuery],
];

const order: string[] = [];
const schema = new GraphQLSchema({
  query: new GraphQLObjectType({ name: "Query", fields: { ok: { type: GraphQLString, resolve: () => "ok" } } }),
  mutation: new GraphQLObjectType({
    name: "Mutation",
    fields: {
      touch: {
        type: GraphQLString,
        args: { id: { type: GraphQLString } },
        // Answers a turn later, as a resolver that reads the database does.
        resolve: async (_root, args: { id: string }, context: { payload: unknown[]; log?: boolean }) => {
          await new Promise((resolve) => setImmediate(resolve));
          if (context.log) order.push(args.id);
          return `${args.id}:${context.payload.length}`;
        },
      },
    },
  }),
});

function compile(compileQuery: CompileQuery, source: string): Compiled {
  const compiled = compileQuery(schema, parse(source), undefined, { disablingCapturingStackErrors: true });
  if (!("query" in compiled)) throw new Error(`not compiled: ${JSON.stringify(compiled)}`);
  return compiled as Compiled;
}

describe.each(builds)("graphql-jit %s (patched)", (_, compileQuery) => {
  it("a mutation's execution dies young (less than 300 bytes promoted a mutation)", async () => {
    const mutation = compile(compileQuery, "mutation($id: String) { touch(id: $id) }");
    // ~3 KB of young objects the execution reaches through its GraphQL context, as a request's would.
    const execute = async () => {
      const context = { payload: Array.from({ length: 64 }, (_, i) => ({ i, s: `x${i}` })) };
      const result = await mutation.query(undefined, context, { id: "a" });
      // A plain `if`: vitest's expect would keep the value alive (test/support/promotion.ts).
      if ((result.data as { touch?: string } | undefined)?.touch !== "a:64") throw new Error(`unexpected result ${JSON.stringify(result)}`);
    };
    const perMutation = await promotedBytesPerOperation(execute, { total: 3000, warmUp: 500, concurrency: 1 });
    // Unpatched: ~2,000-2,600 bytes a mutation here.
    expect(perMutation.perOperation, perMutation.describe("mutation")).toBeLessThan(300);
  });

  it("mutation fields still run one after another, in document order, with their results", async () => {
    const mutation = compile(compileQuery, 'mutation { first: touch(id: "1") second: touch(id: "2") third: touch(id: "3") }');
    order.length = 0;
    const result = await mutation.query(undefined, { payload: [], log: true }, {});
    expect(result).toEqual({ data: { first: "1:0", second: "2:0", third: "3:0" } });
    expect(order).toEqual(["1", "2", "3"]);
  });
});
