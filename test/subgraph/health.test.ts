// Liveness, readiness and the GraphiQL page.
import { afterAll, describe, expect, it } from "vitest";
import { startTestServer } from "../support/server.js";

const server = await startTestServer();
// Same everything, but its database URL points at a port nobody listens on.
const deadDbUrl = server.db.url.replace(/:(\d+)\//, ":1/");
const noDb = await startTestServer({ databaseUrl: deadDbUrl });
afterAll(async () => {
  await noDb.close();
  await server.close();
});

describe("/healthz", () => {
  it("200 while the process runs, even without a database", async () => {
    for (const s of [server, noDb]) {
      const res = await fetch(`${s.url}/healthz`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ status: "ok" });
    }
  });
});

describe("/readyz", () => {
  it("200 while the database answers", async () => {
    const res = await fetch(`${server.url}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ database: true });
  });

  it("503 when it does not", async () => {
    const res = await fetch(`${noDb.url}/readyz`);
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ database: false });
    expect(res.headers.get("cache-control")).toBe("no-store");
  });

  it("a GraphQL request without a database fails cleanly (DATABASE_UNAVAILABLE, no detail, not a crash)", async () => {
    const res = await noDb.gql(`query { classroomUser(originId: "x") { __typename } }`);
    expect(res.status).toBeLessThan(600);
    expect(res.errors?.[0]).toMatchObject({ message: "The database is unavailable; retry shortly.", extensions: { code: "DATABASE_UNAVAILABLE" } });
    expect(JSON.stringify(res)).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|classroom_users/);
    // The server is still there.
    expect((await fetch(`${noDb.url}/healthz`)).status).toBe(200);
  });
});

describe("GraphiQL", () => {
  it("GET /graphql with accept: text/html serves GraphiQL with no external scripts or CDNs", async () => {
    const res = await fetch(server.graphqlUrl, { headers: { accept: "text/html" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/text\/html/);
    const html = await res.text();
    expect(html).toMatch(/graphiql/i);
    expect(html).toContain("classroom-users");
    expect(html).not.toMatch(/<script[^>]+src=["']?https?:/i);
    expect(html).not.toMatch(/<link[^>]+href=["']?https?:/i);
    expect(html).not.toMatch(/unpkg\.com|jsdelivr|cdnjs|esm\.sh/i);
    // The example operations are the default query.
    expect(html).toContain("registerClassroomUser");
    expect(html).toContain("FindUser");
  });

  it("GraphiQL is off in production", async () => {
    const prod = await startTestServer({ configEnv: { NODE_ENV: "production", AUTH_MODE: "none", DATABASE_URL: "postgres://unused/x", TOKEN_ENCRYPTION_KEY: Buffer.alloc(32, 1).toString("base64") } });
    try {
      const res = await fetch(prod.graphqlUrl, { headers: { accept: "text/html" } });
      expect(await res.text()).not.toMatch(/<html/i);
    } finally {
      await prod.close();
    }
  });
});
