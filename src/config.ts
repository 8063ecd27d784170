import { z } from "zod";
import { AuthConfigError, resolveAuthConfig, type AuthConfig } from "./auth/config.js";

/**
 * Every environment variable the service reads, parsed once. A bad value stops start-up with a
 * message naming each offending variable (all of them at once, not the first only).
 */

const DEFAULT_EMULATOR_SDK_APP_ID = 1400000001;

const emptyAsUndefined = (value: unknown) => (typeof value === "string" && value.trim() === "" ? undefined : value);
const optionalString = z.preprocess(emptyAsUndefined, z.string().trim().optional());
/** true/false (or 1/0, yes/no); undefined when unset. */
const optionalFlag = z.preprocess(
  emptyAsUndefined,
  z
    .enum(["true", "false", "1", "0", "yes", "no"], { message: "must be true or false" })
    .transform((v) => v === "true" || v === "1" || v === "yes")
    .optional(),
);
const boolFlag = (defaultValue: boolean) => optionalFlag.transform((v) => v ?? defaultValue);
/** `a, b,c` → ["a", "b", "c"]; unset or blank → undefined. */
const commaSeparated = (v: unknown) => (typeof v === "string" && v.trim() !== "" ? v.split(",").map((s) => s.trim()).filter(Boolean) : undefined);
const intInRange = (min: number, max: number) =>
  z.preprocess(
    emptyAsUndefined,
    z.coerce
      .number({ message: "must be a number" })
      .int({ message: "must be a whole number" })
      .min(min, { message: `must be at least ${min}` })
      .max(max, { message: `must be at most ${max}` })
      .optional(),
  );
const sdkAppId = z.coerce
  .number({ message: "must be a number" })
  .int({ message: "must be a whole number" })
  .positive({ message: "must be a positive application id" })
  .max(Number.MAX_SAFE_INTEGER);

/** HTTP_FAST_LANE when unset (src/http/fast-lane.ts): on; `false` sends every request through yoga. */
export const DEFAULT_HTTP_FAST_LANE = true;

/** GRAPHQL_JIT when unset (src/http/jit-execution.ts): on; `false` runs every operation through the interpreting executor. */
export const DEFAULT_GRAPHQL_JIT = true;

const envSchema = z.object({
  NODE_ENV: optionalString,
  PORT: intInRange(0, 65535),
  HOST: optionalString,
  DATA_DIR: optionalString,
  LOG_LEVEL: z.preprocess(emptyAsUndefined, z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).optional()),
  DATABASE_URL: z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .regex(/^postgres(ql)?:\/\//, { message: "must be a postgres:// or postgresql:// URL" })
      .optional(),
  ),
  DATABASE_POOL_SIZE: intInRange(1, 1000),
  DATABASE_MIGRATE_ON_START: boolFlag(true),
  LCIC_ENDPOINT: z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .url({ message: "must be a URL such as https://lcic.tencentcloudapi.com" })
      .refine((u) => /^https?:\/\//.test(u), { message: "must be an http:// or https:// URL" })
      .optional(),
  ),
  TENCENTCLOUD_SECRET_ID: optionalString,
  TENCENTCLOUD_SECRET_KEY: optionalString,
  LCIC_SDK_APP_ID: z.preprocess(emptyAsUndefined, sdkAppId.optional()),
  LCIC_SDK_APP_IDS: z.preprocess(commaSeparated, z.array(sdkAppId).optional()),
  LCIC_REGION: optionalString,
  LCIC_TIMEOUT_MS: intInRange(100, 120_000),
  LCIC_MAX_QUEUE_MS: intInRange(0, 60_000),
  LCIC_RATE_LIMIT_SCOPE: z.preprocess(
    emptyAsUndefined,
    z.enum(["action", "action-and-app"], { message: "must be 'action' or 'action-and-app'" }).optional(),
  ),
  LCIC_CIRCUIT_FAILURES: intInRange(0, 1_000_000),
  LCIC_CIRCUIT_COOLDOWN_MS: intInRange(100, 600_000),
  TOKEN_ENCRYPTION_KEY: optionalString,
  RECONCILER_ENABLED: boolFlag(true),
  RECONCILER_INTERVAL_MS: intInRange(100, 3_600_000),
  RECONCILER_STALE_AFTER_MS: intInRange(100, 86_400_000),
  TOKEN_WARMING: boolFlag(true),
  // LCIC tokens live 7 days: refreshing more than 7 days ahead would mean refreshing every time.
  TOKEN_REFRESH_AHEAD_HOURS: intInRange(1, 167),
  TOKEN_KEEP_WARM_DAYS: intInRange(0, 3650),
  // Hardening (README "Security"). AUTH_* variables are parsed by src/auth/config.ts.
  CORS_ORIGINS: z.preprocess(
    commaSeparated,
    z
      .array(
        z.string().refine((o) => {
          try {
            const url = new URL(o);
            return (url.protocol === "https:" || url.protocol === "http:") && url.origin === o.replace(/\/$/, "");
          } catch {
            return false;
          }
        }, { message: "each entry must be an origin such as https://app.example.com (scheme, host, optional port; no path, no *)" }),
      )
      .optional(),
  ),
  // No default here: it depends on NODE_ENV.
  GRAPHQL_INTROSPECTION: optionalFlag,
  GRAPHIQL: optionalFlag,
  GRAPHQL_MAX_DEPTH: intInRange(1, 100),
  GRAPHQL_MAX_ALIASES: intInRange(0, 1000),
  GRAPHQL_MAX_DIRECTIVES: intInRange(0, 1000),
  GRAPHQL_MAX_TOKENS: intInRange(10, 100_000),
  GRAPHQL_MAX_COST: intInRange(1, 1_000_000),
  GRAPHQL_MAX_BATCH: intInRange(0, 100),
  MAX_BODY_BYTES: intInRange(1024, 10 * 1024 * 1024),
  REGISTRATION_RATE_LIMIT_PER_MINUTE: intInRange(0, 1_000_000),
  TRUSTED_DOCUMENTS_FILE: optionalString,
  LOOKUP_MISS_TTL_MS: intInRange(0, 86_400_000),
  LOOKUP_FALLBACK_RATE_LIMIT_PER_MINUTE: intInRange(0, 1_000_000),
  LOOKUP_BATCHING: boolFlag(true),
  HTTP_FAST_LANE: boolFlag(DEFAULT_HTTP_FAST_LANE),
  GRAPHQL_JIT: boolFlag(DEFAULT_GRAPHQL_JIT),
  // Operations (README "Production"): metrics listener, OpenTelemetry's standard variables, outages.
  METRICS_PORT: intInRange(0, 65535),
  METRICS_HOST: optionalString,
  DATABASE_UNAVAILABLE_TIMEOUT_MS: intInRange(100, 600_000),
  OTEL_SDK_DISABLED: optionalFlag,
  OTEL_EXPORTER_OTLP_ENDPOINT: z.preprocess(emptyAsUndefined, z.string().url({ message: "must be a URL such as http://collector:4318" }).optional()),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: z.preprocess(emptyAsUndefined, z.string().url({ message: "must be a URL such as http://collector:4318/v1/traces" }).optional()),
  OTEL_EXPORTER_OTLP_HEADERS: optionalString,
  OTEL_EXPORTER_OTLP_TRACES_HEADERS: optionalString,
  OTEL_SERVICE_NAME: optionalString,
  OTEL_TRACES_SAMPLER: z.preprocess(
    emptyAsUndefined,
    z
      .enum(["always_on", "always_off", "traceidratio", "parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio"], {
        message: "must be always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio",
      })
      .optional(),
  ),
  OTEL_TRACES_SAMPLER_ARG: z.preprocess(emptyAsUndefined, z.coerce.number({ message: "must be a number" }).min(0, { message: "must be between 0 and 1" }).max(1, { message: "must be between 0 and 1" }).optional()),
});

/** Defaults of the request limits; README "Security" lists them too. */
export const SECURITY_DEFAULTS = {
  maxDepth: 8,
  maxAliases: 10,
  maxDirectives: 10,
  maxTokens: 1000,
  maxCost: 500,
  maxBatch: 0,
  // 1 MiB: a 1,000-user registerClassroomUsers with typical names and avatar URLs is about 100 KB.
  maxBodyBytes: 1024 * 1024,
  // Half of LCIC's RegisterUser budget (20/s = 1200/min): one client cannot starve the others, and a roster import still runs at full pace.
  registrationsPerMinute: 600,
} as const;

export interface Config {
  production: boolean;
  host: string;
  port: number;
  /** Where the zero-configuration start keeps its PostgreSQL, emulator state and generated key. */
  dataDir: string;
  logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
  database: {
    /** Absent: start an embedded PostgreSQL under dataDir. */
    url: string | undefined;
    poolSize: number;
    migrateOnStart: boolean;
    /** Longest a request waits on an unreachable database before it fails (connect timeout, pool wait). */
    unavailableTimeoutMs: number;
  };
  lcic: {
    /** `emulator`: no TENCENTCLOUD_SECRET_ID, so an in-process LCIC emulator stands in for LCIC. */
    mode: "remote" | "emulator";
    endpoint: string;
    secretId: string | undefined;
    secretKey: string | undefined;
    region: string | undefined;
    /** The application used when a request names none. */
    sdkAppId: number;
    /** The applications requests may name. Always contains sdkAppId. */
    sdkAppIds: number[];
    timeoutMs: number;
    /** Longest a call may wait for a rate-limit slot before failing with LcicRateLimitedError. */
    maxQueueMs: number;
    /**
     * `LCIC_RATE_LIMIT_SCOPE`: `action` (default) paces each action once for the whole deployment;
     * `action-and-app` paces the actions that name an SdkAppId per application.
     */
    rateLimitScope: "action" | "action-and-app";
    /** Consecutive `unavailable` failures that open the circuit breaker; 0 turns the breaker off. */
    circuitFailures: number;
    /** How long an open circuit fails calls fast before letting one probe through. */
    circuitCooldownMs: number;
  };
  /** Base64 32-byte keys; the first encrypts, any decrypts. Absent: generate one under dataDir. */
  tokenEncryptionKeys: Buffer[] | undefined;
  /** The background sweep of pending registrations (jobs/reconciler.ts); every replica runs one. */
  reconciler: {
    enabled: boolean;
    /** How often each replica sweeps. */
    intervalMs: number;
    /** A pending row is only touched once unchanged this long: longer than any LCIC call can take. */
    staleAfterMs: number;
  };
  /** Lookups (`classroomUser`, `_entities`) of users not stored here, which fall back to LCIC. */
  lookups: {
    /** How long every replica remembers LCIC's "no such user" for a lookup; 0: not remembered. */
    missTtlMs: number;
    /** LCIC fallbacks per client (JWT subject, else address) per minute; 0 turns the limit off. */
    fallbacksPerMinute: number;
    /** LOOKUP_BATCHING: `classroomUser` reads (by originId, by userId) started in the same event-loop turn share one statement. */
    batch: boolean;
  };
  /** Background LoginUser for new and recently active users (jobs/token-warming.ts). */
  tokenWarming: {
    enabled: boolean;
    /** A stored token expiring within this many hours is refreshed. */
    refreshAheadHours: number;
    /** Only for users who logged in (or were registered) within this many days. */
    keepWarmDays: number;
  };
  /** Who may call: AUTH_* variables (src/auth/config.ts). */
  auth: AuthConfig;
  security: SecurityConfig;
  /** HTTP_FAST_LANE: plain JSON POSTs to /graphql bypass yoga's Fetch layer (src/http/fast-lane.ts). */
  httpFastLane: boolean;
  /** GRAPHQL_JIT: operations with valid variables run compiled by graphql-jit (src/http/jit-execution.ts). */
  graphqlJit: boolean;
  /** Prometheus `/metrics` on a listener of its own (METRICS_PORT, METRICS_HOST); port 0: none. */
  metrics: { port: number; host: string };
  /** OpenTelemetry traces (standard OTEL_* variables); absent when no OTLP endpoint is set. */
  tracing: TracingConfig | undefined;
}

export interface TracingConfig {
  /** OTLP/HTTP traces URL, e.g. http://collector:4318/v1/traces. */
  url: string;
  headers: Record<string, string>;
  serviceName: string;
  sampler: "always_on" | "always_off" | "traceidratio" | "parentbased_always_on" | "parentbased_always_off" | "parentbased_traceidratio";
  samplerRatio: number;
}

/** `k1=v1,k2=v2` (URL-encoded values), as OTEL_EXPORTER_OTLP_HEADERS is written. */
function otlpHeaders(...lists: Array<string | undefined>): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const list of lists) {
    for (const pair of list?.split(",") ?? []) {
      const at = pair.indexOf("=");
      if (at <= 0) continue;
      headers[decodeURIComponent(pair.slice(0, at).trim()).toLowerCase()] = decodeURIComponent(pair.slice(at + 1).trim());
    }
  }
  return headers;
}

export interface SecurityConfig {
  /** Origins allowed by CORS; empty: no cross-origin browser access at all. */
  corsOrigins: string[];
  /** Schema introspection (`__schema`, `__type`); default off in production. */
  introspection: boolean;
  /** GraphiQL at GET /graphql; default off in production. */
  graphiql: boolean;
  maxDepth: number;
  maxAliases: number;
  maxDirectives: number;
  maxTokens: number;
  maxCost: number;
  /** Operations in one batched HTTP request; 0 turns batching off (a JSON array body is refused). */
  maxBatch: number;
  /** Largest request body accepted, in bytes; larger ones get 413 before being read. */
  maxBodyBytes: number;
  /** Registrations per client (JWT subject, else address) per minute, counted in PostgreSQL; 0 turns the limit off. */
  registrationsPerMinute: number;
  /** When set, only the operations listed in this file run (trusted documents). */
  trustedDocumentsFile: string | undefined;
}

export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
  }
}

/** Traces are on only when an OTLP endpoint is set (and OTEL_SDK_DISABLED is not true). */
function tracingConfig(e: z.infer<typeof envSchema>): TracingConfig | undefined {
  if (e.OTEL_SDK_DISABLED) return undefined;
  const url = e.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? (e.OTEL_EXPORTER_OTLP_ENDPOINT ? `${e.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, "")}/v1/traces` : undefined);
  if (!url) return undefined;
  return {
    url,
    headers: otlpHeaders(e.OTEL_EXPORTER_OTLP_HEADERS, e.OTEL_EXPORTER_OTLP_TRACES_HEADERS),
    serviceName: e.OTEL_SERVICE_NAME ?? "classroom-users",
    sampler: e.OTEL_TRACES_SAMPLER ?? "parentbased_always_on",
    samplerRatio: e.OTEL_TRACES_SAMPLER_ARG ?? 1,
  };
}

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = envSchema.safeParse(env);
  // Authentication is resolved even when other variables are bad, so one run reports every problem.
  const host = (typeof env.HOST === "string" && env.HOST.trim() !== "" ? env.HOST.trim() : undefined) ?? "127.0.0.1";
  let auth: AuthConfig | undefined;
  const authProblems: string[] = [];
  try {
    auth = resolveAuthConfig(env, { host });
  } catch (error) {
    if (!(error instanceof AuthConfigError)) throw error;
    authProblems.push(...error.problems);
  }
  if (!parsed.success) {
    throw new ConfigError([...parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`), ...authProblems]);
  }
  const e = parsed.data;
  const problems: string[] = [...authProblems];

  const remote = e.TENCENTCLOUD_SECRET_ID !== undefined;
  if (remote && !e.TENCENTCLOUD_SECRET_KEY) {
    problems.push("TENCENTCLOUD_SECRET_KEY: required when TENCENTCLOUD_SECRET_ID is set");
  }
  if (!remote && e.TENCENTCLOUD_SECRET_KEY) {
    problems.push("TENCENTCLOUD_SECRET_ID: required when TENCENTCLOUD_SECRET_KEY is set");
  }
  if (!remote && e.LCIC_ENDPOINT) {
    problems.push("TENCENTCLOUD_SECRET_ID: required when LCIC_ENDPOINT is set (without it the built-in emulator is used)");
  }
  let defaultSdkAppId = e.LCIC_SDK_APP_ID ?? e.LCIC_SDK_APP_IDS?.[0];
  if (defaultSdkAppId === undefined) {
    if (remote) problems.push("LCIC_SDK_APP_ID: required when TENCENTCLOUD_SECRET_ID is set (your LCIC application id)");
    defaultSdkAppId = DEFAULT_EMULATOR_SDK_APP_ID;
  }
  const sdkAppIds = [...new Set([defaultSdkAppId, ...(e.LCIC_SDK_APP_IDS ?? [])])];

  let tokenEncryptionKeys: Buffer[] | undefined;
  if (e.TOKEN_ENCRYPTION_KEY) {
    tokenEncryptionKeys = [];
    e.TOKEN_ENCRYPTION_KEY.split(",").forEach((part, index) => {
      const key = Buffer.from(part.trim(), "base64");
      if (key.length !== 32 || !/^[A-Za-z0-9+/]+={0,2}$/.test(part.trim())) {
        problems.push(`TOKEN_ENCRYPTION_KEY: key #${index + 1} must be 32 bytes in base64 (e.g. \`openssl rand -base64 32\`)`);
      } else {
        tokenEncryptionKeys!.push(key);
      }
    });
  }
  const production = e.NODE_ENV === "production";
  if (production && !e.DATABASE_URL) {
    problems.push("DATABASE_URL: required when NODE_ENV=production (the embedded PostgreSQL is for development)");
  }
  if (production && !e.TOKEN_ENCRYPTION_KEY) {
    problems.push("TOKEN_ENCRYPTION_KEY: required when NODE_ENV=production");
  }
  if (problems.length > 0 || !auth) throw new ConfigError(problems);

  return {
    production,
    host: e.HOST ?? "127.0.0.1",
    port: e.PORT ?? 4000,
    dataDir: e.DATA_DIR ?? ".data",
    logLevel: e.LOG_LEVEL ?? "info",
    database: {
      url: e.DATABASE_URL,
      poolSize: e.DATABASE_POOL_SIZE ?? 10,
      migrateOnStart: e.DATABASE_MIGRATE_ON_START,
      unavailableTimeoutMs: e.DATABASE_UNAVAILABLE_TIMEOUT_MS ?? 5000,
    },
    lcic: {
      mode: remote ? "remote" : "emulator",
      endpoint: e.LCIC_ENDPOINT ?? "https://lcic.tencentcloudapi.com",
      secretId: e.TENCENTCLOUD_SECRET_ID,
      secretKey: e.TENCENTCLOUD_SECRET_KEY,
      region: e.LCIC_REGION,
      sdkAppId: defaultSdkAppId,
      sdkAppIds,
      timeoutMs: e.LCIC_TIMEOUT_MS ?? 5000,
      maxQueueMs: e.LCIC_MAX_QUEUE_MS ?? 2000,
      rateLimitScope: e.LCIC_RATE_LIMIT_SCOPE ?? "action",
      circuitFailures: e.LCIC_CIRCUIT_FAILURES ?? 5,
      circuitCooldownMs: e.LCIC_CIRCUIT_COOLDOWN_MS ?? 5000,
    },
    tokenEncryptionKeys,
    reconciler: {
      enabled: e.RECONCILER_ENABLED,
      intervalMs: e.RECONCILER_INTERVAL_MS ?? 15_000,
      staleAfterMs: e.RECONCILER_STALE_AFTER_MS ?? 60_000,
    },
    lookups: {
      missTtlMs: e.LOOKUP_MISS_TTL_MS ?? 60_000,
      fallbacksPerMinute: e.LOOKUP_FALLBACK_RATE_LIMIT_PER_MINUTE ?? 120,
      batch: e.LOOKUP_BATCHING,
    },
    tokenWarming: {
      enabled: e.TOKEN_WARMING,
      refreshAheadHours: e.TOKEN_REFRESH_AHEAD_HOURS ?? 24,
      keepWarmDays: e.TOKEN_KEEP_WARM_DAYS ?? 14,
    },
    auth,
    security: {
      corsOrigins: (e.CORS_ORIGINS ?? []).map((o) => o.replace(/\/$/, "")),
      introspection: e.GRAPHQL_INTROSPECTION ?? !production,
      graphiql: e.GRAPHIQL ?? !production,
      maxDepth: e.GRAPHQL_MAX_DEPTH ?? SECURITY_DEFAULTS.maxDepth,
      maxAliases: e.GRAPHQL_MAX_ALIASES ?? SECURITY_DEFAULTS.maxAliases,
      maxDirectives: e.GRAPHQL_MAX_DIRECTIVES ?? SECURITY_DEFAULTS.maxDirectives,
      maxTokens: e.GRAPHQL_MAX_TOKENS ?? SECURITY_DEFAULTS.maxTokens,
      maxCost: e.GRAPHQL_MAX_COST ?? SECURITY_DEFAULTS.maxCost,
      maxBatch: e.GRAPHQL_MAX_BATCH ?? SECURITY_DEFAULTS.maxBatch,
      maxBodyBytes: e.MAX_BODY_BYTES ?? SECURITY_DEFAULTS.maxBodyBytes,
      registrationsPerMinute: e.REGISTRATION_RATE_LIMIT_PER_MINUTE ?? SECURITY_DEFAULTS.registrationsPerMinute,
      trustedDocumentsFile: e.TRUSTED_DOCUMENTS_FILE,
    },
    httpFastLane: e.HTTP_FAST_LANE,
    graphqlJit: e.GRAPHQL_JIT,
    metrics: { port: e.METRICS_PORT ?? 9464, host: e.METRICS_HOST ?? "127.0.0.1" },
    tracing: tracingConfig(e),
  };
}
