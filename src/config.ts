import { z } from "zod";

/**
 * Every environment variable the service reads, parsed once. A bad value stops start-up with a
 * message naming each offending variable (all of them at once, not the first only).
 */

const DEFAULT_EMULATOR_SDK_APP_ID = 1400000001;

const emptyAsUndefined = (value: unknown) => (typeof value === "string" && value.trim() === "" ? undefined : value);
const optionalString = z.preprocess(emptyAsUndefined, z.string().trim().optional());
const boolFlag = (defaultValue: boolean) =>
  z.preprocess(
    emptyAsUndefined,
    z
      .enum(["true", "false", "1", "0", "yes", "no"], { message: "must be true or false" })
      .transform((v) => v === "true" || v === "1" || v === "yes")
      .optional(),
  ).transform((v) => v ?? defaultValue);
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
  LCIC_SDK_APP_IDS: z.preprocess(
    (v) => (typeof v === "string" && v.trim() !== "" ? v.split(",").map((s) => s.trim()).filter(Boolean) : undefined),
    z.array(sdkAppId).optional(),
  ),
  LCIC_REGION: optionalString,
  LCIC_TIMEOUT_MS: intInRange(100, 120_000),
  LCIC_MAX_QUEUE_MS: intInRange(0, 60_000),
  TOKEN_ENCRYPTION_KEY: optionalString,
  RECONCILER_ENABLED: boolFlag(true),
  RECONCILER_INTERVAL_MS: intInRange(100, 3_600_000),
  RECONCILER_STALE_AFTER_MS: intInRange(100, 86_400_000),
});

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
}

export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
  }
}

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`));
  }
  const e = parsed.data;
  const problems: string[] = [];

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
  if (problems.length > 0) throw new ConfigError(problems);

  return {
    production,
    host: e.HOST ?? "127.0.0.1",
    port: e.PORT ?? 4000,
    dataDir: e.DATA_DIR ?? ".data",
    logLevel: e.LOG_LEVEL ?? "info",
    database: { url: e.DATABASE_URL, poolSize: e.DATABASE_POOL_SIZE ?? 10, migrateOnStart: e.DATABASE_MIGRATE_ON_START },
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
    },
    tokenEncryptionKeys,
    reconciler: {
      enabled: e.RECONCILER_ENABLED,
      intervalMs: e.RECONCILER_INTERVAL_MS ?? 15_000,
      staleAfterMs: e.RECONCILER_STALE_AFTER_MS ?? 60_000,
    },
  };
}
