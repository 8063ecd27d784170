import { createServer as createNetServer, type AddressInfo, type Socket } from "node:net";
import { exportJWK, exportSPKI } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveAuthConfig } from "../../src/auth/config.js";
import {
  AuthenticationError,
  AuthenticationUnavailableError,
  createAuthenticator,
  type Authenticator,
} from "../../src/auth/jwt.js";
import {
  generateSigningKey,
  signToken,
  startJwksServer,
  unsecuredToken,
  type JwksServer,
  type SigningKey,
} from "./support/jwks-server.js";

const ISSUER = "https://idp.test/";
const AUDIENCE = "classroom-users";

function jwksConfig(url: URL, extra: Record<string, string> = {}) {
  return resolveAuthConfig(
    { AUTH_JWKS_URL: url.href, AUTH_ISSUER: ISSUER, AUTH_AUDIENCE: AUDIENCE, ...extra },
    { host: "0.0.0.0" },
  );
}

/** Awaits a refusal and returns it, checking that the token never leaks into the message. */
async function refusal(authenticator: Authenticator, header: string | null | undefined): Promise<AuthenticationError> {
  const error = await authenticator.authenticate(header).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(AuthenticationError);
  const authError = error as AuthenticationError;
  expect(authError.code).toBe("UNAUTHENTICATED");
  const token = header?.split(" ").at(-1);
  if (token && token.length > 10) expect(authError.message).not.toContain(token);
  return authError;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("JWKS mode", () => {
  let server: JwksServer;
  let rsa: SigningKey;
  let ec: SigningKey;
  let stranger: SigningKey;
  let authenticator: Authenticator;
  const valid = { issuer: ISSUER, audience: AUDIENCE, subject: "teacher-42" };

  beforeAll(async () => {
    [rsa, ec, stranger] = await Promise.all([
      generateSigningKey("RS256", "rsa-1"),
      generateSigningKey("ES256", "ec-1"),
      generateSigningKey("RS256", "rsa-1"), // same kid as `rsa`, different key: a forger's
    ]);
    server = await startJwksServer([rsa.publicJwk, ec.publicJwk]);
    // Cooldown 0: an unknown kid always triggers a refetch, which the unknown-kid test observes.
    authenticator = createAuthenticator(jwksConfig(server.url), { jwksCooldownMs: 0 });
  });
  afterAll(() => server.close());

  it("accepts RS256 and ES256 tokens from the key set and reads subject and scopes", async () => {
    for (const key of [rsa, ec]) {
      const token = await signToken(key, { scope: "classroom-users:read other" }, valid);
      const principal = await authenticator.authenticate(`Bearer ${token}`);
      expect(principal).toMatchObject({ subject: "teacher-42", anonymous: false });
      expect([...(principal?.scopes ?? [])].sort()).toEqual(["classroom-users:read", "other"]);
      expect(principal?.claims.iss).toBe(ISSUER);
    }
  });

  it("refuses a missing or empty header without fetching keys", async () => {
    const before = server.fetchCount();
    for (const header of [undefined, null, "", "   "]) {
      expect((await refusal(authenticator, header)).message).toBe("Missing bearer token");
    }
    expect(server.fetchCount()).toBe(before);
  });

  it("refuses other schemes and malformed bearer headers", async () => {
    expect((await refusal(authenticator, "Basic dXNlcjpwYXNz")).message).toBe(
      "Authorization header must use the Bearer scheme",
    );
    for (const header of ["Bearer", "Bearer ", "Bearer a b", "Bearer tok\u00e9n", "Bearer,abc"]) {
      const message = (await refusal(authenticator, header)).message;
      expect(["Malformed authorization header", "Authorization header must use the Bearer scheme"]).toContain(message);
    }
    expect((await refusal(authenticator, "Bearer not-a-jwt")).message).toBe("Malformed token");
  });

  it("refuses an expired token (beyond the clock tolerance)", async () => {
    const token = await signToken(rsa, {}, { ...valid, expiresIn: -120 });
    expect((await refusal(authenticator, `Bearer ${token}`)).message).toBe("Token expired");
  });

  it("refuses a token that is not yet valid", async () => {
    const token = await signToken(rsa, {}, { ...valid, notBefore: 120 });
    expect((await refusal(authenticator, `Bearer ${token}`)).message).toBe("Token not yet valid");
  });

  it("refuses a token without expiry", async () => {
    const token = await signToken(rsa, {}, { ...valid, expiresIn: null });
    expect((await refusal(authenticator, `Bearer ${token}`)).message).toBe("Token has no valid expiry");
  });

  it("refuses a forged signature (right kid, wrong key)", async () => {
    const token = await signToken(stranger, {}, valid);
    expect((await refusal(authenticator, `Bearer ${token}`)).message).toBe("Invalid token signature");
  });

  it("refuses a tampered payload", async () => {
    const token = await signToken(rsa, { scope: "nothing" }, valid);
    const [header, , signature] = token.split(".");
    const payload = Buffer.from(JSON.stringify({ ...valid, sub: "admin", scope: "classroom-users:register" })).toString(
      "base64url",
    );
    expect((await refusal(authenticator, `Bearer ${header}.${payload}.${signature}`)).message).toBe(
      "Invalid token signature",
    );
  });

  it("refuses a wrong issuer and a wrong audience", async () => {
    const wrongIssuer = await signToken(rsa, {}, { ...valid, issuer: "https://evil.test/" });
    expect((await refusal(authenticator, `Bearer ${wrongIssuer}`)).message).toBe("Token issuer not accepted");
    const wrongAudience = await signToken(rsa, {}, { ...valid, audience: "another-api" });
    expect((await refusal(authenticator, `Bearer ${wrongAudience}`)).message).toBe("Token audience not accepted");
    const noAudience = await signToken(rsa, {}, { issuer: ISSUER, subject: "x" });
    expect((await refusal(authenticator, `Bearer ${noAudience}`)).message).toBe("Token audience not accepted");
  });

  it("refuses an unsecured `alg: none` token without fetching keys", async () => {
    const before = server.fetchCount();
    const now = Math.floor(Date.now() / 1000);
    const token = unsecuredToken({ iss: ISSUER, aud: AUDIENCE, sub: "admin", exp: now + 3600 }, { kid: "rsa-1" });
    expect((await refusal(authenticator, `Bearer ${token}`)).message).toBe("Token algorithm not accepted");
    expect(server.fetchCount()).toBe(before);
  });

  it("refuses HS256 tokens signed with the public key (algorithm confusion)", async () => {
    const pem = await exportSPKI(rsa.publicKey);
    const jwkText = JSON.stringify(await exportJWK(rsa.publicKey));
    for (const material of [pem, jwkText, rsa.publicJwk.n ?? ""]) {
      const token = await signToken(
        { privateKey: new TextEncoder().encode(material), alg: "HS256", kid: "rsa-1" },
        { scope: "classroom-users:register" },
        valid,
      );
      expect((await refusal(authenticator, `Bearer ${token}`)).message).toBe("Token algorithm not accepted");
    }
  });

  it("refuses an unknown kid after refetching the key set once", async () => {
    const unknown = await generateSigningKey("ES256", "never-published");
    const before = server.fetchCount();
    const token = await signToken(unknown, {}, valid);
    expect((await refusal(authenticator, `Bearer ${token}`)).message).toBe("Token signing key not recognised");
    expect(server.fetchCount()).toBe(before + 1);
  });
});

describe("JWKS key rotation", () => {
  it("picks up a new kid after the cooldown and drops a removed kid when the cache expires", async () => {
    const [oldKey, newKey] = await Promise.all([generateSigningKey("ES256", "2024"), generateSigningKey("ES256", "2025")]);
    const server = await startJwksServer([oldKey.publicJwk]);
    try {
      // Real time, so margins a loaded CI machine does not eat: the refusal "within the cooldown" below
      // comes right after the first fetch, well inside 1 s (it was 100 ms: a stall that long would have
      // let the unknown kid refetch and the refusal's expectation fail).
      const cooldownMs = 1_000;
      const cacheMaxAgeMs = 2_000;
      const authenticator = createAuthenticator(jwksConfig(server.url), { jwksCooldownMs: cooldownMs, jwksCacheMaxAgeMs: cacheMaxAgeMs });
      const claims = { issuer: ISSUER, audience: AUDIENCE, subject: "s" };
      const oldToken = await signToken(oldKey, {}, claims);
      const newToken = await signToken(newKey, {}, claims);

      await expect(authenticator.authenticate(`Bearer ${oldToken}`)).resolves.toMatchObject({ subject: "s" });
      expect(server.fetchCount()).toBe(1);

      server.publish([oldKey.publicJwk, newKey.publicJwk]);
      // Within the cooldown an unknown kid does not hit the key server: that is what stops
      // made-up kids from hammering the identity provider.
      expect((await refusal(authenticator, `Bearer ${newToken}`)).message).toBe("Token signing key not recognised");
      expect(server.fetchCount()).toBe(1);

      await sleep(cooldownMs + 100);
      await expect(authenticator.authenticate(`Bearer ${newToken}`)).resolves.toMatchObject({ subject: "s" });
      expect(server.fetchCount()).toBe(2);
      await expect(authenticator.authenticate(`Bearer ${oldToken}`)).resolves.toMatchObject({ subject: "s" });

      server.publish([newKey.publicJwk]);
      await sleep(cacheMaxAgeMs + 100); // past cacheMaxAge: the next verification refetches
      expect((await refusal(authenticator, `Bearer ${oldToken}`)).message).toBe("Token signing key not recognised");
      await expect(authenticator.authenticate(`Bearer ${newToken}`)).resolves.toMatchObject({ subject: "s" });
    } finally {
      await server.close();
    }
  });
});

describe("JWKS outage", () => {
  it("reports an unreachable or failing key server as unavailable, not as a bad token", async () => {
    const key = await generateSigningKey("ES256", "k");
    const server = await startJwksServer([key.publicJwk]);
    try {
      server.failWith(500);
      const authenticator = createAuthenticator(jwksConfig(server.url), { jwksCooldownMs: 0 });
      const token = await signToken(key, {}, { issuer: ISSUER, audience: AUDIENCE });
      const error = await authenticator.authenticate(`Bearer ${token}`).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(AuthenticationUnavailableError);
      expect(error).not.toBeInstanceOf(AuthenticationError);
      expect((error as AuthenticationUnavailableError).code).toBe("AUTH_UNAVAILABLE");

      server.failWith(undefined);
      await expect(authenticator.authenticate(`Bearer ${token}`)).resolves.toMatchObject({ anonymous: false });
    } finally {
      await server.close();
    }
  });

  it("gives up after the configured timeout when the key server never answers", async () => {
    const key = await generateSigningKey("ES256", "k");
    // Accepts connections and never responds.
    const sockets = new Set<Socket>();
    const silent = createNetServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = silent.address() as AddressInfo;
      const config = jwksConfig(new URL(`http://127.0.0.1:${port}/jwks.json`));
      const authenticator = createAuthenticator(config, { jwksTimeoutMs: 100 });
      const token = await signToken(key, {}, { issuer: ISSUER, audience: AUDIENCE });
      await expect(authenticator.authenticate(`Bearer ${token}`)).rejects.toBeInstanceOf(AuthenticationUnavailableError);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});
