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

/** A raw HTTP request, so the test controls Content-Length and how much body is actually sent. */
function rawRequest(options: { method?: string; path?: string; headers?: Record<string, string | number>; body?: string | Buffer; declaredLength?: number }): Promise<{ status: number; body: string }> {
  const url = new URL(t.endpoint);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: url.hostname, port: url.port, method: options.method ?? "POST", path: options.path ?? "/graphql", headers: options.headers ?? {} },
      (res) => {
        let body = "";
        res.on("data", (chunk) => (body += chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("error", reject);
    if (options.body !== undefined) req.write(options.body);
    // Leave the declared-but-unsent rest hanging: the server must answer without reading it.
    if (options.declaredLength === undefined) req.end();
  });
}

describe("HTTP-level abuse", () => {
  it("a huge declared body is refused with 413 before it is read", async () => {
    await refusedWithoutTrace(
      () =>
        rawRequest({
          headers: { "content-type": "application/json", "content-length": 50 * 1024 * 1024, ...auth },
          body: '{"query":"mutation { registerClassroomUser(input: {originId: \\"huge\\"}) { __typename } }", "x": "',
          declaredLength: 50 * 1024 * 1024,
        }),
      413,
    );
  });

  it("a body just over the limit is refused; chunked bodies without a length get 411", async () => {
    const padding = " ".repeat(t.config.security.maxBodyBytes);
    await refusedWithoutTrace(() => t.gql(`{"query":"mutation { registerClassroomUser(input: {originId: \\"big\\"}) { __typename } }"}${padding}`, auth), 413);
    await refusedWithoutTrace(
      () => rawRequest({ headers: { "content-type": "application/json", "transfer-encoding": "chunked", ...auth }, body: '{"query":"{ __typename }"}' }),
      411,
    );
  });

  it("malformed bodies get 400", async () => {
    for (const body of ["{", "null", '"query"', '{"query": 42}', '{"query": "mutation {", "variables": []}', "\u0000\u0001\u0002", '{"query":"{ __typename }","variables":"nope"}']) {
      await refusedWithoutTrace(() => t.gql(body, auth));
    }
    // Variables of the wrong shape are refused by GraphQL coercion, before the resolver.
    await refusedWithoutTrace(() => t.gql({ query: REGISTER, variables: { input: { originId: { $ne: null } } } }, auth));
    await refusedWithoutTrace(() => t.gql({ query: REGISTER, variables: { input: "x".repeat(1000) } }, auth));
  });

  it("batched floods are refused while batching is off", async () => {
    const batch = Array.from({ length: 100 }, (_, i) => ({ query: REGISTER, variables: { input: { originId: `batch-${i}` } } }));
    await refusedWithoutTrace(() => t.gql(batch, auth));
  });

  it("introspection is off in production, __typename still works, and GraphiQL is not served", async () => {
    for (const query of ["{ __schema { types { name } } }", '{ __type(name: "ClassroomUser") { fields { name } } }', "query { ... on Query { __schema { queryType { name } } } }"]) {
      await refusedWithoutTrace(async () => {
        const r = await t.gql({ query }, auth);
        expect(messages(r)).toMatch(/introspection/i);
        return r;
      }, 400);
    }
    const typename = await t.gql({ query: "{ __typename }" }, auth);
    expect(typename.body).toEqual({ data: { __typename: "Query" } });
    const page = await fetch(t.endpoint, { headers: { accept: "text/html" } });
    expect(await page.text()).not.toMatch(/graphiql/i);
  });

  it("cross-site simple requests are refused (CSRF)", async () => {
    const form = "query=mutation%20%7B%20registerClassroomUser(input%3A%20%7BoriginId%3A%20%22csrf%22%7D)%20%7B%20__typename%20%7D%20%7D";
    for (const contentType of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]) {
      await refusedWithoutTrace(() => rawRequest({ headers: { "content-type": contentType, "content-length": Buffer.byteLength(form), ...auth }, body: form }), 403);
    }
    await refusedWithoutTrace(() => rawRequest({ method: "GET", path: `/graphql?query=${encodeURIComponent("{ __typename }")}`, headers: auth }), 403);
    // A non-simple GET (custom header) is fine; a mutation over GET never is.
    const get = await rawRequest({ method: "GET", path: `/graphql?query=${encodeURIComponent("{ __typename }")}`, headers: { ...auth, "x-graphql-csrf": "1" } });
    expect(get.status).toBe(200);
    await refusedWithoutTrace(
      () => rawRequest({ method: "GET", path: `/graphql?query=${encodeURIComponent('mutation { registerClassroomUser(input: {originId: "get"}) { __typename } }')}`, headers: { ...auth, "x-graphql-csrf": "1" } }),
      405,
    );
  });

  it("CORS answers only the allow-listed origin", async () => {
    const preflight = (origin: string) =>
      fetch(t.endpoint, { method: "OPTIONS", headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "authorization, content-type" } });
    const allowed = await preflight("https://app.example.com");
    expect(allowed.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
    expect(allowed.headers.get("access-control-allow-headers")).toMatch(/authorization/);
    const evil = await preflight("https://evil.example");
    expect(evil.headers.get("access-control-allow-origin")).toBeNull();
    const post = await t.gql({ query: "{ __typename }" }, { ...auth, origin: "https://evil.example" });
    expect(post.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("SQL-looking input is data; control characters are a ValidationError; neither reaches LCIC when invalid", async () => {
    const sqlish = "x'); DROP TABLE classroom_users; --";
    const registered = await t.gql({ query: REGISTER, variables: { input: { originId: sqlish, name: "Robert'); DROP TABLE students;--" } } }, auth);
    expect(registered.body.data.registerClassroomUser).toMatchObject({ __typename: "RegisterClassroomUserSuccess", user: { originId: sqlish } });
    const found = await t.gql({ query: FIND, variables: { originId: sqlish } }, auth);
    expect(found.body.data.classroomUser).toMatchObject({ __typename: "ClassroomUser", originId: sqlish });
    const injectedUserId = await t.gql({ query: FIND, variables: { userId: "' OR '1'='1" } }, auth);
    expect(injectedUserId.body.data.classroomUser.__typename).toBe("ClassroomUserNotFoundError");

    for (const originId of ["nul\u0000byte", "bell\u0007", "rtl\u202Eevil", "line\nbreak", " padded "]) {
      await (async () => {
        const calls = t.lcicCalls();
        const rows = await t.rows();
        const r = await t.gql({ query: REGISTER, variables: { input: { originId } } }, auth);
        expect(r.status).toBe(200);
        expect(r.body.data.registerClassroomUser).toMatchObject({ __typename: "ValidationError", code: "ValidationFailed" });
        expect(t.lcicCalls()).toBe(calls);
        expect((await t.rows()).users).toBe(rows.users);
      })();
    }
  });

  it("the process is still up and serving afterwards", async () => {
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
    const r = await t.gql({ query: REGISTER, variables: { input: { originId: "after-the-storm" } } }, auth);
    expect(r.body.data.registerClassroomUser.__typename).toBe("RegisterClassroomUserSuccess");
  });
});
