import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, SECURITY_DEFAULTS } from "../../src/config.js";

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error("expected a ConfigError");
}

describe("loadConfig: authentication and hardening variables", () => {
  it("zero configuration: loopback, AUTH_MODE none, development defaults", () => {
    const config = loadConfig({});
    expect(config.auth.mode).toBe("none");
    expect(config.security).toEqual({
      corsOrigins: [],
      introspection: true,
      graphiql: true,
      maxDepth: SECURITY_DEFAULTS.maxDepth,
      maxAliases: SECURITY_DEFAULTS.maxAliases,
      maxDirectives: SECURITY_DEFAULTS.maxDirectives,
      maxTokens: SECURITY_DEFAULTS.maxTokens,
      maxCost: SECURITY_DEFAULTS.maxCost,
      maxBatch: 0,
      maxBodyBytes: SECURITY_DEFAULTS.maxBodyBytes,
      registrationsPerMinute: SECURITY_DEFAULTS.registrationsPerMinute,
      trustedDocumentsFile: undefined,
    });
  });

  it("a non-loopback HOST defaults to jwt and needs a key source", () => {
    expect(problemsOf({ HOST: "0.0.0.0" })).toEqual([expect.stringMatching(/^AUTH_JWKS_URL \/ AUTH_JWT_SECRET: jwt mode needs exactly one of them/)]);
    const config = loadConfig({ HOST: "0.0.0.0", AUTH_JWT_SECRET: "s".repeat(32) });
    expect(config.auth.mode).toBe("jwt");
  });

  it("refuses AUTH_MODE=none off loopback", () => {
    expect(problemsOf({ HOST: "10.0.0.5", AUTH_MODE: "none" })).toEqual([expect.stringMatching(/^AUTH_MODE: 'none' is allowed only when listening on loopback/)]);
  });

  it("reports auth problems together with every other bad variable", () => {
    const problems = problemsOf({ HOST: "0.0.0.0", GRAPHQL_MAX_DEPTH: "0", CORS_ORIGINS: "https://ok.example,https://bad.example/path", AUTH_AUDIENCE: "" });
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^GRAPHQL_MAX_DEPTH: must be at least 1/),
        expect.stringMatching(/^CORS_ORIGINS\.1: each entry must be an origin/),
        expect.stringMatching(/^AUTH_JWKS_URL \/ AUTH_JWT_SECRET/),
      ]),
    );
  });

  it("production turns introspection and GraphiQL off unless enabled", () => {
    const base = { NODE_ENV: "production", AUTH_JWT_SECRET: "0123456789abcdef0123456789abcdef", DATABASE_URL: "postgres://x@db/y", TOKEN_ENCRYPTION_KEY: Buffer.alloc(32, 1).toString("base64") };
    expect(loadConfig(base).security).toMatchObject({ introspection: false, graphiql: false });
    expect(loadConfig({ ...base, GRAPHQL_INTROSPECTION: "true", GRAPHIQL: "1" }).security).toMatchObject({ introspection: true, graphiql: true });
  });

  it("parses limits, CORS origins and the trusted documents file", () => {
    const config = loadConfig({
      CORS_ORIGINS: "https://app.example.com, http://localhost:5173/",
      GRAPHQL_MAX_DEPTH: "5",
      GRAPHQL_MAX_ALIASES: "3",
      GRAPHQL_MAX_COST: "200",
      GRAPHQL_MAX_BATCH: "4",
      MAX_BODY_BYTES: "4096",
      REGISTRATION_RATE_LIMIT_PER_MINUTE: "0",
      TRUSTED_DOCUMENTS_FILE: "/etc/docs.json",
    });
    expect(config.security).toMatchObject({
      corsOrigins: ["https://app.example.com", "http://localhost:5173"],
      maxDepth: 5,
      maxAliases: 3,
      maxCost: 200,
      maxBatch: 4,
      maxBodyBytes: 4096,
      registrationsPerMinute: 0,
      trustedDocumentsFile: "/etc/docs.json",
    });
  });

  it("never echoes the shared secret in a problem", () => {
    const problems = problemsOf({ HOST: "0.0.0.0", AUTH_JWT_SECRET: "short-secret-value" });
    expect(problems.join("\n")).not.toContain("short-secret-value");
  });
});
