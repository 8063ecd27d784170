// Bad requests: a GraphQL error or a ValidationError, never a 5xx, never a crash, nothing stored.
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { find, REGISTER, register, startTestServer } from "../support/server.js";

const server = await startTestServer();
afterAll(() => server.close());
afterEach(async () => {
  // Nothing was stored or sent to LCIC, and the server still answers.
  expect(await server.rows()).toEqual([]);
  expect(server.emulator.counters().RegisterUser.calls).toBe(0);
  expect(server.emulator.users()).toEqual([]);
  expect((await find(server, { userId: "" })).__typename).toBe("ValidationError");
});

async function expectGraphQLError(res: Response, pattern?: RegExp) {
  expect(res.status).toBeGreaterThanOrEqual(200);
  expect(res.status).toBeLessThan(500);
  const body = (await res.json()) as { errors?: Array<{ message: string }>; data?: unknown };
  expect(body.errors?.length).toBeGreaterThan(0);
  if (pattern) expect(body.errors!.map((e) => e.message).join("\n")).toMatch(pattern);
  expect(JSON.stringify(body)).not.toMatch(/Unexpected error/);
  return body;
}

describe("malformed HTTP bodies", () => {
  it.each([
    ["truncated JSON", '{"query": "mutation {'],
    ["not JSON", "hello"],
    ["empty body", ""],
    ["JSON null", "null"],
    ["JSON number", "42"],
    ["query not a string", '{"query": 42}'],
    ["variables not an object", JSON.stringify({ query: REGISTER, variables: "x" })],
    ["no query", '{"variables": {}}'],
  ])("%s → 4xx GraphQL error", async (_label, body) => {
    await expectGraphQLError(await server.post(body));
  });

  it("a 30 MB body → 413, not read into a registration", async () => {
    const res = await server.post(JSON.stringify({ query: REGISTER, variables: { input: { name: "x".repeat(30_000_000) } } }));
    expect(res.status).toBe(413);
    await res.text();
  });

  it("garbage multipart → 4xx (CSRF prevention refuses a form post first); PUT → 403/405; variables an array → 400", async () => {
    const multipart = await fetch(server.graphqlUrl, { method: "POST", headers: { "content-type": "multipart/form-data; boundary=xyz" }, body: "garbage" });
    expect([400, 403]).toContain(multipart.status);
    await multipart.text();
    const put = await fetch(server.graphqlUrl, { method: "PUT", body: "{}" });
    expect([403, 405]).toContain(put.status);
    await put.text();
    await expectGraphQLError(await server.post('{"query":"{__typename}","variables":[[[]]]}'));
  });

  it("a syntax error in the document → GraphQL error", async () => {
    await expectGraphQLError(await server.post(JSON.stringify({ query: "mutation { registerClassroomUser(input: {" })), /Syntax Error/);
  });

  it("a mutation over GET is refused", async () => {
    const res = await fetch(`${server.graphqlUrl}?query=${encodeURIComponent('mutation { registerClassroomUser(input: {originId: "g"}) { __typename } }')}`, {
      headers: { accept: "application/json" },
    });
    // 403 from CSRF prevention (a GET without a preflight-forcing header), else 405 from yoga.
    expect([403, 405]).toContain(res.status);
    expect(await server.rows()).toEqual([]);
  });

  it("an unknown operationName → GraphQL error", async () => {
    await expectGraphQLError(await server.post(JSON.stringify({ query: REGISTER, operationName: "Nope", variables: { input: {} } })));
  });
});

describe("wrong variable types and unknown fields", () => {
  it.each([
    ["input missing", undefined],
    ["input null", { input: null }],
    ["name a number", { input: { name: 42 } }],
    ["originId an object", { input: { originId: { a: 1 } } }],
    ["sdkAppId a string", { input: { sdkAppId: "1400000001" } }],
    ["sdkAppId a float", { input: { sdkAppId: 1.5 } }],
    ["sdkAppId beyond Int", { input: { sdkAppId: 99999999999 } }],
    ["onExisting not an enum value", { input: { onExisting: "OVERWRITE" } }],
    ["unknown input field", { input: { originId: "u", admin: true } }],
  ])("%s → GraphQL error", async (_label, variables) => {
    await expectGraphQLError(await server.post(JSON.stringify({ query: REGISTER, variables })));
  });

  it("an unknown field in the selection → validation error", async () => {
    await expectGraphQLError(
      await server.post(JSON.stringify({ query: 'mutation { registerClassroomUser(input: {originId: "x"}) { ... on RegisterClassroomUserSuccess { password } } }' })),
      /Cannot query field "password"/,
    );
  });

  it("an unknown argument → validation error", async () => {
    await expectGraphQLError(await server.post(JSON.stringify({ query: 'query { classroomUser(email: "a@b.c") { __typename } }' })), /Unknown argument "email"/);
  });

  it("a negative or zero sdkAppId → ValidationError", async () => {
    const r = await register(server, { originId: "neg", sdkAppId: -1 });
    expect(r.__typename).toBe("ValidationError");
    expect(r.fieldErrors.map((e: { path: string[] }) => e.path.join("."))).toEqual(["input.sdkAppId"]);
    expect((await register(server, { originId: "zero", sdkAppId: 0 })).__typename).toBe("ValidationError");
  });

  it("a userId lookup with an ID given as a number is coerced and validated, not a crash", async () => {
    const res = await server.gql(`query { classroomUser(userId: 12345, originId: "x") { __typename } }`);
    expect(res.data?.classroomUser.__typename).toBe("ValidationError");
  });
});

describe("oversized strings", () => {
  it("a 1 MB name → 413 before the body is read, nothing called", async () => {
    const res = await server.post(JSON.stringify({ query: REGISTER, variables: { input: { name: "x".repeat(1024 * 1024) } } }));
    expect(res.status).toBe(413);
    await res.text();
    expect(server.emulator.counters().RegisterUser.calls).toBe(0);
  });

  it("a 16 KB name / originId / avatar → ValidationError naming each, nothing called", async () => {
    const big = "x".repeat(16 * 1024);
    const r = await register(server, { name: big, originId: big, avatar: `https://e.com/${big}` });
    expect(r.__typename).toBe("ValidationError");
    expect(r.fieldErrors.map((e: { path: string[] }) => e.path.join(".")).sort()).toEqual(["input.avatar", "input.name", "input.originId"]);
    // Messages name the limit but do not echo the value back.
    expect(JSON.stringify(r).length).toBeLessThan(2000);
  });

  it("an oversized inline literal → ValidationError", async () => {
    const res = await server.gql(`mutation { registerClassroomUser(input: { originId: "${"y".repeat(5000)}" }) { __typename } }`);
    expect(res.data?.registerClassroomUser.__typename).toBe("ValidationError");
  });

  it("a lookup with a 16 KB originId → ValidationError", async () => {
    expect((await find(server, { originId: "z".repeat(16 * 1024) })).__typename).toBe("ValidationError");
  });
});

describe("both or neither of userId/originId", () => {
  it("neither → ValidationError", async () => {
    const res = await server.gql(`query { classroomUser { __typename ... on ValidationError { fieldErrors { path message } } } }`);
    expect(res.data?.classroomUser.__typename).toBe("ValidationError");
    expect(res.data?.classroomUser.fieldErrors[0].message).toMatch(/exactly one/);
  });

  it("both → ValidationError", async () => {
    const r = await find(server, { userId: "abc", originId: "def" });
    expect(r.__typename).toBe("ValidationError");
    expect(r.fieldErrors[0].message).toMatch(/only one/);
  });
});
