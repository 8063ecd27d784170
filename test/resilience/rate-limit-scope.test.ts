import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";

describe("LCIC_RATE_LIMIT_SCOPE", () => {
  it("defaults to one budget per action for the whole deployment", () => {
    expect(loadConfig({}).lcic.rateLimitScope).toBe("action");
    expect(loadConfig({ LCIC_RATE_LIMIT_SCOPE: "" }).lcic.rateLimitScope).toBe("action");
  });

  it("accepts action-and-app for accounts LCIC limits per application", () => {
    expect(loadConfig({ LCIC_RATE_LIMIT_SCOPE: "action-and-app" }).lcic.rateLimitScope).toBe("action-and-app");
  });

  it("names the variable when the value is unknown", () => {
    const error = (() => {
      try {
        loadConfig({ LCIC_RATE_LIMIT_SCOPE: "app" });
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems.join("\n")).toMatch(/LCIC_RATE_LIMIT_SCOPE: must be 'action' or 'action-and-app'/);
  });
});
