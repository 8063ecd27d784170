/**
 * HTTP_FAST_LANE (src/http/fast-lane.ts) answers exactly as yoga does: two replicas on one
 * database, one with the lane and one without, get the same requests; status, headers and body
 * must be byte-for-byte the same, and the lane must have answered the ones it is meant to take
 * (and left the others to yoga). The whole HTTP suite runs on both paths (the lane by default,
 * yoga in the vitest project "yoga-path").
 */
import { createServer, request as httpRequest } from "node:http";
import type { AddressInfo } from "node:net";
import { buildSchema as buildSdl } from "graphql";
import { createYoga, type Plugin } from "graphql-yoga";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { createFastLane, regularMediaTypeFor } from "../../src/http/fast-lane.js";
import { createValidationCache } from "../../src/http/validation-cache.js";
import { signToken } from "../auth/support/jwks-server.js";
import { FIND, REGISTER, startSecureApp, type SecureTestApp } from "../security/support/app.js";

const SECRET = "a-shared-secret-of-at-least-32-bytes!!";
const key = { privateKey: new TextEncoder().encode(SECRET), alg: "HS256" };
let lane: SecureTestApp;
let plain: SecureTestApp;
let reader: string;
let writer: string;
let noScope: string;

beforeAll(async () => {
  const env = { AUTH_JWT_SECRET: SECRET, GRAPHQL_INTROSPECTION: "false", GRAPHQL_MAX_DEPTH: "4" };
  lane = await startSecureApp({ ...env, HTTP_FAST_LANE: "true" });
  plain = await startSecureApp({ ...env, HTTP_FAST_LANE: "false" }, { shareWith: lane });
  reader = await signToken(key, { scope: "classroom-users:read" }, { subject: "reader" });
  writer = await signToken(key, { scope: "classroom-users:register classroom-users:read" }, { subject: "writer" });
  noScope = await signToken(key, {}, { subject: "nobody" });
});
afterAll(async () => {
  await plain?.close();
  await lane?.close();
});

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A raw HTTP/1.1 request, so the client adds no headers of its own (fetch would add accept, origin rules, …). */
function send(url: string, method: string, headers: Record<string, string>, body?: string): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers: body === undefined ? headers : { "content-length": String(Buffer.byteLength(body)), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        // A generated request id differs per request: compare its shape, not its value.
        const { date: _date, "x-request-id": requestId, ...rest } = res.headers;
        const headers = requestId === undefined ? rest : { ...rest, "x-request-id": /^[0-9a-f-]{36}$/.test(String(requestId)) ? "<uuid>" : requestId };
        // An Apollo trace (ftv1) holds timings: compare that one is there, not its bytes.
        const raw = Buffer.concat(chunks).toString("utf8");
        if (raw.includes('"ftv1":"')) delete headers["content-length"];
        resolve({ status: res.statusCode ?? 0, headers, body: raw.replace(/"ftv1":"[A-Za-z0-9+/=]+"/g, '"ftv1":"<trace>"') });
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}

const json = { "content-type": "application/json" };
const auth = (token: string) => ({ authorization: `Bearer ${token}` });
const find = (variables: Record<string, unknown>) => JSON.stringify({ query: FIND, variables });

type Case = [name: string, laneTakes: boolean, method: string, headers: () => Record<string, string>, body?: () => string];
const CASES: Case[] = [
  ["a lookup, Accept: application/json", true, "POST", () => ({ ...json, accept: "application/json", ...auth(reader) }), () => find({ originId: "ada" })],
  ["a lookup, GraphQL-over-HTTP Accept", true, "POST", () => ({ ...json, accept: "application/graphql-response+json, application/json", ...auth(reader) }), () => find({ originId: "ada" })],
  ["a lookup, no Accept", true, "POST", () => ({ ...json, ...auth(reader) }), () => find({ originId: "ada" })],
  ["a lookup, charset and */*", true, "POST", () => ({ "content-type": "application/json; charset=utf-8", accept: "*/*", ...auth(reader) }), () => find({ originId: "ada" })],
  ["an unknown userId", true, "POST", () => ({ ...json, ...auth(reader) }), () => find({ userId: "nope" })],
  ["invalid variables (application/json)", true, "POST", () => ({ ...json, accept: "application/json", ...auth(reader) }), () => find({ originId: 5 })],
  ["invalid variables (graphql-response+json)", true, "POST", () => ({ ...json, accept: "application/graphql-response+json", ...auth(reader) }), () => find({ originId: { a: 1 } })],
  ["a syntax error", true, "POST", () => ({ ...json, ...auth(reader) }), () => JSON.stringify({ query: "query { classroomUser(" })],
  ["an unknown field", true, "POST", () => ({ ...json, accept: "application/graphql-response+json", ...auth(reader) }), () => JSON.stringify({ query: "{ nope }" })],
  ["introspection (off)", true, "POST", () => ({ ...json, ...auth(reader) }), () => JSON.stringify({ query: "{ __schema { types { name } } }" })],
  ["too deep", true, "POST", () => ({ ...json, ...auth(reader) }), () => JSON.stringify({ query: '{ __type(name: "Query") { fields { type { ofType { ofType { ofType { name } } } } } } }' })],
  ["an unknown operationName", true, "POST", () => ({ ...json, ...auth(reader) }), () => JSON.stringify({ query: FIND, operationName: "Other", variables: { originId: "a" } })],
  ["no token", true, "POST", () => ({ ...json }), () => find({ originId: "ada" })],
  ["a bad token", true, "POST", () => ({ ...json, accept: "application/graphql-response+json", authorization: "Bearer not.a.jwt" }), () => find({ originId: "ada" })],
  ["a token without the read scope", true, "POST", () => ({ ...json, ...auth(noScope) }), () => find({ originId: "ada" })],
  ["a mutation without the register scope", true, "POST", () => ({ ...json, ...auth(reader) }), () => JSON.stringify({ query: REGISTER, variables: { input: { originId: "x" } } })],
  // Asked again: the lane has seen these documents (valid ones skip validation, invalid ones are validated again).
  ["an unknown field, again", true, "POST", () => ({ ...json, accept: "application/graphql-response+json", ...auth(reader) }), () => JSON.stringify({ query: "{ nope }" })],
  ["too deep, again", true, "POST", () => ({ ...json, ...auth(reader) }), () => JSON.stringify({ query: '{ __type(name: "Query") { fields { type { ofType { ofType { ofType { name } } } } } } }' })],
  ["introspection (off), again", true, "POST", () => ({ ...json, ...auth(reader) }), () => JSON.stringify({ query: "{ __schema { types { name } } }" })],
  ["a mutation with invalid input", true, "POST", () => ({ ...json, ...auth(writer) }), () => JSON.stringify({ query: REGISTER, variables: { input: { originId: "" } } })],
  // Handed to yoga:
  ["invalid JSON", false, "POST", () => ({ ...json, ...auth(reader) }), () => "{ nope"],
  ["a JSON array (batch, off)", false, "POST", () => ({ ...json, ...auth(reader) }), () => `[${find({ originId: "ada" })}]`],
  ["a JSON string", false, "POST", () => ({ ...json, ...auth(reader) }), () => '"query"'],
  ["extensions", false, "POST", () => ({ ...json, ...auth(reader) }), () => JSON.stringify({ query: FIND, extensions: { persistedQuery: { version: 1, sha256Hash: "abc" } } })],
  ["an unexpected parameter", false, "POST", () => ({ ...json, ...auth(reader) }), () => JSON.stringify({ query: FIND, foo: 1 })],
  ["no query", false, "POST", () => ({ ...json, ...auth(reader) }), () => JSON.stringify({ variables: {} })],
  ["variables as an array", false, "POST", () => ({ ...json, ...auth(reader) }), () => JSON.stringify({ query: FIND, variables: [] })],
  ["Accept: text/event-stream", false, "POST", () => ({ ...json, accept: "text/event-stream", ...auth(reader) }), () => find({ originId: "ada" })],
  ["Accept: text/html", false, "POST", () => ({ ...json, accept: "text/html", ...auth(reader) }), () => find({ originId: "ada" })],
  ["an Origin", false, "POST", () => ({ ...json, origin: "https://evil.example", ...auth(reader) }), () => find({ originId: "ada" })],
  ["a tracing header", false, "POST", () => ({ ...json, traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", ...auth(reader) }), () => find({ originId: "ada" })],
  ["an ftv1 trace request", false, "POST", () => ({ ...json, "apollo-federation-include-trace": "ftv1", ...auth(reader) }), () => find({ originId: "ada" })],
  ["text/plain (CSRF)", false, "POST", () => ({ "content-type": "text/plain", ...auth(reader) }), () => find({ originId: "ada" })],
  ["a query string", false, "POST", () => ({ ...json, ...auth(reader) }), () => find({ originId: "ada" })],
  ["GET", false, "GET", () => ({ ...auth(reader) })],
];

describe("HTTP_FAST_LANE answers as yoga does", () => {
  it.each(CASES)("%s", async (name, laneTakes, method, headers, body) => {
    const path = name === "a query string" ? "/graphql?x=1" : name === "GET" ? `/graphql?query=${encodeURIComponent("{ __typename }")}` : "/graphql";
    const before = lane.app.server.fastLane.served();
    const viaLane = await send(lane.url + path, method, headers(), body?.());
    const served = lane.app.server.fastLane.served() - before;
    const viaYoga = await send(plain.url + path, method, headers(), body?.());
    expect(viaLane).toEqual(viaYoga);
    expect(served).toBe(laneTakes ? 1 : 0);
    expect(plain.app.server.fastLane.served()).toBe(0);
  });

  it("really answers lookups (a registered user is found through the lane)", async () => {
    const registered = await send(lane.url + "/graphql", "POST", { ...json, ...auth(writer) }, JSON.stringify({ query: REGISTER, variables: { input: { originId: "lane-user", name: "Lane" } } }));
    expect(JSON.parse(registered.body).data.registerClassroomUser.__typename).toBe("RegisterClassroomUserSuccess");
    const viaLane = await send(lane.url + "/graphql", "POST", { ...json, ...auth(reader) }, find({ originId: "lane-user" }));
    const viaYoga = await send(plain.url + "/graphql", "POST", { ...json, ...auth(reader) }, find({ originId: "lane-user" }));
    expect(viaLane).toEqual(viaYoga);
    expect(JSON.parse(viaLane.body).data.classroomUser).toMatchObject({ __typename: "ClassroomUser", originId: "lane-user" });
  });
});

describe("the lane never bypasses a plugin it does not know", () => {
  const base = { yoga: {} as never, reproduced: new Map(), authenticate: async () => ({}), remember: () => {} };
  it.each([
    ["onRequest", { onRequest() {} }],
    ["onResponse", { onResponse() {} }],
    ["onRequestParse", { onRequestParse() {} }],
    ["onParams", { onParams() {} }],
    ["onResultProcess", { onResultProcess() {} }],
    ["onExecutionResult", { onExecutionResult() {} }],
    ["instrumentation", { instrumentation: {} }],
    ["onPluginInit adding an HTTP plugin", { onPluginInit: ({ addPlugin }: { addPlugin(p: unknown): void }) => addPlugin({ onRequest() {} }) }],
  ])("a plugin with %s turns it off", (_hook, plugin) => {
    const reasons: string[] = [];
    expect(createFastLane({ ...base, plugins: [plugin as never], onDisabled: (r) => reasons.push(r) })).toBeUndefined();
    expect(reasons).toHaveLength(1);
  });

  it("envelop-only plugins keep it on", () => {
    const lanes = createFastLane({ ...base, yoga: { fetchAPI: {} } as never, plugins: [{ onParse() {}, onValidate() {}, onExecute() {}, onContextBuilding() {} }] });
    expect(lanes).toBeTypeOf("function");
  });

  it("the app's own plugins keep it on", () => {
    expect(lane.app.server.fastLane.enabled).toBe(true);
  });
});

describe("the lane skips validation only of documents known valid", () => {
  /** A lane over a small yoga whose onValidate hooks are counted; `skip` gives it the validation cache's knownValid. */
  async function laneServer(skip: boolean) {
    let onValidateCalls = 0;
    const cache = createValidationCache();
    const counting: Plugin = {
      onValidate: () => {
        onValidateCalls++;
      },
    };
    const plugins = [cache.plugin, counting];
    const yoga = createYoga({ schema: buildSdl("type Query { hello: String }"), plugins, parserAndValidationCache: { validationCache: false }, logging: false });
    const fastLane = createFastLane({
      yoga,
      plugins,
      reproduced: new Map(),
      authenticate: () => ({}),
      remember: () => {},
      ...(skip ? { knownValid: cache.knownValid } : {}),
    })!;
    const server = createServer((req, res) => {
      if (!fastLane(req, res)) void yoga.requestListener(req, res);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
    return {
      post: (query: string) => send(url, "POST", json, JSON.stringify({ query })),
      calls: () => onValidateCalls,
      served: () => fastLane.served,
    };
  }

  it("validates a valid document once, then runs no onValidate hook for it", async () => {
    const s = await laneServer(true);
    const first = await s.post("{ hello }");
    const second = await s.post("{ hello }");
    expect(first.status).toBe(200);
    expect(second).toEqual(first);
    expect(s.calls()).toBe(1);
    expect(s.served()).toBe(2);
    await s.post("{ __typename hello }");
    expect(s.calls()).toBe(2);
  });

  it("validates an invalid document every time, with the same answer", async () => {
    const s = await laneServer(true);
    const first = await s.post("{ nope }");
    const second = await s.post("{ nope }");
    expect(first.body).toContain('"errors"');
    expect(first.body).toContain("Cannot query field");
    expect(second).toEqual(first);
    expect(s.calls()).toBe(2);
  });

  it("without knownValid, runs the hooks on every request", async () => {
    const s = await laneServer(false);
    await s.post("{ hello }");
    await s.post("{ hello }");
    expect(s.calls()).toBe(2);
    expect(s.served()).toBe(2);
  });
});

describe("regularMediaTypeFor follows yoga's choice of result writer", () => {
  it.each([
    [undefined, "application/json"],
    ["*/*", "application/json"],
    ["application/json", "application/json"],
    ["application/graphql-response+json", "application/graphql-response+json"],
    ["application/graphql-response+json, application/json", "application/graphql-response+json"],
    ["application/json, application/graphql-response+json", "application/json"],
    ["application/json; charset=latin1", undefined],
    ["text/event-stream", undefined],
    ["multipart/mixed", undefined],
    ["text/event-stream, application/json", "application/json"],
  ])("%s → %s", (accept, expected) => {
    expect(regularMediaTypeFor(accept)).toBe(expected);
  });
});
