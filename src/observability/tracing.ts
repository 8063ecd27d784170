/**
 * OpenTelemetry traces, configured by the standard OTEL_* variables (config.ts reads them) and off
 * unless an OTLP endpoint is set: then nothing here is created and the hot path pays nothing.
 *
 * No global tracer provider or context manager is installed: the tests run many apps in one process,
 * and each app owns its provider. The parent of a span is the request's context, carried by
 * request-context.ts's AsyncLocalStorage.
 */
import {
  context as otelContext,
  defaultTextMapGetter,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type Tracer,
} from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { defaultResource, detectResources, envDetector, resourceFromAttributes } from "@opentelemetry/resources";
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type Sampler,
} from "@opentelemetry/sdk-trace-base";
import type { TracingConfig } from "../config.js";
import { currentRequestContext } from "./request-context.js";

export interface Tracing {
  tracer: Tracer;
  /** The context an incoming request continues: its W3C `traceparent`/`tracestate`, else a new trace. */
  extract(headers: Record<string, string | string[] | undefined>): Context;
  /** Sends what is buffered (tests call it before reading the receiver). */
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}

function samplerOf(config: TracingConfig): Sampler {
  const ratio = new TraceIdRatioBasedSampler(config.samplerRatio);
  switch (config.sampler) {
    case "always_on":
      return new AlwaysOnSampler();
    case "always_off":
      return new AlwaysOffSampler();
    case "traceidratio":
      return ratio;
    case "parentbased_always_off":
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case "parentbased_traceidratio":
      return new ParentBasedSampler({ root: ratio });
    default:
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}

export function createTracing(config: TracingConfig): Tracing {
  const resource = defaultResource()
    .merge(detectResources({ detectors: [envDetector] }))
    .merge(resourceFromAttributes({ "service.name": config.serviceName }));
  const provider = new BasicTracerProvider({
    resource,
    sampler: samplerOf(config),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: config.url, headers: config.headers }))],
  });
  const propagator = new W3CTraceContextPropagator();
  return {
    tracer: provider.getTracer("classroom-users"),
    extract: (headers) => propagator.extract(ROOT_CONTEXT, headers, defaultTextMapGetter),
    flush: () => provider.forceFlush(),
    shutdown: () => provider.shutdown(),
  };
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
