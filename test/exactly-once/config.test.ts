import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";

describe("reconciler configuration", () => {
  it("defaults to a sweep every 15 s of rows unchanged for a minute", () => {
    expect(loadConfig({}).reconciler).toEqual({ enabled: true, intervalMs: 15_000, staleAfterMs: 60_000 });
  });

  it("reads RECONCILER_ENABLED, RECONCILER_INTERVAL_MS and RECONCILER_STALE_AFTER_MS", () => {
    expect(loadConfig({ RECONCILER_ENABLED: "false", RECONCILER_INTERVAL_MS: "500", RECONCILER_STALE_AFTER_MS: "4000" }).reconciler).toEqual({
      enabled: false,
      intervalMs: 500,
      staleAfterMs: 4_000,
    });
  });

  it("names each bad value", () => {
    expect(() => loadConfig({ RECONCILER_INTERVAL_MS: "0", RECONCILER_STALE_AFTER_MS: "soon" })).toThrow(ConfigError);
    try {
      loadConfig({ RECONCILER_INTERVAL_MS: "0", RECONCILER_STALE_AFTER_MS: "soon" });
    } catch (error) {
      expect((error as ConfigError).problems.join("\n")).toMatch(/RECONCILER_INTERVAL_MS[\s\S]*RECONCILER_STALE_AFTER_MS/);
    }
  });
});

describe("lookup fallback configuration", () => {
  it("defaults to misses remembered for a minute, 120 LCIC fallbacks per client a minute, and batched reads", () => {
    expect(loadConfig({}).lookups).toEqual({ missTtlMs: 60_000, fallbacksPerMinute: 120, batch: true });
  });

  it("reads LOOKUP_MISS_TTL_MS and LOOKUP_FALLBACK_RATE_LIMIT_PER_MINUTE (0 turns each off) and LOOKUP_BATCHING", () => {
    expect(loadConfig({ LOOKUP_MISS_TTL_MS: "0", LOOKUP_FALLBACK_RATE_LIMIT_PER_MINUTE: "0", LOOKUP_BATCHING: "false" }).lookups).toEqual({
      missTtlMs: 0,
      fallbacksPerMinute: 0,
      batch: false,
    });
  });

  it("names each bad value", () => {
    let problems = "";
    try {
      loadConfig({ LOOKUP_MISS_TTL_MS: "a minute", LOOKUP_FALLBACK_RATE_LIMIT_PER_MINUTE: "-1" });
    } catch (error) {
      problems = (error as ConfigError).problems.join("\n");
    }
    expect(problems).toMatch(/LOOKUP_MISS_TTL_MS[\s\S]*LOOKUP_FALLBACK_RATE_LIMIT_PER_MINUTE/);
  });
});
