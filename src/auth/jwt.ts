/**
 * Turns an HTTP Authorization header into a `Principal`, or refuses it.
 *
 * Refusals are `AuthenticationError` (code UNAUTHENTICATED, a client-safe message, never the token).
 * A key server that cannot be reached is not the caller's fault, so that is a separate
 * `AuthenticationUnavailableError` the server can answer with 503 instead of 401.
 */
import {
  createRemoteJWKSet,
  customFetch,
  errors as joseErrors,
  jwtVerify,
  type FetchImplementation,
  type JWTPayload,
  type JWTVerifyOptions,
} from "jose";
import type { AuthConfig, JwtAuthConfig } from "./config.js";
import { VerifiedTokenCache } from "./verified-token-cache.js";

export type { JWTPayload } from "jose";

export interface Principal {
  /** Value of the configured subject claim; compared with originId for self-service. */
  subject: string | undefined;
  scopes: ReadonlySet<string>;
  /**
   * The LCIC application named by the token's AUTH_SDK_APP_ID_CLAIM claim; undefined when the token
   * has none (self-service is then bound to LCIC_SDK_APP_ID, see rules.ts).
   */
  sdkAppId: number | undefined;
  /** True only in AUTH_MODE=none, where nobody is authenticated and everything is allowed. */
  anonymous: boolean;
  claims: JWTPayload;
}

export type AuthenticationErrorCode = "UNAUTHENTICATED";

export class AuthenticationError extends Error {
  override readonly name = "AuthenticationError";
  readonly code: AuthenticationErrorCode = "UNAUTHENTICATED";
  /** `message` is safe to show to the client; `cause` (jose's error) is for logs and never holds the token. */
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The key set could not be fetched (network, timeout, bad response): retry later, the token may be fine. */
export class AuthenticationUnavailableError extends Error {
  override readonly name = "AuthenticationUnavailableError";
  readonly code = "AUTH_UNAVAILABLE" as const;
  constructor(options?: { cause?: unknown }) {
    super("Authentication is temporarily unavailable", options);
  }
}

export interface Authenticator {
  /**
   * Resolves to the caller's principal, or rejects with `AuthenticationError` /
   * `AuthenticationUnavailableError`. Resolves to null never in the current modes; the type allows
   * it so callers keep handling "no principal" explicitly.
   */
  authenticate(authorizationHeader: string | null | undefined): Promise<Principal | null>;
  /**
   * The principal when it is known without waiting (AUTH_MODE=none; a token already verified and
   * cached), else undefined: then `authenticate` decides (and refuses). Saves a request the
   * promises of the full path; never refuses by itself.
   */
  authenticateKnown?(authorizationHeader: string | null | undefined): Principal | undefined;
}

export interface AuthenticatorOptions {
  /** Used to fetch the JWKS; defaults to the global fetch. Must honour the abort signal, which is how the timeout works. */
  fetch?: FetchImplementation;
  /** Abort a JWKS request after this long. Default 5 s. */
  jwksTimeoutMs?: number;
  /**
   * Minimum time between JWKS fetches triggered by an unknown `kid`. Default 30 s: it limits how
   * often callers with made-up key ids can make us hit the identity provider, while still picking up
   * a rotated key within seconds of its first use.
   */
  jwksCooldownMs?: number;
  /** Refetch the JWKS after this long even when every kid is known, so removed keys stop working. Default 10 min. */
  jwksCacheMaxAgeMs?: number;
  /**
   * Tokens already verified (see verified-token-cache.ts); `false` verifies every request.
   * Default: a cache of 10,000 tokens.
   */
  verifiedTokenCache?: VerifiedTokenCache | false;
}

/** Asymmetric algorithms only: with a public key set, an HS* token would be "signed" with public data. */
export const JWKS_ALGORITHMS = [
  "RS256", "RS384", "RS512",
  "PS256", "PS384", "PS512",
  "ES256", "ES384", "ES512",
  "EdDSA", "Ed25519",
] as const;
export const SECRET_ALGORITHMS = ["HS256", "HS384", "HS512"] as const;

/** Far larger than any real access token; refuses junk before any parsing or key lookup. */
const MAX_TOKEN_LENGTH = 16 * 1024;
/** RFC 6750 b64token; a JWT is three base64url parts joined by dots. */
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

export function createAuthenticator(config: AuthConfig, options: AuthenticatorOptions = {}): Authenticator {
  if (config.mode === "none") {
    const principal: Principal = Object.freeze({
      subject: undefined,
      scopes: new Set([config.scopes.register, config.scopes.read, config.scopes.delete]) as ReadonlySet<string>,
      sdkAppId: undefined,
      anonymous: true,
      claims: Object.freeze({}),
    });
    // The header is ignored on purpose: in this mode there is nothing to check it against.
    return { authenticate: async () => principal, authenticateKnown: () => principal };
  }
  return createJwtAuthenticator(config, options);
}

function createJwtAuthenticator(config: JwtAuthConfig, options: AuthenticatorOptions): Authenticator {
  const verifyOptions: JWTVerifyOptions = {
    algorithms: config.keys.kind === "jwks" ? [...JWKS_ALGORITHMS] : [...SECRET_ALGORITHMS],
    issuer: config.issuer,
    audience: config.audience,
    clockTolerance: config.clockToleranceS,
    // A token without expiry would be a permanent credential for LCIC login tokens.
    requiredClaims: ["exp"],
  };

  let verify: (token: string) => Promise<JWTPayload>;
  let keySet: RemoteJWKSet | undefined;
  if (config.keys.kind === "jwks") {
    const remote = createRemoteJWKSet(config.keys.url, {
      timeoutDuration: options.jwksTimeoutMs ?? 5_000,
      cooldownDuration: options.jwksCooldownMs ?? 30_000,
      cacheMaxAge: options.jwksCacheMaxAgeMs ?? 600_000,
      ...(options.fetch ? { [customFetch]: options.fetch } : {}),
    });
    keySet = remote;
    verify = async (token) => (await jwtVerify(token, remote, verifyOptions)).payload;
  } else {
    const secret = config.keys.secret.bytes;
    verify = async (token) => (await jwtVerify(token, secret, verifyOptions)).payload;
  }
  const cache = options.verifiedTokenCache ?? new VerifiedTokenCache();
  if (cache) verify = cachedVerification(verify, cache, keySet);

  // One principal per verified claims object: a cached token's requests share it (it is read-only).
  const principals = new WeakMap<JWTPayload, Principal>();
  const principalOf = (claims: JWTPayload): Principal => {
    let principal = principals.get(claims);
    if (!principal) {
      principal = Object.freeze({
        subject: subjectOf(claims, config.subjectClaim),
        scopes: scopesOf(claims, config.scopesClaim),
        sdkAppId: sdkAppIdOf(claims, config.sdkAppIdClaim),
        anonymous: false,
        claims,
      });
      principals.set(claims, principal);
    }
    return principal;
  };

  return {
    async authenticate(authorizationHeader) {
      const token = bearerToken(authorizationHeader);
      let claims: JWTPayload;
      try {
        claims = await verify(token);
      } catch (error) {
        throw toAuthenticationError(error);
      }
      return principalOf(claims);
    },
    authenticateKnown(authorizationHeader) {
      // Only the cache's answer for a well-formed header; anything else (and every refusal) is the full path's.
      if (!cache || (keySet && !keySet.fresh) || typeof authorizationHeader !== "string") return undefined;
      const match = BEARER.exec(authorizationHeader);
      if (!match?.[1] || authorizationHeader.length > MAX_TOKEN_LENGTH) return undefined;
      const claims = cache.get(match[1]);
      return claims ? principalOf(claims) : undefined;
    },
  };
}

type RemoteJWKSet = ReturnType<typeof createRemoteJWKSet>;

/**
 * Verification through `cache`. With a remote key set, a cached token is used only while the key set
 * is fresh (jose refetches it after `cacheMaxAge`, which happens only during a full verification), and
 * after every full verification the key set is compared with the one before: when it changed (a key
 * added, rotated or removed) the cache is emptied, and a token verified while it changed is not cached.
 */
function cachedVerification(
  verify: (token: string) => Promise<JWTPayload>,
  cache: VerifiedTokenCache,
  keySet: RemoteJWKSet | undefined,
): (token: string) => Promise<JWTPayload> {
  let keys = keySet ? fingerprint(keySet) : "";
  let generation = 0;
  const noteKeySet = () => {
    if (!keySet) return;
    const now = fingerprint(keySet);
    if (now === keys) return;
    // The first key set fetched is no change: nothing was cached before it.
    if (keys !== "") {
      generation++;
      cache.clear();
    }
    keys = now;
  };
  return async (token) => {
    if (!keySet || keySet.fresh) {
      const claims = cache.get(token);
      if (claims) return claims;
    }
    const before = generation;
    let claims: JWTPayload;
    try {
      claims = await verify(token);
    } finally {
      noteKeySet();
    }
    if (generation === before) cache.set(token, claims);
    return claims;
  };
}

/** The public keys as fetched; only compared for change. */
function fingerprint(keySet: RemoteJWKSet): string {
  const jwks = keySet.jwks();
  return jwks ? JSON.stringify(jwks.keys) : "";
}

function bearerToken(header: string | null | undefined): string {
  if (header === undefined || header === null || header.trim() === "") {
    throw new AuthenticationError("Missing bearer token");
  }
  if (header.length > MAX_TOKEN_LENGTH) throw new AuthenticationError("Token too large");
  const scheme = header.trim().split(/\s+/, 1)[0] ?? "";
  if (scheme.toLowerCase() !== "bearer") {
    throw new AuthenticationError("Authorization header must use the Bearer scheme");
  }
  const match = BEARER.exec(header.trim());
  if (!match?.[1]) throw new AuthenticationError("Malformed authorization header");
  return match[1];
}

/** Maps jose's errors to client-safe messages; anything not about the token itself means the key source failed. */
function toAuthenticationError(error: unknown): AuthenticationError | AuthenticationUnavailableError {
  const cause = { cause: error };
  if (error instanceof joseErrors.JWTExpired) return new AuthenticationError("Token expired", cause);
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    switch (error.claim) {
      case "nbf":
        return new AuthenticationError("Token not yet valid", cause);
      case "iss":
        return new AuthenticationError("Token issuer not accepted", cause);
      case "aud":
        return new AuthenticationError("Token audience not accepted", cause);
      case "exp":
        return new AuthenticationError("Token has no valid expiry", cause);
      default:
        return new AuthenticationError("Token claims not accepted", cause);
    }
  }
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) {
    return new AuthenticationError("Invalid token signature", cause);
  }
  if (error instanceof joseErrors.JOSEAlgNotAllowed || error instanceof joseErrors.JOSENotSupported) {
    return new AuthenticationError("Token algorithm not accepted", cause);
  }
  if (error instanceof joseErrors.JWKSNoMatchingKey || error instanceof joseErrors.JWKSMultipleMatchingKeys) {
    return new AuthenticationError("Token signing key not recognised", cause);
  }
  if (error instanceof joseErrors.JWSInvalid || error instanceof joseErrors.JWTInvalid) {
    return new AuthenticationError("Malformed token", cause);
  }
  // Timeouts, connection errors, non-200 or invalid JWKS documents: our dependency failed, not the caller.
  return new AuthenticationUnavailableError(cause);
}

function subjectOf(claims: JWTPayload, claim: string): string | undefined {
  const value = claims[claim];
  return typeof value === "string" && value !== "" ? value : undefined;
}

/**
 * The application claim, as a number or a string of digits. A claim that is present but names no
 * application refuses the token: falling back to the default application would widen it.
 */
function sdkAppIdOf(claims: JWTPayload, claim: string): number | undefined {
  const value = claims[claim];
  if (value === undefined) return undefined;
  const id = typeof value === "number" ? value : typeof value === "string" && /^\d{1,15}$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(id) || id <= 0) throw new AuthenticationError("Token application claim is not an LCIC application id");
  return id;
}

/**
 * Scopes from the configured claim, as a space-separated string (RFC 8693 `scope`) or an array
 * (common in other providers). With the default `scope` claim, `scp` (Azure AD, Okta) is read too.
 * Values of any other type grant nothing.
 */
export function scopesOf(claims: JWTPayload, claim: string): ReadonlySet<string> {
  const scopes = new Set<string>();
  const add = (value: unknown) => {
    if (typeof value === "string") {
      for (const scope of value.split(/\s+/)) if (scope !== "") scopes.add(scope);
    } else if (Array.isArray(value)) {
      for (const item of value) if (typeof item === "string" && item !== "") scopes.add(item);
    }
  };
  add(claims[claim]);
  if (claim === "scope") add(claims.scp);
  return scopes;
}
