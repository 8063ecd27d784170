import {
  GraphQLError,
  getOperationAST,
  getVariableValues,
  locatedError,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  type FieldNode,
  type FragmentDefinitionNode,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from "graphql";
import { compileQuery, isCompiledQuery, type CompiledQuery } from "graphql-jit";
import type { Plugin } from "graphql-yoga";

/**
 * GRAPHQL_JIT: queries and mutations executed by graphql-jit (compiled once per document and
 * operation, from its second execution) instead of the interpreting executor — but only where the
 * answer is the same:
 * - the variables are coerced first by graphql-js itself; when they are invalid (or the operation
 *   cannot be picked, or graphql-jit cannot compile the document) the request goes to the normal
 *   executor, which answers with its own errors, messages and HTTP status;
 * - subscriptions are not run here (the schema has none).
 * A document's first execution is interpreted: compiling costs 1-2 ms of CPU and keeps 4-30 KB per
 * document (measured: 300 registrations or lookups each with its own literal originId), against
 * ~0.1 ms for a whole lookup, so a client that writes its values into the query text instead of
 * variables (every document new) paid a compile per request and filled the heap with code run once.
 * A document sent again (the parser cache hands back the same one) is compiled then.
 * Resolvers, type resolution, error paths and null propagation are graphql-jit's, checked by the whole
 * HTTP test suite, which runs with it on.
 */
export interface JitStats {
  /** Operations answered by compiled code. */
  executed: number;
  /** Operations handed to the interpreting executor (invalid variables, not compilable, no operation). */
  delegated: number;
  /** Operations interpreted because their document was run for the first time (compiled on the next). */
  firstRuns: number;
}

export function jitExecution(stats: JitStats = { executed: 0, delegated: 0, firstRuns: 0 }): Plugin {
  // Per parsed document and operation name: the operation it selects and its compiled query (null
  // when there is no such operation or it cannot be compiled; undefined until its second execution).
  type Compiled = { operation: OperationDefinitionNode | null; query: CompiledQuery | null | undefined };
  const compiled = new WeakMap<DocumentNode, Map<string | undefined, Compiled>>();
  const compiledFor = (args: ExecutionArgs): Compiled | undefined => {
    let byName = compiled.get(args.document);
    if (!byName) {
      byName = new Map();
      compiled.set(args.document, byName);
    }
    const name = args.operationName ?? undefined;
    const found = byName.get(name);
    if (found === undefined) {
      // First execution: remembered, not compiled. A client sending ever-new operation names for one
      // document cannot grow this without bound (and those stay interpreted).
      if (byName.size < 16) byName.set(name, { operation: null, query: undefined });
      return undefined;
    }
    if (found.query === undefined) {
      const operation = getOperationAST(args.document, args.operationName) ?? null;
      const result = !operation || operation.operation === "subscription" ? null : compileQuery(args.schema, args.document, name, { disablingCapturingStackErrors: true });
      found.operation = operation;
      found.query = result && isCompiledQuery(result) ? result : null;
    }
    return found;
  };
  return {
    onExecute({ executeFn, setExecuteFn }) {
      setExecuteFn(((args: ExecutionArgs) => {
        const found = compiledFor(args);
        if (!found) {
          stats.firstRuns++;
          return executeFn(args);
        }
        const { operation, query } = found;
        const variables = (args.variableValues ?? {}) as Record<string, unknown>;
        if (!operation || !query || (operation.variableDefinitions?.length && getVariableValues(args.schema, operation.variableDefinitions, variables, { maxErrors: 50 }).errors)) {
          stats.delegated++;
          return executeFn(args);
        }
        stats.executed++;
        const result = query.query(args.rootValue, args.contextValue, variables);
        return result instanceof Promise ? result.then((r) => located(r, args.document, operation)) : located(result, args.document, operation);
      }) as typeof executeFn);
    },
  };
}

/**
 * graphql-jit's errors carry `locations` but not the AST `nodes` they come from, and yoga rebuilds
 * every error from its nodes when it serialises the result (dropping the locations). Errors are
 * rebuilt as graphql-js's `locatedError` places a field error at its field nodes, so both answer the same.
 */
function located(result: ExecutionResult, document: DocumentNode, operation: OperationDefinitionNode): ExecutionResult {
  if (!result.errors?.length) return result;
  const errors = result.errors.map((error) => {
    if (error.nodes?.length || !error.path?.length) return error;
    const nodes = fieldNodesAt(document, operation.selectionSet, error.path);
    if (nodes.length === 0) return error;
    const original = (error as { originalError?: Error }).originalError;
    return original ? locatedError(original, nodes, error.path) : new GraphQLError(error.message, { nodes, path: error.path, ...(error.extensions ? { extensions: error.extensions } : {}) });
  });
  return { ...result, errors };
}

/** The field nodes answering a response path (aliases, inline fragments and fragment spreads followed). */
function fieldNodesAt(document: DocumentNode, root: SelectionSetNode, path: ReadonlyArray<string | number>): FieldNode[] {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) if (definition.kind === "FragmentDefinition") fragments.set(definition.name.value, definition);
  const collect = (sets: SelectionSetNode[], key: string): FieldNode[] => {
    const found: FieldNode[] = [];
    const visit = (set: SelectionSetNode, seen: Set<string>) => {
      for (const selection of set.selections) {
        if (selection.kind === "Field") {
          if ((selection.alias?.value ?? selection.name.value) === key) found.push(selection);
        } else if (selection.kind === "InlineFragment") {
          visit(selection.selectionSet, seen);
        } else if (!seen.has(selection.name.value)) {
          const fragment = fragments.get(selection.name.value);
          if (fragment) visit(fragment.selectionSet, new Set(seen).add(selection.name.value));
        }
      }
    };
    for (const set of sets) visit(set, new Set());
    return found;
  };
  let nodes: FieldNode[] = [];
  let sets = [root];
  for (const segment of path) {
    if (typeof segment === "number") continue; // list index: same field nodes
    nodes = collect(sets, segment);
    sets = nodes.flatMap((node) => (node.selectionSet ? [node.selectionSet] : []));
  }
  return nodes;
}
