/**
 * Query operations executed by graphql-jit's compiled functions instead of
 * @graphql-tools/executor, after yoga's own parse, validation and context (this is only an
 * execute function). What a client sees must not change, so the compiled function runs only when
 * graphql-js accepts the request's variables as they are: any variable problem goes to the normal
 * executor, whose errors (messages, status 400) clients get as before. Mutations and anything
 * graphql-jit cannot compile run on the normal executor too.
 */
import { getOperationAST, getVariableValues, type DocumentNode, type GraphQLSchema, type OperationDefinitionNode } from "graphql";
import { compileQuery, isCompiledQuery, type CompiledQuery } from "graphql-jit";
import type { Plugin } from "graphql-yoga";

/** Compiled functions kept per parsed document (yoga's parser cache reuses DocumentNodes): operation name → compiled, or null (not compiled). */
type PerDocument = Map<string | undefined, { operation: OperationDefinitionNode; compiled: CompiledQuery } | null>;
const MAX_OPERATIONS_PER_DOCUMENT = 16;

export interface JitExecutionOptions {
  /** Told which executor ran each operation (tests). */
  onExecute?(executor: "jit" | "graphql-tools"): void;
}

export function jitExecution(options: JitExecutionOptions = {}): Plugin {
  const told = options.onExecute;
  const compiledBySchema = new WeakMap<GraphQLSchema, WeakMap<DocumentNode, PerDocument>>();
  const compiledFor = (schema: GraphQLSchema, document: DocumentNode, operationName: string | undefined) => {
    let documents = compiledBySchema.get(schema);
    if (!documents) compiledBySchema.set(schema, (documents = new WeakMap()));
    let perDocument = documents.get(document);
    if (!perDocument) documents.set(document, (perDocument = new Map()));
    if (perDocument.has(operationName)) return perDocument.get(operationName)!;
    const operation = getOperationAST(document, operationName);
    let entry: { operation: OperationDefinitionNode; compiled: CompiledQuery } | null = null;
    if (operation?.operation === "query") {
      try {
        const compiled = compileQuery(schema, document, operationName);
        if (isCompiledQuery(compiled)) entry = { operation, compiled };
      } catch {
        entry = null;
      }
    }
    if (perDocument.size < MAX_OPERATIONS_PER_DOCUMENT) perDocument.set(operationName, entry);
    return entry;
  };

  return {
    onExecute({ args, setExecuteFn }) {
      const entry = compiledFor(args.schema, args.document, args.operationName ?? undefined);
      if (!entry) return told?.("graphql-tools");
      const variables = (args.variableValues ?? undefined) as Record<string, unknown> | undefined;
      if (entry.operation.variableDefinitions?.length) {
        // graphql-js's own coercion only decides whether the variables are acceptable; the normal
        // executor answers those that are not, with its own errors.
        const coerced = getVariableValues(args.schema, entry.operation.variableDefinitions, variables ?? {}, { maxErrors: 1 });
        if (coerced.errors) return told?.("graphql-tools");
      }
      told?.("jit");
      const { compiled } = entry;
      setExecuteFn((executionArgs) => compiled.query(executionArgs.rootValue, executionArgs.contextValue, (executionArgs.variableValues ?? {}) as Record<string, unknown>) as never);
    },
  };
}
