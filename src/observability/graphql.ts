/**
 * GraphQL-level observability as yoga (envelop) plugins: operation metrics into the app's own
 * registry (served by the metrics listener rather than on the GraphQL port) and spans for parse,
 * validate and execute under the request's server span.
 */
import type { Tracer } from "@opentelemetry/api";
import type { DefinitionNode, DocumentNode, ExecutionResult, OperationDefinitionNode } from "graphql";
import type { Plugin } from "graphql-yoga";
import { Counter, Histogram, type Registry } from "prom-client";
import { currentRequestContext } from "./request-context.js";
import { startChildSpan } from "./tracing.js";

/** Distinct operation names kept as label values per app; later new names count as "other". */
const MAX_OPERATION_NAMES = 200;
const OPERATION_NAME = /^[_A-Za-z][_0-9A-Za-z]{0,63}$/;
const DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const OPERATION_LABELS = ["operationName", "operationType"] as const;

/** The prom-client children of one (operation name, type): looked up once per document, not per request. */
interface OperationSeries {
  requests: { inc(): void };
  duration: { observe(seconds: number): void };
  errors(phase: "parse" | "validate" | "context" | "execute"): { inc(by?: number): void };
}

/**
 * Operation metrics, the names and labels of @envelop/prometheus (which this replaces: its five
 * histograms, label objects and per-request handler filtering were ~5% of a lookup's CPU):
 * `graphql_envelop_request` and `graphql_envelop_request_duration` (execution time) per operation,
 * `graphql_envelop_error_result` per operation and phase. Label values are computed once per parsed
 * document (yoga's parser cache hands the same DocumentNode to every request of one query text).
 */
export function graphqlMetrics(registry: Registry): Plugin {
  const requests = new Counter({
    name: "graphql_envelop_request",
    help: "GraphQL operations executed, by operation",
    labelNames: OPERATION_LABELS,
    registers: [registry],
  });
  const duration = new Histogram({
    name: "graphql_envelop_request_duration",
    help: "Time to execute a GraphQL operation, seconds",
    labelNames: OPERATION_LABELS,
    buckets: DURATION_BUCKETS,
    registers: [registry],
  });
  const errors = new Counter({
    name: "graphql_envelop_error_result",
    help: "GraphQL errors in results, by operation and phase",
    labelNames: [...OPERATION_LABELS, "phase"],
    registers: [registry],
  });

  // Operation names come from clients: a client inventing names must not grow the registry without
  // bound, so the first MAX_OPERATION_NAMES names are kept and the rest are "other".
  const seen = new Set<string>();
  const operationName = (name: string | undefined): string => {
    if (!name) return "Anonymous";
    if (seen.has(name)) return name;
    if (seen.size >= MAX_OPERATION_NAMES || !OPERATION_NAME.test(name)) return "other";
    seen.add(name);
    return name;
  };
  const series = new Map<string, OperationSeries>();
  const seriesOf = (name: string | undefined, type: string | undefined): OperationSeries => {
    const labels = { operationName: operationName(name), operationType: type ?? "unknown" };
    const key = `${labels.operationName}\u0000${labels.operationType}`;
    let found = series.get(key);
    if (!found) {
      const phases = new Map<string, { inc(by?: number): void }>();
      found = {
        requests: requests.labels(labels),
        duration: duration.labels(labels),
        errors: (phase) => {
          let child = phases.get(phase);
          if (!child) phases.set(phase, (child = errors.labels({ ...labels, phase })));
          return child;
        },
      };
      series.set(key, found);
    }
    return found;
  };
  // As @envelop/prometheus labelled them: the request's operationName, else the document's first
  // definition's name, else "Anonymous"; the type of that first definition.
  const byDocument = new WeakMap<DocumentNode, Map<string | undefined, OperationSeries>>();
  const seriesOfDocument = (document: DocumentNode, requested: string | null | undefined): OperationSeries => {
    let perName = byDocument.get(document);
    if (!perName) byDocument.set(document, (perName = new Map()));
    const key = requested || undefined;
    let found = perName.get(key);
    if (!found) {
      const first = document.definitions[0] as Partial<OperationDefinitionNode> | undefined;
      found = seriesOf(key ?? first?.name?.value, first?.operation);
      // A client sending ever-new operation names for one document cannot grow this map past the label bound.
      if (perName.size < MAX_OPERATION_NAMES) perName.set(key, found);
    }
    return found;
  };
  const afterParse = ({ result }: { result: unknown }) => {
    if (result instanceof Error) seriesOf(undefined, undefined).errors("parse").inc();
  };

  return {
    onPluginInit({ registerContextErrorHandler }) {
      registerContextErrorHandler(({ context }) => {
        const params = (context as { params?: { operationName?: string } } | undefined)?.params;
        seriesOf(params?.operationName, undefined).errors("context").inc();
      });
    },
    onParse: () => afterParse,
    onValidate({ params, context }) {
      return ({ valid }) => {
        if (!valid) seriesOfDocument(params.documentAST, (context as { params?: { operationName?: string } }).params?.operationName).errors("validate").inc();
      };
    },
    onExecute({ args }) {
      const operation = seriesOfDocument(args.document, args.operationName);
      const started = performance.now();
      return {
        onExecuteDone({ result }) {
          operation.requests.inc();
          operation.duration.observe((performance.now() - started) / 1000);
          const failed = (result as ExecutionResult).errors?.length;
          if (failed) operation.errors("execute").inc(failed);
        },
      };
    },
  };
}

export function graphqlSpans(tracer: Tracer): Plugin {
  return {
    onParse() {
      const span = startChildSpan(tracer, "graphql.parse");
      return ({ result }) => span.end(result instanceof Error ? result : undefined);
    },
    onValidate() {
      const span = startChildSpan(tracer, "graphql.validate");
      return ({ valid }) => span.end(valid ? undefined : "invalid document");
    },
    onExecute({ args }) {
      const operation = (args.document as DocumentNode).definitions.find((d: DefinitionNode): d is OperationDefinitionNode => d.kind === "OperationDefinition");
      const name = args.operationName ?? operation?.name?.value;
      const type = operation?.operation ?? "query";
      const span = startChildSpan(tracer, `graphql.execute ${name ?? type}`, { "graphql.operation.type": type, "graphql.operation.name": name ?? "" });
      // LCIC and SQL spans made while executing are children of this one.
      const request = currentRequestContext();
      const outer = request?.trace;
      if (request) request.trace = span.context;
      return {
        onExecuteDone({ result }) {
          if (request) request.trace = outer;
          const errors = "errors" in result && Array.isArray(result.errors) ? result.errors.length : 0;
          if (errors > 0) span.span.setAttribute("graphql.errors", errors);
          span.end();
        },
      };
    },
  };
}
