// The cache of verified tokens: one signature check per token instead of one per request, without
// ever accepting what a fresh verification would refuse (past exp, key removed from the key set).
import { describe, expect, it } from "vitest";
import { resolveAuthConfig } from "../../src/auth/config.js";
import { AuthenticationError, createAuthenticator, type Authenticator } from "../../src/auth/jwt.js";
import { VerifiedTokenCache } from "../../src/auth/verified-token-cache.js";
import { generateSigningKey, signToken, startJwksServer } from "./support/jwks-server.js";

const SECRET = "a-shared-secret-of-at-least-32-bytes!!";
const hs256 = { privateKey: new TextEncoder().encode(SECRET), alg: "HS256" };
const ISSUER = "https://idp.test/";
const AUDIENCE = "classroom-users";
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function refusalMessage(authenticator: Authenticator, token: string): Promise<string> {
  const error = await authenticator.authenticate(`Bearer ${token}`).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(AuthenticationError);
  return (error as AuthenticationError).message;
}

describe("VerifiedTokenCache", () => {
  it("keeps an entry until the token's exp and not a millisecond longer", () => {
    let now = 1_000_000_000_000;
    const cache = new VerifiedTokenCache({ now: () => now });
    const exp = now / 1000 + 60;
    cache.set("token-a", { sub: "a", exp });
    expect(cache.get("token-a")).toMatchObject({ sub: "a" });
    now = exp * 1000 - 1;
    expect(cache.get("token-a")).toMatchObject({ sub: "a" });
    now = exp * 1000;
    expect(cache.get("token-a")).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it("does not keep tokens without exp or already expired", () => {
    const now = 1_000_000_000_000;
    const cache = new VerifiedTokenCache({ now: () => now });
    cache.set("no-exp", { sub: "a" });
    cache.set("expired", { sub: "a", exp: now / 1000 - 1 });
    expect(cache.size).toBe(0);
  });

  it("stays within its size, dropping the oldest entries first", () => {
    const cache = new VerifiedTokenCache({ maxEntries: 3 });
    const exp = Math.floor(Date.now() / 1000) + 3600;
    for (const name of ["t1", "t2", "t3", "t4", "t5"]) cache.set(name, { sub: name, exp });
    expect(cache.size).toBe(3);
    expect(cache.get("t1")).toBeUndefined();
    expect(cache.get("t2")).toBeUndefined();
    expect(cache.get("t5")).toMatchObject({ sub: "t5" });
    cache.clear();
    expect(cache.size).toBe(0);
  });

  it("tells tokens apart that differ in one character", () => {
    const cache = new VerifiedTokenCache();
    const exp = Math.floor(Date.now() / 1000) + 3600;
    cache.set("header.payload.signatureA", { sub: "a", exp });
    expect(cache.get("header.payload.signatureB")).toBeUndefined();
  });
});

describe("authenticator with the cache", () => {
  it("verifies a token once and serves the same principal from the cache; refusals are not cached", async () => {
    const cache = new VerifiedTokenCache();
    const authenticator = createAuthenticator(resolveAuthConfig({ AUTH_JWT_SECRET: SECRET }, { host: "0.0.0.0" }), { verifiedTokenCache: cache });
    const token = await signToken(hs256, { scope: "classroom-users:read" }, { subject: "teacher-1" });
    const first = await authenticator.authenticate(`Bearer ${token}`);
    const second = await authenticator.authenticate(`Bearer ${token}`);
    expect(cache.size).toBe(1);
    expect(second).toEqual(first);
    expect(second?.subject).toBe("teacher-1");
    expect([...(second?.scopes ?? [])]).toEqual(["classroom-users:read"]);

    // A forged variant of a cached token (same header and payload, other signature) is checked, and refused.
    const [header, payload] = token.split(".");
    const forged = `${header}.${payload}.${"A".repeat(43)}`;
    expect(await refusalMessage(authenticator, forged)).toBe("Invalid token signature");
    expect(await refusalMessage(authenticator, forged)).toBe("Invalid token signature");
    expect(cache.size).toBe(1);
  });

  it("answers a cached token without waiting, and leaves everything else (and every refusal) to the full check", async () => {
    let now = Date.now();
    const cache = new VerifiedTokenCache({ now: () => now });
    const authenticator = createAuthenticator(resolveAuthConfig({ AUTH_JWT_SECRET: SECRET }, { host: "0.0.0.0" }), { verifiedTokenCache: cache });
    const token = await signToken(hs256, { scope: "classroom-users:read" }, { subject: "teacher-2", expiresIn: 60 });
    expect(authenticator.authenticateKnown?.(`Bearer ${token}`)).toBeUndefined(); // not verified yet
    const verified = await authenticator.authenticate(`Bearer ${token}`);
    const known = authenticator.authenticateKnown?.(`Bearer ${token}`);
    expect(known).toBe(verified);
    expect(known?.subject).toBe("teacher-2");
    // Malformed, other schemes, forged signatures, no header: undefined (the full path refuses them).
    const [header, payload] = token.split(".");
    for (const value of [null, undefined, "", token, `Basic ${token}`, `Bearer ${header}.${payload}.${"A".repeat(43)}`, `Bearer ${token} extra`]) {
      expect(authenticator.authenticateKnown?.(value)).toBeUndefined();
    }
    // Past its exp the cache no longer knows it.
    now += 61_000;
    expect(authenticator.authenticateKnown?.(`Bearer ${token}`)).toBeUndefined();
    // AUTH_MODE=none knows everyone, header or not.
    const none = createAuthenticator(resolveAuthConfig({ AUTH_MODE: "none" }, { host: "127.0.0.1" }));
    expect(none.authenticateKnown?.(null)).toMatchObject({ anonymous: true });
  });

  it("refuses a cached token once its exp has passed", async () => {
    const authenticator = createAuthenticator(resolveAuthConfig({ AUTH_JWT_SECRET: SECRET, AUTH_CLOCK_TOLERANCE_S: "0" }, { host: "0.0.0.0" }));
    // exp is whole seconds counted from the current second: exp = floor(now) + 3 is 2-3 s away, enough
    // for the two checks below on a loaded machine. (With + 1 it could be 1 ms away: signed at x.999 s,
    // exp x + 1, and CI once saw the first check already refuse it.)
    const token = await signToken(hs256, {}, { subject: "s", expiresIn: 3 });
    await expect(authenticator.authenticate(`Bearer ${token}`)).resolves.toMatchObject({ subject: "s" });
    await expect(authenticator.authenticate(`Bearer ${token}`)).resolves.toMatchObject({ subject: "s" });
    const { exp } = JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString()) as { exp: number };
    await sleep(exp * 1000 - Date.now() + 20);
    expect(await refusalMessage(authenticator, token)).toBe("Token expired");
  });

  it("forgets tokens when the key set changes, even when the change was fetched for another token", async () => {
    const [oldKey, newKey] = await Promise.all([generateSigningKey("ES256", "old"), generateSigningKey("ES256", "new")]);
    const server = await startJwksServer([oldKey.publicJwk]);
    try {
      const cache = new VerifiedTokenCache();
      const config = resolveAuthConfig({ AUTH_JWKS_URL: server.url.href, AUTH_ISSUER: ISSUER, AUTH_AUDIENCE: AUDIENCE }, { host: "0.0.0.0" });
      // A long cache age: the key set is refetched only because a token names an unknown kid.
      const authenticator = createAuthenticator(config, { jwksCooldownMs: 0, jwksCacheMaxAgeMs: 600_000, verifiedTokenCache: cache });
      const claims = { issuer: ISSUER, audience: AUDIENCE, subject: "s" };
      const oldToken = await signToken(oldKey, {}, claims);
      await expect(authenticator.authenticate(`Bearer ${oldToken}`)).resolves.toMatchObject({ subject: "s" });
      expect(cache.size).toBe(1);

      // The old key is withdrawn (compromised); a token with the new kid makes us refetch.
      server.publish([newKey.publicJwk]);
      const newToken = await signToken(newKey, {}, claims);
      await expect(authenticator.authenticate(`Bearer ${newToken}`)).resolves.toMatchObject({ subject: "s" });
      expect(server.fetchCount()).toBe(2);
      expect(await refusalMessage(authenticator, oldToken)).toBe("Token signing key not recognised");
    } finally {
      await server.close();
    }
  });

  it("with the cache off, verifies every time", async () => {
    const authenticator = createAuthenticator(resolveAuthConfig({ AUTH_JWT_SECRET: SECRET }, { host: "0.0.0.0" }), { verifiedTokenCache: false });
    const token = await signToken(hs256, {}, { subject: "s" });
    await expect(authenticator.authenticate(`Bearer ${token}`)).resolves.toMatchObject({ subject: "s" });
  });
});
