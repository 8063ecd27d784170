/**
 * GraphQL-level observability as yoga plugins: operation metrics (yoga's prometheus plugin, into the
 * app's own registry, served by the metrics listener rather than on the GraphQL port) and spans for
 * parse, validate and execute under the request's server span.
 */
import type { Tracer } from "@opentelemetry/api";
import { usePrometheus } from "@graphql-yoga/plugin-prometheus";
import type { DefinitionNode, DocumentNode, OperationDefinitionNode } from "graphql";
import type { Plugin } from "graphql-yoga";
import type { Registry } from "prom-client";
import { currentRequestContext } from "./request-context.js";
import { startChildSpan } from "./tracing.js";

export function graphqlMetrics(registry: Registry): Plugin {
  return usePrometheus({
    registry,
    // Never on the public port: the metrics listener serves the registry.
    endpoint: false,
    metrics: {
      graphql_envelop_request: true,
      graphql_envelop_request_duration: true,
      graphql_envelop_phase_parse: true,
      graphql_envelop_phase_validate: true,
      graphql_envelop_phase_context: true,
      graphql_envelop_phase_execute: true,
      graphql_envelop_error_result: true,
      graphql_yoga_http_duration: true,
      graphql_envelop_request_time_summary: false,
      graphql_envelop_deprecated_field: false,
      graphql_envelop_schema_change: false,
      graphql_envelop_execute_resolver: false,
      graphql_envelop_phase_subscribe: false,
    },
    // Bounded labels only: an error's path may carry list indices, a URL its query string.
    labels: { path: false, url: false },
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
