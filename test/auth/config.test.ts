import { Writable } from "node:stream";
import { inspect } from "node:util";
import { announceAuthMode, UNAUTHENTICATED_WARNING } from "../../src/auth/announce.js";
import { loadConfig } from "../../src/config.js";
import { createLogger } from "../../src/logger.js";
import { describe, expect, it } from "vitest";
import {
  AuthConfigError,
  authConfigSchema,
  isLoopbackHost,
  resolveAuthConfig,
  type AuthConfig,
} from "../../src/auth/config.js";

const SECRET = "0123456789abcdef0123456789abcdef";

function problemsOf(env: Record<string, string | undefined>, host: string): readonly string[] {
  try {
    resolveAuthConfig(env, { host });
  } catch (error) {
    expect(error).toBeInstanceOf(AuthConfigError);
    const problems = (error as AuthConfigError).problems;
    // The message carries every problem too, for callers that only print it.
    for (const problem of problems) expect((error as Error).message).toContain(problem);
    return problems;
  }
  throw new Error("expected the configuration to be refused");
}

describe("isLoopbackHost", () => {
  it.each(["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "LOCALHOST", "::ffff:127.0.0.1", "0:0:0:0:0:0:0:1"])(
    "%s is loopback",
    (host) => expect(isLoopbackHost(host)).toBe(true),
  );
  it.each(["0.0.0.0", "::", "", "10.0.0.1", "192.168.1.10", "128.0.0.1", "example.com", "localhost.example.com", "::ffff:10.0.0.1"])(
    "%s is not loopback",
    (host) => expect(isLoopbackHost(host)).toBe(false),
  );
});

describe("AUTH_MODE", () => {
  it("defaults to none on loopback with nothing configured", () => {
    const config = resolveAuthConfig({}, { host: "127.0.0.1" });
    expect(config).toEqual({
      mode: "none",
      scopes: { register: "classroom-users:register", read: "classroom-users:read", delete: "classroom-users:delete" },
    });
    expect(resolveAuthConfig({}, { host: "localhost" }).mode).toBe("none");
    expect(resolveAuthConfig({}, { host: "::1" }).mode).toBe("none");
  });

  it("defaults to jwt on loopback when a key source is configured", () => {
    expect(resolveAuthConfig({ AUTH_JWT_SECRET: SECRET }, { host: "127.0.0.1" }).mode).toBe("jwt");
  });

  it.each(["0.0.0.0", "::", "10.1.2.3"])("refuses AUTH_MODE=none on %s, naming AUTH_MODE", (host) => {
    const problems = problemsOf({ AUTH_MODE: "none" }, host);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^AUTH_MODE: /);
    expect(problems[0]).toContain(host);
  });

  it("defaults to jwt off loopback and then needs a key source", () => {
    const problems = problemsOf({}, "0.0.0.0");
    expect(problems).toEqual([expect.stringMatching(/^AUTH_JWKS_URL \/ AUTH_JWT_SECRET: .*AUTH_MODE defaults to 'jwt'/)]);
  });

  it("refuses an unknown mode", () => {
    expect(problemsOf({ AUTH_MODE: "off", AUTH_JWT_SECRET: SECRET }, "0.0.0.0")).toEqual([
      "AUTH_MODE: must be 'jwt' or 'none'",
    ]);
  });

  it("accepts explicit AUTH_MODE=none on loopback", () => {
    expect(resolveAuthConfig({ AUTH_MODE: "none" }, { host: "127.0.0.1" }).mode).toBe("none");
  });

  it("with NODE_ENV=production, unset means jwt even on loopback: none only when asked for by name", () => {
    const problems = problemsOf({ NODE_ENV: "production" }, "127.0.0.1");
    expect(problems).toEqual([expect.stringMatching(/^AUTH_JWKS_URL \/ AUTH_JWT_SECRET: .*NODE_ENV=production.*AUTH_MODE=none/)]);
    expect(resolveAuthConfig({ NODE_ENV: "production", AUTH_JWT_SECRET: SECRET }, { host: "127.0.0.1" }).mode).toBe("jwt");
    expect(resolveAuthConfig({ NODE_ENV: "production", AUTH_MODE: "none" }, { host: "127.0.0.1" }).mode).toBe("none");
  });
});

describe("announcing AUTH_MODE=none at start-up", () => {
  function announced(env: Record<string, string>): Array<Record<string, unknown>> {
    const lines: string[] = [];
    const logger = createLogger({ level: "info", destination: new Writable({ write: (chunk, _e, done) => (lines.push(String(chunk)), done()) }) });
    announceAuthMode(loadConfig(env), logger);
    return lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  }
  const production = { NODE_ENV: "production", DATABASE_URL: "postgres://x@db/y", TOKEN_ENCRYPTION_KEY: Buffer.alloc(32, 1).toString("base64") };

  it("is an error in production (where none was asked for by name), a warning in development, silent with jwt", () => {
    expect(announced({ ...production, AUTH_MODE: "none" })).toEqual([expect.objectContaining({ level: 50, msg: UNAUTHENTICATED_WARNING, production: true })]);
    expect(announced({})).toEqual([expect.objectContaining({ level: 40, msg: UNAUTHENTICATED_WARNING, production: false })]);
    expect(announced({ ...production, AUTH_JWT_SECRET: SECRET })).toEqual([]);
  });
});

describe("jwt key sources", () => {
  it("parses a shared secret with defaults for everything else", () => {
    const config = resolveAuthConfig({ AUTH_JWT_SECRET: SECRET }, { host: "0.0.0.0" }) as Extract<AuthConfig, { mode: "jwt" }>;
    expect(config).toMatchObject({
      mode: "jwt",
      keys: { kind: "secret" },
      issuer: undefined,
      audience: undefined,
      subjectClaim: "sub",
      scopesClaim: "scope",
      sdkAppIdClaim: "sdk_app_id",
      clockToleranceS: 30,
      scopes: { register: "classroom-users:register", read: "classroom-users:read", delete: "classroom-users:delete" },
    });
    expect(config.keys.kind === "secret" && new TextDecoder().decode(config.keys.secret.bytes)).toBe(SECRET);
  });

  it("never shows the secret when the configuration is logged", () => {
    const config = resolveAuthConfig({ AUTH_JWT_SECRET: SECRET }, { host: "0.0.0.0" });
    expect(JSON.stringify(config)).not.toContain(SECRET);
    expect(inspect(config, { depth: 10 })).not.toContain(SECRET);
    expect(inspect(config, { depth: 10 })).not.toContain("48, 49"); // no byte dump either
  });

  it("refuses a short secret without echoing it", () => {
    const problems = problemsOf({ AUTH_JWT_SECRET: "short-secret" }, "0.0.0.0");
    expect(problems).toEqual(["AUTH_JWT_SECRET: must be at least 32 bytes"]);
  });

  it("refuses both key sources at once", () => {
    const problems = problemsOf(
      { AUTH_JWT_SECRET: SECRET, AUTH_JWKS_URL: "https://idp.test/jwks", AUTH_AUDIENCE: "a" },
      "0.0.0.0",
    );
    expect(problems).toEqual([expect.stringMatching(/^AUTH_JWKS_URL \/ AUTH_JWT_SECRET: set exactly one/)]);
  });

  it("parses a JWKS URL with issuer and audience lists", () => {
    const config = resolveAuthConfig(
      { AUTH_JWKS_URL: "https://idp.test/jwks", AUTH_ISSUER: "https://idp.test/", AUTH_AUDIENCE: "api-a, api-b" },
      { host: "0.0.0.0" },
    );
    expect(config).toMatchObject({
      mode: "jwt",
      keys: { kind: "jwks", url: new URL("https://idp.test/jwks") },
      issuer: ["https://idp.test/"],
      audience: ["api-a", "api-b"],
    });
  });

  it("requires AUTH_AUDIENCE with a JWKS", () => {
    expect(problemsOf({ AUTH_JWKS_URL: "https://idp.test/jwks" }, "0.0.0.0")).toEqual([
      expect.stringMatching(/^AUTH_AUDIENCE: required with AUTH_JWKS_URL/),
    ]);
  });

  it("refuses a plain-http JWKS URL unless it is on loopback", () => {
    expect(problemsOf({ AUTH_JWKS_URL: "http://idp.test/jwks", AUTH_AUDIENCE: "a" }, "0.0.0.0")).toEqual([
      "AUTH_JWKS_URL: must use https unless it points at a loopback address",
    ]);
    expect(resolveAuthConfig({ AUTH_JWKS_URL: "http://127.0.0.1:8080/jwks", AUTH_AUDIENCE: "a" }, { host: "0.0.0.0" }).mode).toBe(
      "jwt",
    );
  });

  it("refuses a JWKS value that is not an http(s) URL", () => {
    expect(problemsOf({ AUTH_JWKS_URL: "idp.test/jwks", AUTH_AUDIENCE: "a" }, "0.0.0.0")).toEqual([
      "AUTH_JWKS_URL: must be an absolute http(s) URL",
    ]);
    expect(problemsOf({ AUTH_JWKS_URL: "file:///etc/jwks.json", AUTH_AUDIENCE: "a" }, "0.0.0.0")).toEqual([
      "AUTH_JWKS_URL: must be an absolute http(s) URL",
    ]);
  });

  it("treats empty values as unset", () => {
    const config = resolveAuthConfig(
      { AUTH_MODE: "", AUTH_JWKS_URL: "", AUTH_JWT_SECRET: SECRET, AUTH_ISSUER: " ", AUTH_CLOCK_TOLERANCE_S: "" },
      { host: "0.0.0.0" },
    );
    expect(config).toMatchObject({ mode: "jwt", keys: { kind: "secret" }, issuer: undefined, clockToleranceS: 30 });
  });
});

describe("other variables", () => {
  it("reads claim names, scope names and clock tolerance", () => {
    const config = resolveAuthConfig(
      {
        AUTH_JWT_SECRET: SECRET,
        AUTH_SUBJECT_CLAIM: "uid",
        AUTH_SCOPES_CLAIM: "scp",
        AUTH_SDK_APP_ID_CLAIM: "school_app",
        AUTH_REGISTER_SCOPE: "users:write",
        AUTH_READ_SCOPE: "users:read",
        AUTH_DELETE_SCOPE: "users:delete",
        AUTH_CLOCK_TOLERANCE_S: "5",
      },
      { host: "0.0.0.0" },
    );
    expect(config).toMatchObject({
      subjectClaim: "uid",
      scopesClaim: "scp",
      sdkAppIdClaim: "school_app",
      clockToleranceS: 5,
      scopes: { register: "users:write", read: "users:read", delete: "users:delete" },
    });
  });

  it("lists every problem at once, each naming its variable", () => {
    const problems = problemsOf(
      {
        AUTH_MODE: "jwt",
        AUTH_JWT_SECRET: "too-short",
        AUTH_JWKS_URL: "http://idp.test/jwks",
        AUTH_CLOCK_TOLERANCE_S: "-1",
        AUTH_REGISTER_SCOPE: "two words",
      },
      "0.0.0.0",
    );
    const variables = problems.map((problem) => problem.split(":")[0]);
    expect(variables).toEqual(
      expect.arrayContaining([
        "AUTH_JWT_SECRET",
        "AUTH_CLOCK_TOLERANCE_S",
        "AUTH_REGISTER_SCOPE",
        "AUTH_JWKS_URL / AUTH_JWT_SECRET",
        "AUTH_JWKS_URL",
      ]),
    );
    expect(problems.join("\n")).not.toContain("too-short");
  });

  it.each(["abc", "1.5", "301", "-1"])("refuses AUTH_CLOCK_TOLERANCE_S=%s", (value) => {
    const problems = problemsOf({ AUTH_JWT_SECRET: SECRET, AUTH_CLOCK_TOLERANCE_S: value }, "0.0.0.0");
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^AUTH_CLOCK_TOLERANCE_S: /);
  });

  it("exposes the raw schema for the main configuration module", () => {
    const parsed = authConfigSchema.parse({ AUTH_JWT_SECRET: SECRET, UNRELATED: "x" });
    expect(parsed).toMatchObject({ AUTH_SUBJECT_CLAIM: "sub", AUTH_SCOPES_CLAIM: "scope", AUTH_CLOCK_TOLERANCE_S: 30 });
  });
});
