/**
 * Self-service is bound to one LCIC application (issue 9, item 7): through HTTP, with two
 * applications in LCIC_SDK_APP_IDS, subject `42` registers and reads originId `42` in its own
 * application only, and RETURN_EXISTING never hands it the token of another school's user 42.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signToken } from "../auth/support/jwks-server.js";
import { FIND, REGISTER, startTestServer, type TestServer } from "../support/server.js";

const SECRET = "self-service-secret-of-32-bytes-at-least!";
const SCHOOL_A = 1400000001; // LCIC_SDK_APP_ID, the default
const SCHOOL_B = 1400000002;

let s: TestServer;
const key = { privateKey: new TextEncoder().encode(SECRET), alg: "HS256" };
const tokenFor = (subject: string, claims: Record<string, unknown> = {}) => signToken(key, claims, { subject });

async function gqlAs(token: string, query: string, variables: Record<string, unknown>) {
  const res = await s.post(JSON.stringify({ query, variables }), { authorization: `Bearer ${token}` });
  return { status: res.status, ...((await res.json()) as { data?: any; errors?: any[] }) };
}
const forbidden = (response: { data?: any; errors?: any[] }) => response.errors?.[0]?.extensions?.code === "FORBIDDEN";

let schoolBUser: { userId: string; token: string };

beforeAll(async () => {
  s = await startTestServer({
    emulatorOptions: { sdkAppIds: [SCHOOL_A, SCHOOL_B] },
    configEnv: { LCIC_SDK_APP_ID: String(SCHOOL_A), LCIC_SDK_APP_IDS: `${SCHOOL_A},${SCHOOL_B}`, AUTH_MODE: "jwt", AUTH_JWT_SECRET: SECRET },
  });
  // School B's student 42, registered by B's registrar.
  const registrar = await tokenFor("school-b-admin", { scope: "classroom-users:register" });
  const registered = await gqlAs(registrar, REGISTER, { input: { originId: "42", sdkAppId: SCHOOL_B, name: "B's 42" } });
  expect(registered.data?.registerClassroomUser).toMatchObject({ __typename: "RegisterClassroomUserSuccess", created: true });
  schoolBUser = { userId: registered.data!.registerClassroomUser.user.userId, token: registered.data!.registerClassroomUser.token };
});
afterAll(async () => s?.close());

describe("a token without the application claim is bound to LCIC_SDK_APP_ID", () => {
  it("may not register, or be handed the token of, originId 42 in another application", async () => {
    const token = await tokenFor("42");
    const callsBefore = s.emulator.counters().RegisterUser?.calls ?? 0;
    const response = await gqlAs(token, REGISTER, { input: { originId: "42", sdkAppId: SCHOOL_B } });
    expect(forbidden(response)).toBe(true);
    expect(JSON.stringify(response)).not.toContain(schoolBUser.token);
    expect(s.emulator.counters().RegisterUser?.calls ?? 0).toBe(callsBefore);
  });

  it("may not read originId 42 of another application, by originId or by userId", async () => {
    const token = await tokenFor("42");
    expect(forbidden(await gqlAs(token, FIND, { originId: "42", sdkAppId: SCHOOL_B }))).toBe(true);
    expect(forbidden(await gqlAs(token, FIND, { userId: schoolBUser.userId }))).toBe(true);
  });

  it("registers and reads originId 42 in its own application", async () => {
    const token = await tokenFor("42");
    const registered = await gqlAs(token, REGISTER, { input: { originId: "42" } });
    expect(registered.data?.registerClassroomUser).toMatchObject({ __typename: "RegisterClassroomUserSuccess", user: { sdkAppId: SCHOOL_A, originId: "42" } });
    expect(registered.data!.registerClassroomUser.token).not.toBe(schoolBUser.token);
    const own = registered.data!.registerClassroomUser.user.userId;
    expect((await gqlAs(token, FIND, { originId: "42" })).data?.classroomUser).toMatchObject({ userId: own, sdkAppId: SCHOOL_A });
    expect((await gqlAs(token, FIND, { userId: own })).data?.classroomUser).toMatchObject({ userId: own });
  });
});

describe("a token with the sdk_app_id claim is bound to that application", () => {
  it("registers (RETURN_EXISTING) and reads its own user in that application only", async () => {
    const token = await tokenFor("42", { sdk_app_id: SCHOOL_B });
    const again = await gqlAs(token, REGISTER, { input: { originId: "42", sdkAppId: SCHOOL_B } });
    expect(again.data?.registerClassroomUser).toMatchObject({ __typename: "RegisterClassroomUserSuccess", created: false, user: { userId: schoolBUser.userId } });
    expect((await gqlAs(token, FIND, { userId: schoolBUser.userId })).data?.classroomUser).toMatchObject({ userId: schoolBUser.userId });
    // The default application is not its own.
    expect(forbidden(await gqlAs(token, REGISTER, { input: { originId: "42" } }))).toBe(true);
    expect(forbidden(await gqlAs(token, FIND, { originId: "42" }))).toBe(true);
  });

  it("a claim naming no application refuses the token (401), it does not fall back to the default", async () => {
    const response = await gqlAs(await tokenFor("42", { sdk_app_id: "school-b" }), FIND, { originId: "42" });
    expect(response.status).toBe(401);
  });
});
