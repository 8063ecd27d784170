/**
 * Span helpers over the OpenTelemetry API only (tiny, always loaded). The SDK and the OTLP exporter
 * live in tracing-sdk.ts, imported only when an OTLP endpoint is configured, so a service without
 * tracing neither loads them nor pays for them on the hot path.
 *
 * No global tracer provider or context manager is installed: the tests run many apps in one process,
 * and each app owns its provider. The parent of a span is the request's context, carried by
 * request-context.ts's AsyncLocalStorage.
 */
import { context as otelContext, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span, type Tracer } from "@opentelemetry/api";
import { currentRequestContext } from "./request-context.js";

export interface Tracing {
  tracer: Tracer;
  /** The context an incoming request continues: its W3C `traceparent`/`tracestate`, else a new trace. */
  extract(headers: Record<string, string | string[] | undefined>): Context;
  /** Sends what is buffered (tests call it before reading the receiver). */
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}

/** The parent for a new span: the current request's context, else whatever is active (a root). */
export function parentContext(): Context {
  return currentRequestContext()?.trace ?? otelContext.active();
}

/** A span for work that has already happened (an LCIC call reported after the fact). */
export function recordSpan(tracer: Tracer, name: string, options: { startTime: number; endTime: number; attributes: Attributes; error?: string; kind?: SpanKind }): void {
  const span = tracer.startSpan(name, { kind: options.kind ?? SpanKind.CLIENT, startTime: options.startTime, attributes: options.attributes }, parentContext());
  if (options.error) span.setStatus({ code: SpanStatusCode.ERROR, message: options.error });
  span.end(options.endTime);
}

/** Starts a child span of the current request; `end` records an error when given one. */
export function startChildSpan(tracer: Tracer, name: string, attributes: Attributes = {}, kind: SpanKind = SpanKind.INTERNAL): { span: Span; context: Context; end(error?: unknown): void } {
  const parent = parentContext();
  const span = tracer.startSpan(name, { kind, attributes }, parent);
  return {
    span,
    context: trace.setSpan(parent, span),
    end(error?: unknown) {
      if (error) span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
      span.end();
    },
  };
}
