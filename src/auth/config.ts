/**
 * Authentication settings: the AUTH_* environment variables, parsed once into a typed `AuthConfig`.
 *
 * `registerClassroomUser` hands out LCIC login tokens, so the rules here lean towards refusing:
 * - `AUTH_MODE=none` is accepted only when the server listens on loopback, and is the
 *   zero-configuration default only there (only when no key source is configured, and never with
 *   NODE_ENV=production: a production start asks for `none` explicitly or gets `jwt`).
 * - Anywhere else the mode is `jwt`, which needs exactly one key source.
 * - Every problem is collected and reported at once, each naming its variable; values of secrets
 *   never appear in messages.
 */
import { isIP } from "node:net";
import { inspect } from "node:util";
import { z } from "zod";

export const DEFAULT_REGISTER_SCOPE = "classroom-users:register";
export const DEFAULT_READ_SCOPE = "classroom-users:read";
export const DEFAULT_DELETE_SCOPE = "classroom-users:delete";
export const DEFAULT_SUBJECT_CLAIM = "sub";
export const DEFAULT_SCOPES_CLAIM = "scope";
/** Claim naming the one LCIC application a token's self-service is bound to. */
export const DEFAULT_SDK_APP_ID_CLAIM = "sdk_app_id";
export const DEFAULT_CLOCK_TOLERANCE_S = 30;
/** HS256 needs at least a 256-bit key to be as strong as its hash (RFC 7518 §3.2). */
export const MIN_JWT_SECRET_BYTES = 32;

/** Deployment tools often write `NAME=` for "unset"; treat an empty value as absent. */
const optionalString = z.preprocess(
  (value) => (typeof value === "string" && value.trim() === "" ? undefined : value),
  z.string().optional(),
);

function isHttpUrl(value: string): boolean {
  try {
    const { protocol } = new URL(value);
    return protocol === "https:" || protocol === "http:";
  } catch {
    return false;
  }
}

/** A scope name goes into a space-separated claim, so it cannot contain whitespace. */
const scopeName = (fallback: string) =>
  optionalString
    .refine((value) => value === undefined || /^\S+$/.test(value), "must be a single scope name without whitespace")
    .transform((value) => value ?? fallback);

/** A comma-separated list (issuers, audiences); empty items are dropped. */
const commaList = optionalString.transform((value) =>
  value === undefined
    ? undefined
    : value
        .split(",")
        .map((item) => item.trim())
        .filter((item) => item !== ""),
);

/**
 * The raw AUTH_* variables. Per-variable checks only; rules that involve several variables or the
 * listen address live in `resolveAuthConfig`.
 */
export const authConfigSchema = z.object({
  AUTH_MODE: optionalString.pipe(
    z.enum(["jwt", "none"], { errorMap: () => ({ message: "must be 'jwt' or 'none'" }) }).optional(),
  ),
  AUTH_JWKS_URL: optionalString.pipe(
    z.string().refine(isHttpUrl, "must be an absolute http(s) URL").optional(),
  ),
  // Custom messages only: the default ones could echo the value, and this one is a secret.
  AUTH_JWT_SECRET: optionalString.refine(
    (value) => value === undefined || Buffer.byteLength(value, "utf8") >= MIN_JWT_SECRET_BYTES,
    `must be at least ${MIN_JWT_SECRET_BYTES} bytes`,
  ),
  AUTH_ISSUER: commaList,
  AUTH_AUDIENCE: commaList,
  AUTH_SUBJECT_CLAIM: optionalString.transform((value) => value ?? DEFAULT_SUBJECT_CLAIM),
  AUTH_SCOPES_CLAIM: optionalString.transform((value) => value ?? DEFAULT_SCOPES_CLAIM),
  AUTH_SDK_APP_ID_CLAIM: optionalString.transform((value) => value ?? DEFAULT_SDK_APP_ID_CLAIM),
  AUTH_REGISTER_SCOPE: scopeName(DEFAULT_REGISTER_SCOPE),
  AUTH_READ_SCOPE: scopeName(DEFAULT_READ_SCOPE),
  AUTH_DELETE_SCOPE: scopeName(DEFAULT_DELETE_SCOPE),
  AUTH_CLOCK_TOLERANCE_S: optionalString.pipe(
    z.coerce
      .number({ invalid_type_error: "must be a whole number of seconds" })
      .int("must be a whole number of seconds")
      .min(0, "must not be negative")
      .max(300, "must be at most 300 seconds")
      .default(DEFAULT_CLOCK_TOLERANCE_S),
  ),
});

export type AuthEnvironment = z.output<typeof authConfigSchema>;

/**
 * Shared-secret key material. Holding the bytes in a private field keeps them out of
 * `JSON.stringify`, `util.inspect` and therefore out of logged configuration objects.
 */
export class JwtSecret {
  readonly #bytes: Uint8Array;
  constructor(secret: string) {
    this.#bytes = new TextEncoder().encode(secret);
  }
  /** The key bytes, for the verifier only. */
  get bytes(): Uint8Array {
    return this.#bytes;
  }
  toJSON(): string {
    return "[redacted]";
  }
  [inspect.custom](): string {
    return "JwtSecret [redacted]";
  }
}

/** Scope names that grant access to every user; see `rules.ts`. */
export interface AuthScopeNames {
  /** May register any originId. */
  register: string;
  /** May read any user. */
  read: string;
  /** May delete any user (no self-service). */
  delete: string;
}

export interface NoneAuthConfig {
  mode: "none";
  /** The anonymous principal holds both scopes, so the rules need their names in this mode too. */
  scopes: AuthScopeNames;
}

export type JwtKeySource = { kind: "jwks"; url: URL } | { kind: "secret"; secret: JwtSecret };

export interface JwtAuthConfig {
  mode: "jwt";
  keys: JwtKeySource;
  /** Accepted `iss` values; undefined means the claim is not checked. */
  issuer: string[] | undefined;
  /** Accepted `aud` values (any one must match); undefined means the claim is not checked. */
  audience: string[] | undefined;
  /** Claim compared with originId for self-service. */
  subjectClaim: string;
  /** Claim holding granted scopes (space-separated string or array); `scp` is also read when this is `scope`. */
  scopesClaim: string;
  /**
   * Claim naming the LCIC application (SdkAppId) the caller's self-service is bound to; a token
   * without it is bound to LCIC_SDK_APP_ID (see rules.ts).
   */
  sdkAppIdClaim: string;
  clockToleranceS: number;
  scopes: AuthScopeNames;
}

export type AuthConfig = NoneAuthConfig | JwtAuthConfig;

/** Carries every problem, so a caller assembling a larger configuration can merge them into its own list. */
export class AuthConfigError extends Error {
  override readonly name = "AuthConfigError";
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`Invalid authentication configuration:\n${problems.map((problem) => `  - ${problem}`).join("\n")}`);
    this.problems = problems;
  }
}

/**
 * True for addresses only this machine can reach: 127.0.0.0/8, ::1 (also IPv4-mapped and bracketed
 * forms) and the name `localhost`. Wildcards (0.0.0.0, ::) and every other name count as public.
 */
export function isLoopbackHost(host: string): boolean {
  let candidate = host.trim().toLowerCase();
  if (candidate.startsWith("[") && candidate.endsWith("]")) candidate = candidate.slice(1, -1);
  if (candidate === "localhost") return true;
  if (candidate.startsWith("::ffff:")) {
    const mapped = candidate.slice("::ffff:".length);
    if (isIP(mapped) === 4) candidate = mapped;
  }
  const family = isIP(candidate);
  if (family === 4) return candidate.split(".")[0] === "127";
  if (family === 6) return candidate === "::1" || candidate === "0:0:0:0:0:0:0:1";
  return false;
}

/** Parses each variable on its own, so one bad value does not hide problems with the others. */
function parseEachVariable(env: Record<string, string | undefined>): { vars: Partial<AuthEnvironment>; problems: string[] } {
  const vars: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [name, field] of Object.entries(authConfigSchema.shape) as [keyof AuthEnvironment, z.ZodTypeAny][]) {
    const result = field.safeParse(env[name]);
    if (result.success) vars[name] = result.data;
    else problems.push(...result.error.issues.map((issue) => `${name}: ${issue.message}`));
  }
  return { vars: vars as Partial<AuthEnvironment>, problems };
}

const isSet = (value: string | undefined): value is string => value !== undefined && value.trim() !== "";

/**
 * Parses the AUTH_* variables for a server that will listen on `listen.host`.
 * Throws `AuthConfigError` listing every problem, each prefixed with the variable it concerns.
 */
export function resolveAuthConfig(env: Record<string, string | undefined>, listen: { host: string }): AuthConfig {
  const { vars, problems } = parseEachVariable(env);
  const loopback = isLoopbackHost(listen.host);
  // Presence is judged on the raw values so that "both set" is reported even when one is also malformed.
  const jwksUrlSet = isSet(env.AUTH_JWKS_URL);
  const secretSet = isSet(env.AUTH_JWT_SECRET);
  const modeValid = !isSet(env.AUTH_MODE) || vars.AUTH_MODE !== undefined;

  // Unset mode: `none` only for a bare loopback setup outside production; configuring a key source
  // is taken as asking for jwt, and so is NODE_ENV=production (where `none` must be asked for by name).
  const production = env.NODE_ENV?.trim() === "production";
  const mode = vars.AUTH_MODE ?? (loopback && !production && !jwksUrlSet && !secretSet ? "none" : "jwt");

  if (modeValid && mode === "none" && !loopback) {
    problems.push(
      `AUTH_MODE: 'none' is allowed only when listening on loopback (127.0.0.0/8, ::1, localhost), ` +
        `but HOST is '${listen.host}'; use AUTH_MODE=jwt with AUTH_JWKS_URL or AUTH_JWT_SECRET`,
    );
  }

  if (modeValid && mode === "jwt") {
    const defaulted =
      vars.AUTH_MODE !== undefined
        ? ""
        : production && loopback
          ? " (AUTH_MODE defaults to 'jwt' with NODE_ENV=production; set AUTH_MODE=none explicitly to run without authentication)"
          : ` (AUTH_MODE defaults to 'jwt' on non-loopback HOST '${listen.host}')`;
    if (jwksUrlSet && secretSet) {
      problems.push("AUTH_JWKS_URL / AUTH_JWT_SECRET: set exactly one of them, not both");
    } else if (!jwksUrlSet && !secretSet) {
      problems.push(`AUTH_JWKS_URL / AUTH_JWT_SECRET: jwt mode needs exactly one of them${defaulted}`);
    }
    if (jwksUrlSet && vars.AUTH_JWKS_URL !== undefined) {
      // Keys fetched over plain HTTP could be swapped by anyone on the path, who could then mint tokens.
      const url = new URL(vars.AUTH_JWKS_URL);
      if (url.protocol !== "https:" && !isLoopbackHost(url.hostname)) {
        problems.push("AUTH_JWKS_URL: must use https unless it points at a loopback address");
      }
    }
    // A JWKS usually belongs to an identity provider serving many APIs; without an audience check
    // a token minted for any of them would be accepted here.
    if (jwksUrlSet && !secretSet && !vars.AUTH_AUDIENCE?.length) {
      problems.push("AUTH_AUDIENCE: required with AUTH_JWKS_URL, so tokens issued for other APIs are refused");
    }
  }

  if (problems.length > 0) throw new AuthConfigError(problems);
  // No problems means every variable parsed, so the defaults below are never used; they only satisfy the types.
  const scopes: AuthScopeNames = {
    register: vars.AUTH_REGISTER_SCOPE ?? DEFAULT_REGISTER_SCOPE,
    read: vars.AUTH_READ_SCOPE ?? DEFAULT_READ_SCOPE,
    delete: vars.AUTH_DELETE_SCOPE ?? DEFAULT_DELETE_SCOPE,
  };
  if (mode === "none") return { mode: "none", scopes };

  const keys: JwtKeySource =
    vars.AUTH_JWKS_URL !== undefined
      ? { kind: "jwks", url: new URL(vars.AUTH_JWKS_URL) }
      : { kind: "secret", secret: new JwtSecret(vars.AUTH_JWT_SECRET ?? "") };
  return {
    mode: "jwt",
    keys,
    issuer: vars.AUTH_ISSUER?.length ? vars.AUTH_ISSUER : undefined,
    audience: vars.AUTH_AUDIENCE?.length ? vars.AUTH_AUDIENCE : undefined,
    subjectClaim: vars.AUTH_SUBJECT_CLAIM ?? DEFAULT_SUBJECT_CLAIM,
    scopesClaim: vars.AUTH_SCOPES_CLAIM ?? DEFAULT_SCOPES_CLAIM,
    sdkAppIdClaim: vars.AUTH_SDK_APP_ID_CLAIM ?? DEFAULT_SDK_APP_ID_CLAIM,
    clockToleranceS: vars.AUTH_CLOCK_TOLERANCE_S ?? DEFAULT_CLOCK_TOLERANCE_S,
    scopes,
  };
}
