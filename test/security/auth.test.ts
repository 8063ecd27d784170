/**
 * Authentication and authorization end to end: real JWTs signed here, a JWKS served over HTTP on
 * loopback, requests through the live server. Every refusal leaves no LCIC call and no row behind.
 */
import { SignJWT } from "jose";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { generateSigningKey, signToken, startJwksServer, unsecuredToken, type JwksServer, type SigningKey } from "../auth/support/jwks-server.js";
import { FIND, REGISTER, startSecureApp, type SecureTestApp } from "./support/app.js";

const ISSUER = "https://issuer.test";
const AUDIENCE = "classroom-users";
const REGISTER_SCOPE = "classroom-users:register";
const READ_SCOPE = "classroom-users:read";

let jwks: JwksServer;
let key: SigningKey;
let t: SecureTestApp;

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const token = (claims: Record<string, unknown>, options: Parameters<typeof signToken>[2] = {}, signingKey: Pick<SigningKey, "privateKey" | "alg" | "kid"> = key) =>
  signToken(signingKey, claims, { issuer: ISSUER, audience: AUDIENCE, ...options });

beforeAll(async () => {
  key = await generateSigningKey("RS256", "key-1");
  jwks = await startJwksServer([key.publicJwk]);
  t = await startSecureApp(
    { AUTH_MODE: "jwt", AUTH_JWKS_URL: jwks.url.href, AUTH_ISSUER: ISSUER, AUTH_AUDIENCE: AUDIENCE },
    // No cooldown, so a rotated key is picked up on its first use within the test.
    { authenticatorOptions: { jwksCooldownMs: 0 } },
  );
});
afterAll(async () => {
  await t?.close();
  await jwks?.close();
});
beforeEach(() => {
  jwks.publish([key.publicJwk]);
  jwks.failWith(undefined);
});

/** Runs `request` and asserts it touched neither LCIC nor the database. */
async function leavesNoTrace<T>(request: () => Promise<T>): Promise<T> {
  const callsBefore = t.lcicCalls();
  const rowsBefore = await t.rows();
  const result = await request();
  expect(t.lcicCalls()).toBe(callsBefore);
  expect(await t.rows()).toEqual(rowsBefore);
  return result;
}

const registerAs = (headers: Record<string, string>, originId?: string) =>
  t.gql({ query: REGISTER, variables: { input: originId === undefined ? {} : { originId } } }, headers);

function expectUnauthenticated(response: Awaited<ReturnType<SecureTestApp["gql"]>>, message?: string) {
  expect(response.status).toBe(401);
  expect(response.headers.get("www-authenticate")).toMatch(/^Bearer/);
  expect(response.body.data ?? null).toBeNull();
  expect(response.body.errors).toHaveLength(1);
  expect(response.body.errors[0].extensions).toEqual({ code: "UNAUTHENTICATED" });
  if (message) expect(response.body.errors[0].message).toBe(message);
}

describe("authentication refusals (401, nothing else happens)", () => {
  it("refuses a request without a token", async () => {
    expectUnauthenticated(await leavesNoTrace(() => registerAs({}, "nobody")), "Missing bearer token");
  });

  it("refuses an anonymous request before validating its document: no field names leak", async () => {
    const probes = [
      "{ classroomUser(originId: \"x\") { ... on ClassroomUser { secret } } }",
      "{ classroomUsr }",
      "mutation { registerClassroomUser(input: { originID: \"x\" }) { __typename } }",
      "{ classroomUser(",
    ];
    for (const query of probes) {
      const response = await leavesNoTrace(() => t.gql({ query }, {}));
      expectUnauthenticated(response, "Missing bearer token");
      expect(response.text).not.toMatch(/Cannot query|Did you mean|classroomUser|originId|Syntax Error/);
    }
    // The same probe with a bad token is refused the same way.
    expectUnauthenticated(await t.gql({ query: "{ classroomUsr }" }, bearer("not-a-jwt")));
  });

  it("refuses a non-Bearer scheme", async () => {
    expectUnauthenticated(await leavesNoTrace(() => registerAs({ authorization: "Basic dXNlcjpwYXNz" }, "x")), "Authorization header must use the Bearer scheme");
  });

  it("refuses an expired token", async () => {
    const expired = await token({ scope: REGISTER_SCOPE }, { subject: "alice", expiresIn: -3600 });
    expectUnauthenticated(await leavesNoTrace(() => registerAs(bearer(expired), "alice")), "Token expired");
  });

  it("refuses a forged token (signed by another key under the known kid)", async () => {
    const impostor = await generateSigningKey("RS256", "key-1");
    const forged = await token({ scope: REGISTER_SCOPE }, { subject: "mallory" }, impostor);
    expectUnauthenticated(await leavesNoTrace(() => registerAs(bearer(forged), "mallory")), "Invalid token signature");
  });

  it("refuses a token with a tampered payload", async () => {
    const genuine = await token({ scope: "" }, { subject: "alice" });
    const [header, , signature] = genuine.split(".");
    const payload = Buffer.from(JSON.stringify({ sub: "alice", scope: REGISTER_SCOPE, iss: ISSUER, aud: AUDIENCE, exp: Math.floor(Date.now() / 1000) + 600 })).toString("base64url");
    expectUnauthenticated(await leavesNoTrace(() => registerAs(bearer(`${header}.${payload}.${signature}`), "bob")), "Invalid token signature");
  });

  it("refuses a token for another audience", async () => {
    const other = await token({ scope: REGISTER_SCOPE }, { subject: "alice", audience: "billing-api" });
    expectUnauthenticated(await leavesNoTrace(() => registerAs(bearer(other), "alice")), "Token audience not accepted");
  });

  it("refuses a token from another issuer", async () => {
    const other = await token({ scope: REGISTER_SCOPE }, { subject: "alice", issuer: "https://evil.test" });
    expectUnauthenticated(await leavesNoTrace(() => registerAs(bearer(other), "alice")), "Token issuer not accepted");
  });

  it("refuses alg=none and HMAC tokens where keys come from a JWKS", async () => {
    const none = unsecuredToken({ sub: "alice", scope: REGISTER_SCOPE, iss: ISSUER, aud: AUDIENCE, exp: Math.floor(Date.now() / 1000) + 600 });
    expectUnauthenticated(await leavesNoTrace(() => registerAs(bearer(none), "alice")));
    // The classic confusion attack: HS256 "signed" with the public key's bytes.
    const hmac = await new SignJWT({ scope: REGISTER_SCOPE })
      .setProtectedHeader({ alg: "HS256", kid: "key-1" })
      .setSubject("alice")
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setExpirationTime("10m")
      .sign(new TextEncoder().encode(JSON.stringify(key.publicJwk)));
    expectUnauthenticated(await leavesNoTrace(() => registerAs(bearer(hmac), "alice")), "Token algorithm not accepted");
  });

  it("refuses garbage in the header", async () => {
    expectUnauthenticated(await leavesNoTrace(() => registerAs(bearer("not-a-jwt"), "alice")), "Malformed token");
    expectUnauthenticated(await leavesNoTrace(() => registerAs({ authorization: "Bearer a.b.c, Bearer d.e.f" }, "alice")));
  });

  it("answers 503 when the key set cannot be fetched, and recovers", async () => {
    const rotated = await generateSigningKey("ES256", "key-unavailable");
    const jwt = await token({ scope: REGISTER_SCOPE }, { subject: "carol" }, rotated);
    jwks.failWith(500);
    const response = await leavesNoTrace(() => registerAs(bearer(jwt), "carol"));
    expect(response.status).toBe(503);
    expect(response.body.errors[0].extensions).toEqual({ code: "AUTH_UNAVAILABLE" });
    jwks.failWith(undefined);
    jwks.publish([key.publicJwk, rotated.publicJwk]);
    const retried = await registerAs(bearer(jwt), "carol");
    expect(retried.status).toBe(200);
    expect(retried.body.data.registerClassroomUser.__typename).toBe("RegisterClassroomUserSuccess");
  });

  it("accepts a rotated key on first use, and refuses a key removed from the set", async () => {
    const next = await generateSigningKey("ES256", "key-2");
    jwks.publish([key.publicJwk, next.publicJwk]);
    const withNew = await token({ scope: `${REGISTER_SCOPE} ${READ_SCOPE}` }, { subject: "ops" }, next);
    const ok = await t.gql({ query: FIND, variables: { originId: "carol" } }, bearer(withNew));
    expect(ok.status).toBe(200);
    expect(ok.body.data.classroomUser.__typename).toBe("ClassroomUser");

    const retired = await generateSigningKey("ES256", "key-retired");
    const withRetired = await token({ scope: READ_SCOPE }, { subject: "ops" }, retired);
    expectUnauthenticated(await leavesNoTrace(() => t.gql({ query: FIND, variables: { originId: "carol" } }, bearer(withRetired))), "Token signing key not recognised");
  });
});

describe("authorization: scopes and self-service", () => {
  function expectForbidden(response: Awaited<ReturnType<SecureTestApp["gql"]>>) {
    expect(response.status).toBe(200);
    expect(response.body.data).toBeNull();
    expect(response.body.errors).toHaveLength(1);
    expect(response.body.errors[0]).toMatchObject({ message: "Not authorized to perform this operation", extensions: { code: "FORBIDDEN" } });
  }

  it("the register scope registers anyone", async () => {
    const admin = await token({ scope: REGISTER_SCOPE }, { subject: "registrar" });
    const response = await registerAs(bearer(admin), "student-1");
    expect(response.body.data.registerClassroomUser).toMatchObject({ __typename: "RegisterClassroomUserSuccess", created: true, user: { originId: "student-1" } });
    // And with a generated originId.
    const generated = await registerAs(bearer(admin));
    expect(generated.body.data.registerClassroomUser.user.originId).toMatch(/^cu-/);
  });

  it("the scp array claim grants scopes too", async () => {
    const admin = await token({ scp: [REGISTER_SCOPE] }, { subject: "azure-app" });
    const response = await registerAs(bearer(admin), "student-scp");
    expect(response.body.data.registerClassroomUser.__typename).toBe("RegisterClassroomUserSuccess");
  });

  it("without the register scope, a caller registers only themself", async () => {
    const dave = await token({ scope: "profile" }, { subject: "dave" });
    const self = await registerAs(bearer(dave), "dave");
    expect(self.body.data.registerClassroomUser).toMatchObject({ __typename: "RegisterClassroomUserSuccess", user: { originId: "dave" } });
    expectForbidden(await leavesNoTrace(() => registerAs(bearer(dave), "erin")));
    // No originId means a generated one: not themself.
    expectForbidden(await leavesNoTrace(() => registerAs(bearer(dave))));
    // Subjects are compared exactly.
    expectForbidden(await leavesNoTrace(() => registerAs(bearer(dave), "Dave")));
  });

  it("a token without a subject and without scopes may do nothing", async () => {
    const anonymous = await token({});
    expectForbidden(await leavesNoTrace(() => registerAs(bearer(anonymous), "frank")));
    expectForbidden(await leavesNoTrace(() => t.gql({ query: FIND, variables: { originId: "frank" } }, bearer(anonymous))));
  });

  it("the read scope reads anyone, by originId and by userId", async () => {
    const admin = await token({ scope: REGISTER_SCOPE }, { subject: "registrar" });
    const registered = await registerAs(bearer(admin), "student-2");
    const userId = registered.body.data.registerClassroomUser.user.userId;
    const reader = await token({ scope: READ_SCOPE }, { subject: "auditor" });
    const byOrigin = await t.gql({ query: FIND, variables: { originId: "student-2" } }, bearer(reader));
    expect(byOrigin.body.data.classroomUser).toEqual({ __typename: "ClassroomUser", userId, originId: "student-2" });
    const byUser = await t.gql({ query: FIND, variables: { userId } }, bearer(reader));
    expect(byUser.body.data.classroomUser).toEqual({ __typename: "ClassroomUser", userId, originId: "student-2" });
  });

  it("the register scope does not grant reading", async () => {
    const admin = await token({ scope: REGISTER_SCOPE }, { subject: "registrar" });
    expectForbidden(await leavesNoTrace(() => t.gql({ query: FIND, variables: { originId: "student-1" } }, bearer(admin))));
  });

  it("without the read scope, a caller reads only themself, by originId or userId", async () => {
    const grace = await token({}, { subject: "grace" });
    const registered = await registerAs(bearer(grace), "grace");
    const userId = registered.body.data.registerClassroomUser.user.userId;

    const own = await t.gql({ query: FIND, variables: { originId: "grace" } }, bearer(grace));
    expect(own.body.data.classroomUser).toEqual({ __typename: "ClassroomUser", userId, originId: "grace" });
    const ownByUserId = await t.gql({ query: FIND, variables: { userId } }, bearer(grace));
    expect(ownByUserId.body.data.classroomUser).toEqual({ __typename: "ClassroomUser", userId, originId: "grace" });

    const heidi = await token({}, { subject: "heidi" });
    // Someone else's user, by either key; an unknown userId is refused the same way (no LCIC lookup).
    expectForbidden(await leavesNoTrace(() => t.gql({ query: FIND, variables: { originId: "grace" } }, bearer(heidi))));
    expectForbidden(await leavesNoTrace(() => t.gql({ query: FIND, variables: { userId } }, bearer(heidi))));
    expectForbidden(await leavesNoTrace(() => t.gql({ query: FIND, variables: { userId: "2CvDgjRNjylAsBZB4iZc0F6koXe" } }, bearer(heidi))));
    // Not even their own originId combined with someone else's userId.
    expectForbidden(await leavesNoTrace(() => t.gql({ query: FIND, variables: { userId, originId: "heidi" } }, bearer(heidi))));
  });

  it("one refused field fails alone; the others in the operation still answer", async () => {
    const ivan = await token({}, { subject: "ivan" });
    await registerAs(bearer(ivan), "ivan");
    const response = await t.gql(
      { query: `{ mine: classroomUser(originId: "ivan") { __typename } theirs: classroomUser(originId: "grace") { __typename } }` },
      bearer(ivan),
    );
    // Non-null fields: one refusal nulls the whole data, but the error names the refused path.
    expect(response.body.errors).toHaveLength(1);
    expect(response.body.errors[0]).toMatchObject({ path: ["theirs"], extensions: { code: "FORBIDDEN" } });
  });
});

describe("authorization of federation entity references (_entities)", () => {
  const ENTITIES = /* GraphQL */ `
    query ($representations: [_Any!]!) { _entities(representations: $representations) { ... on ClassroomUser { userId originId } } }
  `;
  const entities = (headers: Record<string, string>, representations: unknown[]) =>
    t.gql({ query: ENTITIES, variables: { representations } }, headers);

  it("follows classroomUser's rule: the read scope resolves anyone; self-service only oneself; nothing else is looked up", async () => {
    const admin = bearer(await token({ scope: `${REGISTER_SCOPE} ${READ_SCOPE}` }, { subject: "admin" }));
    const sdkAppId = t.config.lcic.sdkAppId;
    const mine = await registerAs(admin, "ent-self");
    const theirs = await registerAs(admin, "ent-other");
    const mineId = mine.body.data.registerClassroomUser.user.userId as string;
    const theirsId = theirs.body.data.registerClassroomUser.user.userId as string;

    const read = await entities(admin, [{ __typename: "ClassroomUser", userId: theirsId }, { __typename: "ClassroomUser", sdkAppId, originId: "ent-self" }]);
    expect(read.body.data._entities).toEqual([{ userId: theirsId, originId: "ent-other" }, { userId: mineId, originId: "ent-self" }]);

    const self = bearer(await token({}, { subject: "ent-self" }));
    const own = await entities(self, [{ __typename: "ClassroomUser", userId: mineId }, { __typename: "ClassroomUser", sdkAppId, originId: "ent-self" }]);
    expect(own.body.errors).toBeUndefined();
    expect(own.body.data._entities).toEqual([{ userId: mineId, originId: "ent-self" }, { userId: mineId, originId: "ent-self" }]);

    const refused = await leavesNoTrace(() =>
      entities(self, [{ __typename: "ClassroomUser", userId: theirsId }, { __typename: "ClassroomUser", sdkAppId, originId: "not-stored-anywhere" }]),
    );
    expect(refused.body.data._entities).toEqual([null, null]);
    expect(refused.body.errors.map((e: { extensions: { code: string } }) => e.extensions.code)).toEqual(["FORBIDDEN", "FORBIDDEN"]);
  });
});
