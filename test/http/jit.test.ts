/**
 * GRAPHQL_JIT (src/http/jit-execution.ts) answers exactly as the interpreting executor does: two
 * replicas on one database, one with graphql-jit and one without, get the same operations; status
 * and body must be the same, and the compiled code must really have answered the valid ones
 * (invalid variables, unknown operations and the like are handed to the executor on purpose). The
 * whole HTTP suite also runs with it on (the default).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signToken } from "../auth/support/jwks-server.js";
import { REGISTER, startSecureApp, type SecureTestApp } from "../security/support/app.js";

const SECRET = "a-shared-secret-of-at-least-32-bytes!!";
const key = { privateKey: new TextEncoder().encode(SECRET), alg: "HS256" };
let jit: SecureTestApp;
let plain: SecureTestApp;
let tokens: Record<"reader" | "writer" | "self" | "none" | "deleter", string>;

beforeAll(async () => {
  const env = { AUTH_JWT_SECRET: SECRET };
  jit = await startSecureApp({ ...env, GRAPHQL_JIT: "true" });
  plain = await startSecureApp({ ...env, GRAPHQL_JIT: "false" }, { shareWith: jit });
  tokens = {
    reader: await signToken(key, { scope: "classroom-users:read" }, { subject: "reader" }),
    writer: await signToken(key, { scope: "classroom-users:register classroom-users:read" }, { subject: "writer" }),
    self: await signToken(key, {}, { subject: "jit-ada" }),
    none: await signToken(key, {}, { subject: "nobody" }),
    deleter: await signToken(key, { scope: "classroom-users:delete classroom-users:read" }, { subject: "deleter" }),
  };
  for (const [originId, name] of [["jit-ada", "Ada"], ["jit-bob", "Bob"], ["jit-cy", null]] as const) {
    const res = await jit.gql({ query: REGISTER, variables: { input: { originId, ...(name ? { name } : {}) } } }, { authorization: `Bearer ${tokens.writer}` });
    expect(res.body.data.registerClassroomUser.__typename).toBe("RegisterClassroomUserSuccess");
  }
});
afterAll(async () => {
  await plain?.close();
  await jit?.close();
});

const USER = "userId sdkAppId originId name avatar createdAt updatedAt";
type Case = [name: string, compiled: boolean, who: keyof typeof tokens, body: () => Record<string, unknown>];
const CASES: Case[] = [
  ["a lookup by originId", true, "reader", () => ({ query: `query($o: String) { classroomUser(originId: $o) { __typename ... on ClassroomUser { ${USER} } ... on Error { code message } } }`, variables: { o: "jit-ada" } })],
  ["a lookup that finds nobody", true, "reader", () => ({ query: `query($o: String) { classroomUser(originId: $o) { __typename ... on Error { code message } ... on ClassroomUserNotFoundError { code } } }`, variables: { o: "nobody-here" } })],
  ["a lookup by userId, aliases and a fragment", true, "reader", () => ({
    query: `fragment U on ClassroomUser { id: userId who: originId } query($a: String, $b: String) { a: classroomUser(originId: $a) { ...U } b: classroomUser(originId: $b) { __typename ...U } }`,
    variables: { a: "jit-ada", b: "jit-bob" },
  })],
  ["@skip and @include with variables", true, "reader", () => ({
    query: `query($o: String, $s: Boolean!, $i: Boolean!) { classroomUser(originId: $o) { __typename ... on ClassroomUser { userId @skip(if: $s) name @include(if: $i) originId } } }`,
    variables: { o: "jit-bob", s: true, i: false },
  })],
  ["a variable's default value", true, "reader", () => ({ query: `query($o: String = "jit-cy") { classroomUser(originId: $o) { ... on ClassroomUser { originId name avatar } } }` })],
  ["a literal argument and __typename at the root", true, "reader", () => ({ query: `{ __typename classroomUser(originId: "jit-ada") { __typename } }` })],
  ["both lookup arguments (ValidationError member)", true, "reader", () => ({ query: `{ classroomUser(originId: "a", userId: "b") { __typename ... on ValidationError { fieldErrors { path message } } ... on Error { code } } }` })],
  ["_entities, found, missing and a bad representation", true, "reader", () => ({
    query: `query($r: [_Any!]!) { _entities(representations: $r) { __typename ... on ClassroomUser { originId name } } }`,
    variables: { r: [{ __typename: "ClassroomUser", sdkAppId: 1400000001, originId: "jit-ada" }, { __typename: "ClassroomUser", userId: "nope" }, { __typename: "ClassroomUser", originId: "jit-bob", sdkAppId: 1400000001 }] },
  })],
  ["a page of classroomUsers", true, "reader", () => ({
    query: `query($f: Int) { classroomUsers(first: $f, filter: { originIdPrefix: "jit-" }) { __typename ... on ClassroomUserConnection { totalCount pageInfo { hasNextPage } edges { node { originId name } } } ... on Error { code } } }`,
    variables: { f: 2 },
  })],
  ["no read scope (FORBIDDEN in errors, data null)", true, "none", () => ({ query: `query($o: String) { classroomUser(originId: $o) { __typename } }`, variables: { o: "jit-ada" } })],
  ["self-service on someone else", true, "self", () => ({ query: `mutation { issueClassroomUserToken(input: { originId: "jit-bob" }) { __typename } }` })],
  ["a mutation's ValidationError member", true, "writer", () => ({ query: REGISTER, variables: { input: { originId: "", name: "x".repeat(500) } } })],
  ["a registration that finds the user stored", true, "writer", () => ({ query: `mutation($i: RegisterClassroomUserInput!) { registerClassroomUser(input: $i) { __typename ... on RegisterClassroomUserSuccess { created user { originId name } } } }`, variables: { i: { originId: "jit-ada" } } })],
  ["a delete of nobody (not-found member)", true, "deleter", () => ({ query: `mutation { deleteClassroomUser(input: { originId: "jit-nobody" }) { __typename ... on Error { code message } } }` })],
  // Handed to the interpreting executor:
  ["a variable of the wrong type", false, "reader", () => ({ query: `query($o: String) { classroomUser(originId: $o) { __typename } }`, variables: { o: 5 } })],
  ["a missing required variable", false, "writer", () => ({ query: REGISTER, variables: {} })],
  ["an input object with an unknown field", false, "writer", () => ({ query: REGISTER, variables: { input: { originId: "x", nope: 1 } } })],
  ["a null for a non-null variable", false, "reader", () => ({ query: `query($s: Boolean!) { classroomUser(originId: "jit-ada") { __typename @include(if: $s) } }`, variables: { s: null } })],
];

describe("GRAPHQL_JIT answers as the interpreting executor does", () => {
  // Each case twice to the graphql-jit replica: a document's first execution may be interpreted (a
  // new document), the second runs compiled (or is handed over, for the cases below the comment).
  it.each(CASES)("%s", async (_name, compiled, who, body) => {
    const headers = { authorization: `Bearer ${tokens[who]}` };
    const first = await jit.gql(body() as never, headers);
    const before = { ...jit.app.server.jit.stats };
    const viaJit = await jit.gql(body() as never, headers);
    const after = jit.app.server.jit.stats;
    const viaExecutor = await plain.gql(body() as never, headers);
    expect({ status: first.status, body: first.body }).toEqual({ status: viaExecutor.status, body: viaExecutor.body });
    expect({ status: viaJit.status, body: viaJit.body }).toEqual({ status: viaExecutor.status, body: viaExecutor.body });
    expect(after.executed - before.executed).toBe(compiled ? 1 : 0);
    expect(after.delegated - before.delegated).toBe(compiled ? 0 : 1);
    expect(after.firstRuns - before.firstRuns).toBe(0);
    expect(plain.app.server.jit.enabled).toBe(false);
  });
});

describe("a document is compiled from its second execution", () => {
  it("the first run of a new document is interpreted, the next ones run compiled, with the same answer", async () => {
    const headers = { authorization: `Bearer ${tokens.reader}` };
    // A document this suite sends nowhere else (its literal is its own), as a client that writes
    // values into the query text instead of variables sends one per request.
    const body = { query: `{ classroomUser(originId: "jit-bob") { __typename ... on ClassroomUser { originId name } } }` };
    const answers = [];
    const stats = [];
    for (let i = 0; i < 3; i++) {
      const before = { ...jit.app.server.jit.stats };
      answers.push((await jit.gql(body as never, headers)).body);
      const after = jit.app.server.jit.stats;
      stats.push({ firstRuns: after.firstRuns - before.firstRuns, executed: after.executed - before.executed, delegated: after.delegated - before.delegated });
    }
    expect(stats).toEqual([
      { firstRuns: 1, executed: 0, delegated: 0 },
      { firstRuns: 0, executed: 1, delegated: 0 },
      { firstRuns: 0, executed: 1, delegated: 0 },
    ]);
    expect(answers[0]).toEqual({ data: { classroomUser: { __typename: "ClassroomUser", originId: "jit-bob", name: "Bob" } } });
    expect(answers[1]).toEqual(answers[0]);
    expect(answers[2]).toEqual(answers[0]);
  });

  it("the same document with another operation name is new again", async () => {
    const headers = { authorization: `Bearer ${tokens.reader}` };
    const query = `query A { classroomUser(originId: "jit-ada") { __typename } } query B { classroomUser(originId: "jit-cy") { __typename } }`;
    const runs = async (operationName: string) => {
      const before = { ...jit.app.server.jit.stats };
      const res = await jit.gql({ query, operationName } as never, headers);
      expect(res.body).toEqual({ data: { classroomUser: { __typename: "ClassroomUser" } } });
      const after = jit.app.server.jit.stats;
      return { firstRuns: after.firstRuns - before.firstRuns, executed: after.executed - before.executed };
    };
    expect(await runs("A")).toEqual({ firstRuns: 1, executed: 0 });
    expect(await runs("B")).toEqual({ firstRuns: 1, executed: 0 });
    expect(await runs("A")).toEqual({ firstRuns: 0, executed: 1 });
    expect(await runs("B")).toEqual({ firstRuns: 0, executed: 1 });
  });
});
