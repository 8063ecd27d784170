// The operations variables: METRICS_*, DATABASE_UNAVAILABLE_TIMEOUT_MS and OpenTelemetry's OTEL_*.
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";

describe("operations configuration", () => {
  it("defaults: metrics on 127.0.0.1:9464, no tracing, 5 s database timeout", () => {
    const config = loadConfig({});
    expect(config.metrics).toEqual({ port: 9464, host: "127.0.0.1" });
    expect(config.tracing).toBeUndefined();
    expect(config.database.unavailableTimeoutMs).toBe(5000);
  });

  it("METRICS_PORT=0 turns metrics off; METRICS_HOST moves the listener", () => {
    expect(loadConfig({ METRICS_PORT: "0", METRICS_HOST: "0.0.0.0" }).metrics).toEqual({ port: 0, host: "0.0.0.0" });
  });

  it("OTEL_EXPORTER_OTLP_ENDPOINT turns tracing on, with the standard defaults", () => {
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318/" }).tracing).toEqual({
      url: "http://collector:4318/v1/traces",
      headers: {},
      serviceName: "classroom-users",
      sampler: "parentbased_always_on",
      samplerRatio: 1,
    });
  });

  it("the traces endpoint, headers, service name and sampler are read as OpenTelemetry specifies", () => {
    const tracing = loadConfig({
      OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318",
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "https://traces.example.com/otlp/v1/traces",
      OTEL_EXPORTER_OTLP_HEADERS: "Authorization=Bearer%20abc, x-tenant=school",
      OTEL_SERVICE_NAME: "classroom-users-eu",
      OTEL_TRACES_SAMPLER: "parentbased_traceidratio",
      OTEL_TRACES_SAMPLER_ARG: "0.25",
    }).tracing;
    expect(tracing).toEqual({
      url: "https://traces.example.com/otlp/v1/traces",
      headers: { authorization: "Bearer abc", "x-tenant": "school" },
      serviceName: "classroom-users-eu",
      sampler: "parentbased_traceidratio",
      samplerRatio: 0.25,
    });
  });

  it("OTEL_SDK_DISABLED=true keeps tracing off", () => {
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318", OTEL_SDK_DISABLED: "true" }).tracing).toBeUndefined();
  });

  it("bad values name their variable", () => {
    let error: unknown;
    try {
      loadConfig({ METRICS_PORT: "70000", OTEL_TRACES_SAMPLER: "sometimes", OTEL_TRACES_SAMPLER_ARG: "2", DATABASE_UNAVAILABLE_TIMEOUT_MS: "5", OTEL_EXPORTER_OTLP_ENDPOINT: "collector" });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as ConfigError).message;
    for (const name of ["METRICS_PORT", "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG", "DATABASE_UNAVAILABLE_TIMEOUT_MS", "OTEL_EXPORTER_OTLP_ENDPOINT"]) expect(message).toContain(name);
  });
});
