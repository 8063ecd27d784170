/** AUTH_MODE=none, shared-secret mode, the per-client registration limit, and secrets kept out of logs. */
import { afterAll, describe, expect, it } from "vitest";
import { generateSigningKey, signToken } from "../auth/support/jwks-server.js";
import { FIND, REGISTER, startSecureApp, type SecureTestApp } from "./support/app.js";

const SECRET = "a-shared-secret-of-at-least-32-bytes!!";
const secretKey = { privateKey: new TextEncoder().encode(SECRET), alg: "HS256" };
const started: SecureTestApp[] = [];
async function start(...args: Parameters<typeof startSecureApp>) {
  const app = await startSecureApp(...args);
  started.push(app);
  return app;
}
afterAll(async () => {
  for (const app of started.reverse()) await app.close();
});

describe("AUTH_MODE=none (zero-configuration, loopback)", () => {
  it("allows registering and reading anyone without a token, and ignores any header", async () => {
    const t = await start();
    expect(t.config.auth.mode).toBe("none");
    const registered = await t.gql({ query: REGISTER, variables: { input: { originId: "anyone" } } });
    expect(registered.body.data.registerClassroomUser).toMatchObject({ __typename: "RegisterClassroomUserSuccess", created: true });
    const found = await t.gql({ query: FIND, variables: { userId: registered.body.data.registerClassroomUser.user.userId } }, { authorization: "Bearer junk" });
    expect(found.body.data.classroomUser).toMatchObject({ __typename: "ClassroomUser", originId: "anyone" });
  });
});

describe("shared-secret mode (HS256)", () => {
  it("accepts tokens signed with the secret and refuses asymmetric ones", async () => {
    const t = await start({ AUTH_JWT_SECRET: SECRET, AUTH_AUDIENCE: "classroom-users" });
    expect(t.config.auth.mode).toBe("jwt");
    const ok = await signToken(secretKey, { scope: "classroom-users:register" }, { subject: "svc", audience: "classroom-users" });
    const registered = await t.gql({ query: REGISTER, variables: { input: { originId: "s-1" } } }, { authorization: `Bearer ${ok}` });
    expect(registered.body.data.registerClassroomUser.__typename).toBe("RegisterClassroomUserSuccess");

    const rsa = await generateSigningKey("RS256", "k");
    const wrongAlg = await signToken(rsa, { scope: "classroom-users:register" }, { subject: "svc", audience: "classroom-users" });
    const refused = await t.gql({ query: REGISTER, variables: { input: { originId: "s-2" } } }, { authorization: `Bearer ${wrongAlg}` });
    expect(refused.status).toBe(401);
    expect(refused.body.errors[0]).toEqual({ message: "Token algorithm not accepted", extensions: { code: "UNAUTHENTICATED" } });
  });

  it("honours AUTH_SUBJECT_CLAIM and AUTH_SCOPES_CLAIM", async () => {
    const t = await start({ AUTH_JWT_SECRET: SECRET, AUTH_SUBJECT_CLAIM: "student_id", AUTH_SCOPES_CLAIM: "permissions" });
    const self = await signToken(secretKey, { student_id: "stu-9" }, { subject: "ignored" });
    const mine = await t.gql({ query: REGISTER, variables: { input: { originId: "stu-9" } } }, { authorization: `Bearer ${self}` });
    expect(mine.body.data.registerClassroomUser.__typename).toBe("RegisterClassroomUserSuccess");
    const reader = await signToken(secretKey, { permissions: ["classroom-users:read"] }, { subject: "x" });
    const read = await t.gql({ query: FIND, variables: { originId: "stu-9" } }, { authorization: `Bearer ${reader}` });
    expect(read.body.data.classroomUser.__typename).toBe("ClassroomUser");
    // `scope` is not the scopes claim here, so it grants nothing.
    const wrongClaim = await signToken(secretKey, { scope: "classroom-users:read" }, { subject: "x" });
    const refused = await t.gql({ query: FIND, variables: { originId: "stu-9" } }, { authorization: `Bearer ${wrongClaim}` });
    expect(refused.body.errors[0].extensions.code).toBe("FORBIDDEN");
  });
});

describe("per-client registration rate limit (PostgreSQL, across replicas)", () => {
  /** The budget is a fixed one-minute window: start early in one, so a test does not straddle two. */
  const earlyInWindow = async () => {
    const into = Date.now() % 60_000;
    if (into > 30_000) await new Promise((resolve) => setTimeout(resolve, 60_000 - into + 50));
  };

  it("refuses a client over its budget with ClientRateLimitedError (not LCIC's rate limit), before LCIC, and leaves other clients alone", async () => {
    const env = { AUTH_JWT_SECRET: SECRET, REGISTRATION_RATE_LIMIT_PER_MINUTE: "3" };
    await earlyInWindow();
    const a = await start(env);
    const b = await start(env, { shareWith: a });
    const greedy = `Bearer ${await signToken(secretKey, { scope: "classroom-users:register" }, { subject: "greedy" })}`;
    const register = (t: SecureTestApp, originId: string, authorization = greedy) =>
      t.gql({ query: REGISTER, variables: { input: { originId } } }, { authorization });

    // Three registrations spread over two replicas: the budget is shared.
    for (const [t, id] of [[a, "g-1"], [b, "g-2"], [a, "g-3"]] as const) {
      expect((await register(t, id)).body.data.registerClassroomUser.__typename).toBe("RegisterClassroomUserSuccess");
    }
    const callsBefore = a.lcicCalls();
    const usersBefore = (await a.rows()).users;
    for (const t of [a, b]) {
      const refused = await register(t, "g-4");
      expect(refused.status).toBe(200);
      const result = refused.body.data.registerClassroomUser;
      expect(result).toMatchObject({ __typename: "ClientRateLimitedError", code: "Client.RateLimited" });
      expect(result.message).not.toMatch(/LCIC/);
      expect(result.retryAfterMs).toBeGreaterThan(0);
      expect(result.retryAfterMs).toBeLessThanOrEqual(60_000);
    }
    expect(a.lcicCalls()).toBe(callsBefore);
    expect((await a.rows()).users).toBe(usersBefore);

    const other = `Bearer ${await signToken(secretKey, { scope: "classroom-users:register" }, { subject: "modest" })}`;
    expect((await register(b, "m-1", other)).body.data.registerClassroomUser.__typename).toBe("RegisterClassroomUserSuccess");
    // Reads are not counted.
    const reader = `Bearer ${await signToken(secretKey, { scope: "classroom-users:read" }, { subject: "greedy" })}`;
    expect((await a.gql({ query: FIND, variables: { originId: "g-1" } }, { authorization: reader })).body.data.classroomUser.__typename).toBe("ClassroomUser");
  }, 95_000);

  it("counts anonymous callers by address", async () => {
    await earlyInWindow();
    const t = await start({ REGISTRATION_RATE_LIMIT_PER_MINUTE: "1" });
    expect((await t.gql({ query: REGISTER, variables: { input: { originId: "n-1" } } })).body.data.registerClassroomUser.__typename).toBe("RegisterClassroomUserSuccess");
    expect((await t.gql({ query: REGISTER, variables: { input: { originId: "n-2" } } })).body.data.registerClassroomUser.__typename).toBe("ClientRateLimitedError");
    const [row] = await t.db.sql`select client_key, count from registration_rate_limits`;
    expect(row).toMatchObject({ client_key: expect.stringMatching(/^ip:(::ffff:)?127\.0\.0\.1$/), count: 2 });
  }, 95_000);
});

describe("logs never carry credentials", () => {
  it("neither the LCIC token nor the bearer JWT (valid or refused) appears in trace-level logs", async () => {
    const t = await start({ AUTH_JWT_SECRET: SECRET });
    const jwt = await signToken(secretKey, { scope: "classroom-users:register classroom-users:read" }, { subject: "logger-test" });
    const expired = await signToken(secretKey, { scope: "classroom-users:register" }, { subject: "logger-test", expiresIn: -60 });
    const forged = `${jwt.slice(0, jwt.lastIndexOf(".") + 1)}${"A".repeat(43)}`;
    const registered = await t.gql({ query: REGISTER, variables: { input: { originId: "log-1" } } }, { authorization: `Bearer ${jwt}` });
    const lcicToken: string = registered.body.data.registerClassroomUser.token;
    expect(lcicToken.length).toBeGreaterThan(10);
    // Again (token served from the database), a read, refusals, and an error path.
    await t.gql({ query: REGISTER, variables: { input: { originId: "log-1" } } }, { authorization: `Bearer ${jwt}` });
    await t.gql({ query: FIND, variables: { originId: "log-1" } }, { authorization: `Bearer ${jwt}` });
    await t.gql({ query: REGISTER, variables: { input: { originId: "log-2" } } }, { authorization: `Bearer ${expired}` });
    await t.gql({ query: REGISTER, variables: { input: { originId: "log-3" } } }, { authorization: `Bearer ${forged}` });
    await t.gql({ query: "{ classroomUser(originId: 42) { __typename } }" }, { authorization: `Bearer ${jwt}` });
    t.lcic.emulator.injectFault({ mode: "http", status: 500, times: 5 });
    await t.gql({ query: REGISTER, variables: { input: { originId: "log-4" } } }, { authorization: `Bearer ${jwt}` });
    t.lcic.emulator.clearFaults();

    const logs = t.logs();
    expect(logs.length).toBeGreaterThan(0);
    expect(logs).toContain("request refused: not authenticated");
    for (const secret of [lcicToken, jwt, expired, forged, SECRET]) expect(logs).not.toContain(secret);
    // Not even the signature part of a JWT on its own.
    for (const token of [jwt, expired]) expect(logs).not.toContain(token.split(".")[2]);
  });
});
