/**
 * GraphQL-level observability as yoga plugins: operation metrics (yoga's prometheus plugin, into the
 * app's own registry, served by the metrics listener rather than on the GraphQL port) and spans for
 * parse, validate and execute under the request's server span.
 */
import type { Tracer } from "@opentelemetry/api";
import { createCounter, createHistogram, usePrometheus, type FillLabelsFnParams } from "@graphql-yoga/plugin-prometheus";
import type { DefinitionNode, DocumentNode, OperationDefinitionNode } from "graphql";
import type { Plugin } from "graphql-yoga";
import type { Registry } from "prom-client";
import { currentRequestContext } from "./request-context.js";
import { startChildSpan } from "./tracing.js";

/** Distinct operation names kept as label values per app; later new names count as "other". */
const MAX_OPERATION_NAMES = 200;
const OPERATION_NAME = /^[_A-Za-z][_0-9A-Za-z]{0,63}$/;
const DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function graphqlMetrics(registry: Registry): Plugin {
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
  type OperationLabel = "operationName" | "operationType";
  const operationLabels: OperationLabel[] = ["operationName", "operationType"];
  const labelsOf = (params: FillLabelsFnParams) => ({ operationName: operationName(params.operationName), operationType: params.operationType ?? "unknown" });
  const histogram = <Phases,>(name: string, help: string) =>
    createHistogram<Phases, OperationLabel>({ registry, histogram: { name, help, labelNames: operationLabels, buckets: DURATION_BUCKETS }, fillLabelsFn: labelsOf });
  return usePrometheus({
    registry,
    // Never on the public port: the metrics listener serves the registry.
    endpoint: false,
    metrics: {
      graphql_envelop_request: createCounter({
        registry,
        counter: { name: "graphql_envelop_request", help: "GraphQL operations executed, by operation", labelNames: operationLabels },
        fillLabelsFn: labelsOf,
      }),
      graphql_envelop_request_duration: histogram<"execute" | "subscribe">("graphql_envelop_request_duration", "Time to execute a GraphQL operation, seconds"),
      graphql_envelop_phase_parse: histogram<"parse">("graphql_envelop_phase_parse", "Time to parse a GraphQL document, seconds"),
      graphql_envelop_phase_validate: histogram<"validate">("graphql_envelop_phase_validate", "Time to validate a GraphQL document, seconds"),
      graphql_envelop_phase_context: histogram<"context">("graphql_envelop_phase_context", "Time to build the context (authentication), seconds"),
      graphql_envelop_phase_execute: histogram<"execute">("graphql_envelop_phase_execute", "Time to execute a GraphQL operation, seconds"),
      graphql_envelop_error_result: createCounter({
        registry,
        counter: { name: "graphql_envelop_error_result", help: "GraphQL errors in results, by operation and phase", labelNames: [...operationLabels, "phase"] },
        fillLabelsFn: (params: FillLabelsFnParams) => ({ ...labelsOf(params), phase: params.errorPhase ?? "unknown" }),
      }),
      // Off: it needs HTTP-level hooks (onRequest/onResponse), which would turn the HTTP fast lane off
      // for every request; the operation's own duration is graphql_envelop_request_duration.
      graphql_yoga_http_duration: false,
      graphql_envelop_request_time_summary: false,
      graphql_envelop_deprecated_field: false,
      graphql_envelop_schema_change: false,
      graphql_envelop_execute_resolver: false,
      graphql_envelop_phase_subscribe: false,
    },
  }) as Plugin;
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
