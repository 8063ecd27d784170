/**
 * An abuse corpus against the live server in production mode. Each request is refused (4xx) or
 * answered with a typed error; the process stays up; nothing reaches LCIC or the database.
 */
import { request as httpRequest } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signToken } from "../auth/support/jwks-server.js";
import { FIND, REGISTER, startSecureApp, type GqlResponse, type SecureTestApp } from "./support/app.js";

const SECRET = "abuse-corpus-shared-secret-0123456789";
let t: SecureTestApp;
let auth: Record<string, string>;

beforeAll(async () => {
  t = await startSecureApp({ NODE_ENV: "production", AUTH_JWT_SECRET: SECRET, CORS_ORIGINS: "https://app.example.com" });
  const jwt = await signToken({ privateKey: new TextEncoder().encode(SECRET), alg: "HS256" }, { scope: "classroom-users:register classroom-users:read" }, { subject: "tester" });
  auth = { authorization: `Bearer ${jwt}` };
});
afterAll(async () => {
  await t?.close();
});

async function refusedWithoutTrace(send: () => Promise<{ status: number }>, expectedStatus?: number): Promise<void> {
  const calls = t.lcicCalls();
  const rows = await t.rows();
  const response = await send();
  if (expectedStatus !== undefined) expect(response.status).toBe(expectedStatus);
  else {
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(response.status).toBeLessThan(500);
  }
  expect(t.lcicCalls()).toBe(calls);
  expect(await t.rows()).toEqual(rows);
}

const messages = (r: GqlResponse) => (r.body?.errors ?? []).map((e: { message: string }) => e.message).join("\n");
const registerMany = (n: number) => Array.from({ length: n }, (_, i) => `r${i}: registerClassroomUser(input: { originId: "bomb-${i}" }) { __typename }`).join("\n");

describe("query shape limits (refused before execution)", () => {
  it("deep queries", async () => {
    let selection = "__typename";
    for (let i = 0; i < 20; i++) selection = `user { ${selection} }`;
    const query = `mutation { registerClassroomUser(input: { originId: "deep" }) { ... on RegisterClassroomUserSuccess { ${selection} } } }`;
    await refusedWithoutTrace(async () => {
      const r = await t.gql({ query }, auth);
      // Whichever static limit trips first (cost grows with depth too).
      expect(messages(r)).toMatch(/depth|cost/i);
      return r;
    });
  });

  it("wide queries (token limit)", async () => {
    const query = `mutation { registerClassroomUser(input: { originId: "wide" }) { ${"__typename ".repeat(2000)} } }`;
    await refusedWithoutTrace(async () => {
      const r = await t.gql({ query }, auth);
      expect(messages(r)).toMatch(/token/i);
      return r;
    });
  });

  it("alias bombs", async () => {
    await refusedWithoutTrace(async () => {
      const r = await t.gql({ query: `mutation {\n${registerMany(50)}\n}` }, auth);
      expect(messages(r)).toMatch(/alias/i);
      return r;
    });
  });

  it("costly queries within the depth, alias and token limits", async () => {
    const user = "user { userId sdkAppId originId name avatar createdAt updatedAt }";
    const success = `... on RegisterClassroomUserSuccess { ${user} token tokenExpiresAt requestId created }`;
    const failure = "... on ValidationError { fieldErrors { path message } } ... on OriginIdExistsError { originId userId } ... on Error { code message }";
    const query = `mutation { ${Array.from({ length: 10 }, (_, i) => `a${i}: registerClassroomUser(input: { originId: "cost-${i}" }) { ${success} ${failure} } `).join("")} }`;
    await refusedWithoutTrace(async () => {
      const r = await t.gql({ query }, auth);
      expect(messages(r)).toMatch(/cost/i);
      return r;
    }, 400);
  });

  it("fragment cycles and exponential fragment expansion", async () => {
    await refusedWithoutTrace(() => t.gql({ query: "query { ...A } fragment A on Query { ...B } fragment B on Query { ...A }" }, auth));
    let fragments = "fragment F0 on Mutation { r: registerClassroomUser(input: { originId: \"frag\" }) { __typename } }";
    for (let i = 1; i <= 30; i++) fragments += `\nfragment F${i} on Mutation { ...F${i - 1} ...F${i - 1} }`;
    const started = Date.now();
    await refusedWithoutTrace(() => t.gql({ query: `mutation { ...F30 }\n${fragments}` }, auth));
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("directive floods", async () => {
    await refusedWithoutTrace(async () => {
      const r = await t.gql({ query: `mutation { registerClassroomUser(input: { originId: "dir" }) { __typename ${"@skip(if: false) ".repeat(30)} } }` }, auth);
      expect(messages(r)).toMatch(/directive/i);
      return r;
    });
  });
});
