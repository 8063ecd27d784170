/**
 * Who may update, delete, take tokens and list, with real JWTs through the live server: the register
 * scope or self-service for update and token, the delete scope (configurable) for delete, the read
 * scope for the list. Every refusal reaches neither LCIC nor the database's users.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signToken } from "../auth/support/jwks-server.js";
import { startSecureApp, type SecureTestApp } from "./support/app.js";

const SECRET = "a-shared-secret-of-at-least-32-bytes!!";
const DELETE_SCOPE = "school:offboard";
let t: SecureTestApp;
let ada: { userId: string };
let bob: { userId: string };

const bearerFor = async (subject: string | undefined, scope?: string) => ({
  authorization: `Bearer ${await signToken({ privateKey: new TextEncoder().encode(SECRET), alg: "HS256" }, scope ? { scope } : {}, subject ? { subject } : {})}`,
});

const UPDATE = `mutation ($input: UpdateClassroomUserInput!) { updateClassroomUser(input: $input) { __typename ... on UpdateClassroomUserSuccess { user { name } } ... on Error { code } } }`;
const TOKEN = `mutation ($input: IssueClassroomUserTokenInput!) { issueClassroomUserToken(input: $input) { __typename ... on ClassroomUserToken { fromCache user { originId } } ... on Error { code } } }`;
const DELETE = `mutation ($input: DeleteClassroomUserInput!) { deleteClassroomUser(input: $input) { __typename ... on DeleteClassroomUserSuccess { originId } ... on Error { code } } }`;
const LIST = `{ classroomUsers { __typename ... on ClassroomUserConnection { totalCount } ... on Error { code } } }`;
const REGISTER = `mutation ($input: RegisterClassroomUserInput!) { registerClassroomUser(input: $input) { ... on RegisterClassroomUserSuccess { user { userId } } } }`;

beforeAll(async () => {
  t = await startSecureApp({ AUTH_MODE: "jwt", AUTH_JWT_SECRET: SECRET, AUTH_DELETE_SCOPE: DELETE_SCOPE });
  const admin = await bearerFor("admin", "classroom-users:register");
  ada = (await t.gql({ query: REGISTER, variables: { input: { originId: "ada", name: "Ada" } } }, admin)).body.data.registerClassroomUser.user;
  bob = (await t.gql({ query: REGISTER, variables: { input: { originId: "bob", name: "Bob" } } }, admin)).body.data.registerClassroomUser.user;
});
afterAll(() => t?.close());

/** Asserts a FORBIDDEN refusal that made no LCIC call and changed no row. */
async function refused(query: string, variables: Record<string, unknown> | undefined, headers: Record<string, string>) {
  const calls = t.lcicCalls();
  const [before] = await t.db.sql`select string_agg(concat_ws(',', user_id, name, updated_at), ';' order by id) as s from classroom_users`;
  const r = await t.gql({ query, variables }, headers);
  expect(r.body.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
  expect(t.lcicCalls()).toBe(calls);
  const [after] = await t.db.sql`select string_agg(concat_ws(',', user_id, name, updated_at), ';' order by id) as s from classroom_users`;
  expect(after).toEqual(before);
}

describe("self-service", () => {
  it("a user may update themself and take their own token, by originId or by userId", async () => {
    const asAda = await bearerFor("ada");
    expect((await t.gql({ query: UPDATE, variables: { input: { originId: "ada", name: "Ada L." } } }, asAda)).body.data.updateClassroomUser).toEqual({
      __typename: "UpdateClassroomUserSuccess",
      user: { name: "Ada L." },
    });
    expect((await t.gql({ query: UPDATE, variables: { input: { userId: ada.userId, name: "Ada" } } }, asAda)).body.data.updateClassroomUser.__typename).toBe("UpdateClassroomUserSuccess");
    expect((await t.gql({ query: TOKEN, variables: { input: { userId: ada.userId } } }, asAda)).body.data.issueClassroomUserToken).toEqual({
      __typename: "ClassroomUserToken",
      fromCache: true,
      user: { originId: "ada" },
    });
  });

  it("but not someone else, by originId or userId, nor an unknown userId", async () => {
    const asAda = await bearerFor("ada");
    await refused(UPDATE, { input: { originId: "bob", name: "Hacked" } }, asAda);
    await refused(UPDATE, { input: { userId: bob.userId, name: "Hacked" } }, asAda);
    await refused(TOKEN, { input: { originId: "bob" } }, asAda);
    await refused(TOKEN, { input: { userId: bob.userId } }, asAda);
    await refused(TOKEN, { input: { userId: "2CvDgjRNjylAsBZB4iZc0F6koXe" } }, asAda);
  });

  it("and never delete, not even themself; nor list", async () => {
    const asAda = await bearerFor("ada", "classroom-users:register classroom-users:delete");
    await refused(DELETE, { input: { originId: "ada" } }, asAda);
    await refused(LIST, undefined, await bearerFor("ada", "classroom-users:register"));
  });
});

describe("scopes", () => {
  it("the register scope may update and take tokens for anyone; the read scope may list", async () => {
    const registrar = await bearerFor("registrar", "classroom-users:register");
    expect((await t.gql({ query: UPDATE, variables: { input: { originId: "bob", name: "Bobby" } } }, registrar)).body.data.updateClassroomUser.__typename).toBe("UpdateClassroomUserSuccess");
    expect((await t.gql({ query: TOKEN, variables: { input: { originId: "bob" } } }, registrar)).body.data.issueClassroomUserToken.__typename).toBe("ClassroomUserToken");
    await refused(UPDATE, { input: { originId: "bob", name: "x" } }, await bearerFor("reader", "classroom-users:read"));
    expect((await t.gql({ query: LIST }, await bearerFor("reader", "classroom-users:read"))).body.data.classroomUsers).toEqual({ __typename: "ClassroomUserConnection", totalCount: 2 });
  });

  it("deleting needs the delete scope under its configured name (AUTH_DELETE_SCOPE)", async () => {
    await refused(DELETE, { input: { originId: "bob" } }, await bearerFor("registrar", "classroom-users:register classroom-users:read"));
    await refused(DELETE, { input: { originId: "bob" } }, await bearerFor("x", "classroom-users:delete"));
    const r = await t.gql({ query: DELETE, variables: { input: { originId: "bob" } } }, await bearerFor("office", DELETE_SCOPE));
    expect(r.body.data.deleteClassroomUser).toEqual({ __typename: "DeleteClassroomUserSuccess", originId: "bob" });
  });

  it("anonymous calls are refused before anything runs", async () => {
    const r = await t.gql({ query: LIST });
    expect(r.status).toBe(401);
  });
});
