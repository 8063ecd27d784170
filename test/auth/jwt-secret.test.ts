import { describe, expect, it } from "vitest";
import { resolveAuthConfig } from "../../src/auth/config.js";
import { AuthenticationError, createAuthenticator, scopesOf } from "../../src/auth/jwt.js";
import { generateSigningKey, signToken, unsecuredToken } from "./support/jwks-server.js";

const SECRET = "a-shared-secret-of-at-least-32-bytes!!";
const secretKey = (alg: string, secret = SECRET) => ({ privateKey: new TextEncoder().encode(secret), alg });

function secretAuthenticator(extra: Record<string, string> = {}) {
  return createAuthenticator(resolveAuthConfig({ AUTH_JWT_SECRET: SECRET, ...extra }, { host: "0.0.0.0" }));
}

async function refusalMessage(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(AuthenticationError);
  return (error as AuthenticationError).message;
}

describe("shared-secret mode", () => {
  it("accepts HS256, HS384 and HS512 tokens signed with the secret", async () => {
    const authenticator = secretAuthenticator();
    for (const alg of ["HS256", "HS384", "HS512"]) {
      const token = await signToken(secretKey(alg), { scope: "classroom-users:register" }, { subject: "u1" });
      const principal = await authenticator.authenticate(`Bearer ${token}`);
      expect(principal?.subject).toBe("u1");
      expect(principal?.scopes.has("classroom-users:register")).toBe(true);
    }
  });

  it("accepts the scheme name in any case", async () => {
    const token = await signToken(secretKey("HS256"), {}, { subject: "u1" });
    await expect(secretAuthenticator().authenticate(`bearer ${token}`)).resolves.toMatchObject({ subject: "u1" });
  });

  it("refuses a token signed with another secret", async () => {
    const token = await signToken(secretKey("HS256", "another-secret-that-is-32-bytes-long"), {}, { subject: "u1" });
    expect(await refusalMessage(secretAuthenticator().authenticate(`Bearer ${token}`))).toBe("Invalid token signature");
  });

  it("refuses asymmetric and unsecured tokens", async () => {
    const rsa = await generateSigningKey("RS256", "k");
    const rsaToken = await signToken(rsa, {}, { subject: "u1" });
    expect(await refusalMessage(secretAuthenticator().authenticate(`Bearer ${rsaToken}`))).toBe(
      "Token algorithm not accepted",
    );
    const none = unsecuredToken({ sub: "u1", exp: Math.floor(Date.now() / 1000) + 60 });
    expect(await refusalMessage(secretAuthenticator().authenticate(`Bearer ${none}`))).toBe(
      "Token algorithm not accepted",
    );
  });

  it("checks issuer and audience when configured (any of a comma-separated list)", async () => {
    const authenticator = secretAuthenticator({ AUTH_ISSUER: "https://a.test/, https://b.test/", AUTH_AUDIENCE: "x,y" });
    const ok = await signToken(secretKey("HS256"), {}, { issuer: "https://b.test/", audience: "y" });
    await expect(authenticator.authenticate(`Bearer ${ok}`)).resolves.toMatchObject({ anonymous: false });
    const badIssuer = await signToken(secretKey("HS256"), {}, { issuer: "https://c.test/", audience: "y" });
    expect(await refusalMessage(authenticator.authenticate(`Bearer ${badIssuer}`))).toBe("Token issuer not accepted");
    const badAudience = await signToken(secretKey("HS256"), {}, { issuer: "https://a.test/", audience: "z" });
    expect(await refusalMessage(authenticator.authenticate(`Bearer ${badAudience}`))).toBe(
      "Token audience not accepted",
    );
  });

  it("allows clock skew up to AUTH_CLOCK_TOLERANCE_S and no more", async () => {
    const recentlyExpired = await signToken(secretKey("HS256"), {}, { expiresIn: -10 });
    await expect(secretAuthenticator().authenticate(`Bearer ${recentlyExpired}`)).resolves.toBeTruthy();
    expect(
      await refusalMessage(
        secretAuthenticator({ AUTH_CLOCK_TOLERANCE_S: "0" }).authenticate(`Bearer ${recentlyExpired}`),
      ),
    ).toBe("Token expired");
    const soonValid = await signToken(secretKey("HS256"), {}, { notBefore: 10 });
    await expect(secretAuthenticator().authenticate(`Bearer ${soonValid}`)).resolves.toBeTruthy();
    expect(
      await refusalMessage(secretAuthenticator({ AUTH_CLOCK_TOLERANCE_S: "5" }).authenticate(`Bearer ${soonValid}`)),
    ).toBe("Token not yet valid");
  });

  it("refuses an oversized header before parsing it", async () => {
    expect(await refusalMessage(secretAuthenticator().authenticate(`Bearer ${"a".repeat(20_000)}`))).toBe(
      "Token too large",
    );
  });

  it("reads the subject from AUTH_SUBJECT_CLAIM and ignores non-string subjects", async () => {
    const authenticator = secretAuthenticator({ AUTH_SUBJECT_CLAIM: "uid" });
    const token = await signToken(secretKey("HS256"), { uid: "teacher-7" }, { subject: "idp|123" });
    await expect(authenticator.authenticate(`Bearer ${token}`)).resolves.toMatchObject({ subject: "teacher-7" });
    const numeric = await signToken(secretKey("HS256"), { uid: 7 }, {});
    await expect(authenticator.authenticate(`Bearer ${numeric}`)).resolves.toMatchObject({ subject: undefined });
  });

  it("reads scopes from AUTH_SCOPES_CLAIM as a string or an array", async () => {
    const authenticator = secretAuthenticator({ AUTH_SCOPES_CLAIM: "permissions" });
    const token = await signToken(secretKey("HS256"), { permissions: ["classroom-users:read"], scope: "ignored" }, {});
    const principal = await authenticator.authenticate(`Bearer ${token}`);
    expect([...(principal?.scopes ?? [])]).toEqual(["classroom-users:read"]);
  });
});

describe("scopesOf", () => {
  it("splits a space-separated scope string", () => {
    expect([...scopesOf({ scope: " a  b\tc " }, "scope")]).toEqual(["a", "b", "c"]);
  });
  it("accepts an array scope claim", () => {
    expect([...scopesOf({ scope: ["a", "b"] }, "scope")]).toEqual(["a", "b"]);
  });
  it("also reads scp, as an array or a string, with the default claim", () => {
    expect([...scopesOf({ scp: ["a", "b"] }, "scope")]).toEqual(["a", "b"]);
    expect([...scopesOf({ scp: "a b" }, "scope")]).toEqual(["a", "b"]);
    expect([...scopesOf({ scope: "a", scp: ["b"] }, "scope")]).toEqual(["a", "b"]);
  });
  it("does not read scp when another claim is configured", () => {
    expect([...scopesOf({ scp: "a", roles: "b" }, "roles")]).toEqual(["b"]);
  });
  it("grants nothing for claims of other types", () => {
    expect(scopesOf({ scope: 1 }, "scope").size).toBe(0);
    expect(scopesOf({ scope: { a: true } }, "scope").size).toBe(0);
    expect([...scopesOf({ scope: ["a", 2, null, ""] }, "scope")]).toEqual(["a"]);
    expect(scopesOf({}, "scope").size).toBe(0);
  });
});

describe("AUTH_MODE=none", () => {
  it("gives an anonymous principal with every scope, whatever the header", async () => {
    const config = resolveAuthConfig({ AUTH_READ_SCOPE: "r", AUTH_REGISTER_SCOPE: "w", AUTH_DELETE_SCOPE: "d" }, { host: "127.0.0.1" });
    const authenticator = createAuthenticator(config);
    for (const header of [undefined, null, "Bearer garbage", "Basic x"]) {
      const principal = await authenticator.authenticate(header);
      expect(principal).toMatchObject({ anonymous: true, subject: undefined, claims: {} });
      expect([...(principal?.scopes ?? [])].sort()).toEqual(["d", "r", "w"]);
    }
  });
});
