/**
 * A finished request's objects die young: nothing long-lived keeps them through V8's young-generation
 * GCs (scavenges). A long-lived Set or Map that short-lived objects pass through (it was the server's
 * set of responses in flight and the database watchdog's set of executions) has its table in the old
 * generation; V8 then allocates every new table there too, and each table a rehash leaves behind keeps
 * the entries it held alive until the next full GC. So every request's whole object graph (request,
 * response, context, execution) was promoted: ~4 KB a lookup, scavenges 4-5 ms instead of ~1 ms.
 *
 * Measured here directly: lookups run 20 at a time, with a scavenge forced every 50 answers; the old
 * generation's growth across each forced scavenge is what it promoted. A full GC first puts the
 * server's long-lived state (and such a table) into the old generation, as hours of serving would.
 *
 * V8's allocation-site pretenuring is off in the test workers (vitest.config.ts, `execArgv`): in about
 * half of the Node 22.23.5 processes that ran this file it had decided, once and for the rest of the
 * process, to allocate some objects of every request in the old generation, and their young objects
 * were then promoted too, whatever served the request (~3,700 bytes a request for a bare node:http
 * server, ~7,800 for the product). What is measured here is what the product keeps, not that heuristic.
 */
import http from "node:http";
import { afterAll, expect, it } from "vitest";
import { promotedBytesPerOperation, type Promotion } from "../support/promotion.js";
import { APP, FIND, register, startTestServer } from "../support/server.js";

// Registrations repeat here far beyond the default per-client budget.
const server = await startTestServer({ configEnv: { REGISTRATION_RATE_LIMIT_PER_MINUTE: "1000000" } });
afterAll(() => server.close());

/**
 * Bytes promoted per request: `total` POSTs of `body`, 20 at a time, after 400 to warm up
 * (test/support/promotion.ts).
 */
async function promotedPerRequest(body: string, expected: string, total = 2000): Promise<Promotion> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 20 });
  const target = new URL(server.graphqlUrl);
  const post = () =>
    new Promise<void>((resolve, reject) => {
      const req = http.request(
        { agent, host: target.hostname, port: target.port, path: target.pathname, method: "POST", headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => (text += chunk));
          res.on("end", () => (text.includes(expected) ? resolve() : reject(new Error(`unexpected answer ${res.statusCode}: ${text}`))));
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  try {
    return await promotedBytesPerOperation(post, { total, warmUp: 400, concurrency: 20 });
  } finally {
    agent.destroy();
  }
}

// With a long-lived Set of the responses in flight this was ~4,900 bytes a lookup; without, ~250 (~140
// with postgres.js' settled queries no longer kept).
it("a lookup's objects are not promoted to the old generation (less than 1 KB a request)", async () => {
  await register(server, { originId: "young" });
  const perRequest = await promotedPerRequest(JSON.stringify({ query: FIND, variables: { originId: "young" } }), '"ClassroomUser"');
  expect(perRequest.perOperation, perRequest.describe("lookup")).toBeLessThan(1024);
}, 60_000);

// With the request's DataLoader in a WeakMap keyed by the context (its batch function holds the context)
// this was ~11,400 bytes a request; without it ~2,900, until postgres.js' settled queries were no longer
// kept either (patches/postgres+3.4.9.patch, test/db/postgres-query-gc.test.ts): ~80.
it("an `_entities` request's objects are not promoted either (less than 1 KB a request)", async () => {
  const stored = await register(server, { originId: "young-entity" });
  const representations = [
    { __typename: "ClassroomUser", userId: stored.user.userId },
    { __typename: "ClassroomUser", sdkAppId: APP, originId: "young-entity" },
    { __typename: "ClassroomUser", sdkAppId: APP, originId: "young" },
  ];
  const query = "query($r: [_Any!]!) { _entities(representations: $r) { ... on ClassroomUser { userId name } } }";
  const perRequest = await promotedPerRequest(JSON.stringify({ query, variables: { r: representations } }), '"userId"');
  expect(perRequest.perOperation, perRequest.describe("_entities request")).toBeLessThan(1024);
}, 60_000);

// Mutations: graphql-jit made each mutation's final promise in the compiled function, which kept every
// mutation's execution and request (patches/graphql-jit+0.8.9.patch), and zod's `.refine()`s and
// `.superRefine()`s kept each parse (src/users/validation.ts): ~8,200 bytes an issueClassroomUserToken,
// ~9,000 a registerClassroomUser answered from the stored user; ~370 and ~130 without both.
it("an issueClassroomUserToken served from the stored token is not promoted either (less than 1 KB)", async () => {
  await register(server, { originId: "young-token" });
  const query = 'mutation { issueClassroomUserToken(input: { originId: "young-token" }) { __typename ... on ClassroomUserToken { fromCache } } }';
  const perRequest = await promotedPerRequest(JSON.stringify({ query }), '"fromCache":true');
  expect(perRequest.perOperation, perRequest.describe("token request")).toBeLessThan(1024);
}, 60_000);

it("a registerClassroomUser answered with the user already stored is not promoted either (less than 1 KB)", async () => {
  await register(server, { originId: "young-again" });
  const query = 'mutation { registerClassroomUser(input: { originId: "young-again" }) { __typename ... on RegisterClassroomUserSuccess { created } } }';
  const perRequest = await promotedPerRequest(JSON.stringify({ query }), '"created":false');
  expect(perRequest.perOperation, perRequest.describe("registration")).toBeLessThan(1024);
}, 60_000);
