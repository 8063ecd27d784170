// What an operations team sees: /metrics on its own listener, spans continuing the caller's trace,
// Apollo's ftv1 inline traces, and the request id on every log line.
import { randomBytes } from "node:crypto";
import { graphql } from "graphql";
import { afterAll, describe, expect, it } from "vitest";
import { buildSchema } from "../../src/schema/index.js";
import { startMetricsServer, type MetricsListener } from "../../src/observability/metrics.js";
import { APP, FIND, REGISTER, register, startTestServer } from "../support/server.js";
import { startOtlpReceiver } from "./otlp-receiver.js";

const receiver = await startOtlpReceiver();
const server = await startTestServer({
  logLevel: "debug",
  configEnv: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_SERVICE_NAME: "classroom-users-under-test" },
});
const metrics: MetricsListener = await startMetricsServer(server.app.metrics, 0, "127.0.0.1");
afterAll(async () => {
  await metrics.close();
  await server.close();
  await receiver.close();
});

const scrape = async () => {
  const res = await fetch(metrics.url);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^text\/plain/);
  return res.text();
};

/** The value of one sample line (`name{labels} value`), or undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const match = /^([^{\s]+)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = Object.fromEntries([...(match[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(match[3]);
  }
  return undefined;
}

describe("metrics", () => {
  it("after a registration, a lookup and an LCIC error, /metrics shows each, with bounded labels and process metrics", async () => {
    const originId = `metrics-${randomBytes(4).toString("hex")}`;
    expect((await register(server, { originId, name: "Metered" })).created).toBe(true);
    expect((await register(server, { originId })).created).toBe(false); // the stored token: no LCIC call
    const found = await server.gql(FIND, { originId });
    expect(found.data?.classroomUser.__typename).toBe("ClassroomUser");
    server.emulator.injectFault({ action: "RegisterUser", mode: "error", code: "FailedOperation" });
    const failed = await register(server, { originId: `${originId}-x` });
    expect(failed.code).toBe("FailedOperation");

    const text = await scrape();
    expect(sample(text, "classroom_users_registrations_total", { outcome: "created" })).toBe(1);
    expect(sample(text, "classroom_users_registrations_total", { outcome: "existing" })).toBe(1);
    expect(sample(text, "classroom_users_registrations_total", { outcome: "LcicRequestError" })).toBe(1);
    expect(sample(text, "classroom_users_lcic_calls_total", { action: "RegisterUser", outcome: "ok" })).toBe(1);
    expect(sample(text, "classroom_users_lcic_calls_total", { action: "RegisterUser", outcome: "FailedOperation" })).toBe(1);
    expect(sample(text, "classroom_users_lcic_call_duration_seconds_count", { action: "RegisterUser" })).toBe(2);
    expect(sample(text, "classroom_users_lcic_pacer_wait_seconds_count", { action: "RegisterUser" })).toBe(2);
    expect(sample(text, "classroom_users_lcic_pacer_queued_calls", { action: "RegisterUser" })).toBe(0);
    expect(sample(text, "classroom_users_tokens_issued_total", { source: "lcic" })).toBe(1);
    expect(sample(text, "classroom_users_tokens_issued_total", { source: "stored" })).toBe(1);
    expect(sample(text, "classroom_users_lcic_circuit_state", { action: "RegisterUser", state: "closed" })).toBe(1);
    expect(sample(text, "classroom_users_pending_registrations")).toBe(0);
    expect(sample(text, "classroom_users_oldest_pending_age_seconds")).toBe(0);
    // GraphQL operations by name, from yoga's prometheus plugin.
    expect(sample(text, "graphql_envelop_request", { operationName: "Register" })).toBe(3);
    expect(sample(text, "graphql_envelop_request", { operationName: "Find" })).toBe(1);
    expect(sample(text, "graphql_envelop_request_duration_count", { operationName: "Find" })).toBe(1);
    expect(sample(text, "graphql_envelop_error_result")).toBeUndefined(); // typed union members are not GraphQL errors
    // Node's process metrics.
    expect(sample(text, "process_resident_memory_bytes")).toBeGreaterThan(0);
    expect(sample(text, "nodejs_eventloop_lag_seconds")).toBeGreaterThanOrEqual(0);
    // No user ids or originIds in labels.
    expect(text).not.toContain(originId);
    const row = (await server.rows()).find((r) => r.origin_id === originId)!;
    expect(text).not.toContain(row.user_id);
  });

  it("operation names are bounded label values: an outlandish one counts as other", async () => {
    const long = `Q${"x".repeat(80)}`;
    expect((await server.gql(`query ${long} { __typename }`)).status).toBe(200);
    const text = await scrape();
    expect(text).not.toContain(long);
    expect(sample(text, "graphql_envelop_request", { operationName: "other", operationType: "query" })).toBe(1);
  });

  it("counts GraphQL errors by phase: a syntax error, an invalid document, an error of execution", async () => {
    const before = await scrape();
    const count = (text: string, labels: Record<string, string>) => sample(text, "graphql_envelop_error_result", labels) ?? 0;
    expect((await server.gql("query Broken {")).errors).toHaveLength(1);
    expect((await server.gql("query Invalid { noSuchField }")).errors).toHaveLength(1);
    expect((await server.gql("query Invalid { noSuchField }")).errors).toHaveLength(1); // validated (and counted) again
    // Variables that do not fit their types fail when execution starts (as with @envelop/prometheus: phase "execute").
    const denied = await server.gql("query Denied($n: Int!) { classroomUser(originId: \"x\", sdkAppId: $n) { __typename } }", { n: "not a number" });
    expect(denied.errors).toHaveLength(1);
    const after = await scrape();
    expect(count(after, { phase: "parse" }) - count(before, { phase: "parse" })).toBe(1);
    expect(count(after, { operationName: "Invalid", operationType: "query", phase: "validate" })).toBe(2);
    expect(sample(after, "graphql_envelop_request", { operationName: "Invalid" })).toBeUndefined(); // never executed
    expect(count(after, { operationName: "Denied", operationType: "query", phase: "execute" })).toBe(1);
    expect(sample(after, "graphql_envelop_request", { operationName: "Denied", operationType: "query" })).toBe(1);
    expect(sample(after, "graphql_envelop_request_duration_count", { operationName: "Denied" })).toBe(1);
  });

  it("counts pending rows and their age by SQL when scraped", async () => {
    await server.db.sql`insert into classroom_users (sdk_app_id, origin_id, status, created_at, updated_at) values (${APP}, 'metrics-pending', 'pending', now() - interval '90 seconds', now())`;
    const text = await scrape();
    expect(sample(text, "classroom_users_pending_registrations")).toBe(1);
    expect(sample(text, "classroom_users_oldest_pending_age_seconds")).toBeGreaterThanOrEqual(90);
    await server.db.sql`delete from classroom_users where origin_id = 'metrics-pending'`;
  });

  it("counts the reconciler's completions", async () => {
    // A registration that reached LCIC before its replica died: LCIC has the user, we have a pending row.
    await server.lcic.client.registerUser({ sdkAppId: APP, originId: "metrics-reconciled" });
    await server.db.sql`insert into classroom_users (sdk_app_id, origin_id, status, attempts, created_at, updated_at) values (${APP}, 'metrics-reconciled', 'pending', 1, now() - interval '2 minutes', now() - interval '2 minutes')`;
    expect(await server.app.reconciler!.sweep()).toMatchObject({ registered: 1 });
    expect(sample(await scrape(), "classroom_users_reconciler_completions_total", { outcome: "registered" })).toBe(1);
  });

  it("counts per-client refusals and is not served on the GraphQL port", async () => {
    const limited = await startTestServer({ shareWith: server, configEnv: { REGISTRATION_RATE_LIMIT_PER_MINUTE: "1" } });
    try {
      // This client (127.0.0.1) has registered before on the shared database: over a limit of 1 at once.
      const results = [await register(limited, { originId: "metrics-limit-1" }), await register(limited, { originId: "metrics-limit-2" })];
      const refused = results.filter((r) => r.code === "Client.RateLimited").length;
      expect(refused).toBeGreaterThanOrEqual(1);
      const own = await limited.app.metrics.text();
      expect(sample(own, "classroom_users_client_refusals_total", { limit: "registration" })).toBe(refused);
    } finally {
      await limited.close();
    }
    const onGraphqlPort = await fetch(`${server.url}/metrics`);
    expect(await onGraphqlPort.text()).not.toContain("classroom_users_");
  });
});

describe("traces", () => {
  it("continue the caller's traceparent through GraphQL phases, LCIC calls and SQL statements", async () => {
    const traceId = randomBytes(16).toString("hex");
    const parentSpanId = randomBytes(8).toString("hex");
    const res = await server.post(JSON.stringify({ query: REGISTER, variables: { input: { originId: `traced-${traceId.slice(0, 8)}` } } }), {
      traceparent: `00-${traceId}-${parentSpanId}-01`,
    });
    expect(res.status).toBe(200);
    await server.app.tracing!.flush();
    const spans = receiver.spans.filter((s) => s.traceId === traceId);
    const root = spans.find((s) => s.name === "POST /graphql")!;
    expect(root).toBeDefined();
    expect(root.parentSpanId).toBe(parentSpanId);
    expect(root.serviceName).toBe("classroom-users-under-test");
    expect(root.attributes["http.response.status_code"]).toBe(200);
    const names = spans.map((s) => s.name);
    expect(names).toEqual(expect.arrayContaining(["graphql.parse", "graphql.validate", "graphql.execute Register", "lcic RegisterUser"]));
    const execute = spans.find((s) => s.name === "graphql.execute Register")!;
    const lcic = spans.find((s) => s.name === "lcic RegisterUser")!;
    expect(lcic.parentSpanId).toBe(execute.spanId);
    expect(lcic.attributes).toMatchObject({ "lcic.action": "RegisterUser", "lcic.outcome": "ok", "lcic.attempt": 0 });
    expect(lcic.attributes["lcic.request_id"]).toMatch(/^[0-9a-f-]{36}$/);
    expect(typeof lcic.attributes["lcic.pacer_wait_ms"]).toBe("number");
    const sql = spans.filter((s) => s.attributes["db.system.name"] === "postgresql");
    expect(sql.map((s) => s.name)).toEqual(expect.arrayContaining(["INSERT classroom_users", "UPDATE classroom_users"]));
    expect(sql.some((s) => s.name.startsWith("lock wait"))).toBe(true);
    // Statements, never their parameters.
    expect(JSON.stringify(sql)).not.toContain(`traced-${traceId.slice(0, 8)}`);
  });

  it("a request without traceparent starts a new trace", async () => {
    const before = receiver.spans.length;
    const res = await server.gql(FIND, { originId: "nobody-traced" });
    expect(res.status).toBe(200);
    await server.app.tracing!.flush();
    const root = receiver.spans.slice(before).find((s) => s.name === "POST /graphql")!;
    expect(root.parentSpanId).toBeUndefined();
    expect(root.traceId).toMatch(/^[0-9a-f]{32}$/);
  });

  it("trace the validation of every request, also of a document validated before", async () => {
    const before = receiver.spans.length;
    for (const originId of ["validated-1", "validated-2"]) expect((await server.gql(FIND, { originId })).status).toBe(200);
    await server.app.tracing!.flush();
    const spans = receiver.spans.slice(before);
    const roots = spans.filter((s) => s.name === "POST /graphql");
    expect(roots).toHaveLength(2);
    for (const root of roots) expect(spans.filter((s) => s.traceId === root.traceId).map((s) => s.name)).toContain("graphql.validate");
  });
});

describe("Apollo federated tracing", () => {
  it("answers extensions.ftv1 when the router asks for it, and only then", async () => {
    const query = JSON.stringify({ query: FIND, variables: { originId: "ftv1-user" } });
    const asked = (await (await server.post(query, { "apollo-federation-include-trace": "ftv1" })).json()) as { extensions?: { ftv1?: string } };
    expect(typeof asked.extensions?.ftv1).toBe("string");
    expect(Buffer.from(asked.extensions!.ftv1!, "base64").length).toBeGreaterThan(10);
    const plain = (await (await server.post(query)).json()) as { extensions?: { ftv1?: string } };
    expect(plain.extensions?.ftv1).toBeUndefined();
  });

  it("wraps the resolvers of its server's own schema, not the process's shared one", async () => {
    // The plugin wraps every resolver of the schema it is given, in place (reading context.request):
    // on the shared buildSchema() each server in a process stacked another wrapper, and a plain
    // graphql() call without a yoga context threw "Cannot read properties of undefined (reading 'request')".
    const result = await graphql({ schema: buildSchema(), source: "{ _service { sdl } }" });
    expect(result.errors).toBeUndefined();
  });
});

describe("request ids", () => {
  it("are taken from a sane x-request-id, echoed, and on every log line of the request (with the trace id)", async () => {
    const requestId = `req-${randomBytes(6).toString("hex")}`;
    const res = await server.post(JSON.stringify({ query: REGISTER, variables: { input: { originId: `rid-${requestId}` } } }), { "x-request-id": requestId });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-request-id")).toBe(requestId);
    const lines = server.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.reqId === requestId);
    // The LCIC call's debug line and the audit event at least.
    expect(lines.length).toBeGreaterThanOrEqual(1);
    const auditLine = lines.find((l) => l.audit === true)!;
    expect(auditLine).toMatchObject({ event: "token.issued", operation: "registerClassroomUser", source: "lcic", lcicAction: "RegisterUser", actor: "ip:127.0.0.1" });
    expect(auditLine.traceId).toMatch(/^[0-9a-f]{32}$/);
  });

  it("are on the lines logged deep in the service: a failed LCIC call's warning", async () => {
    const requestId = `req-${randomBytes(6).toString("hex")}`;
    server.emulator.injectFault({ action: "RegisterUser", mode: "error", code: "FailedOperation" });
    const before = server.logs.length;
    await server.post(JSON.stringify({ query: REGISTER, variables: { input: { originId: `rid-fail-${requestId}` } } }), { "x-request-id": requestId });
    const lines = server.logs.slice(before).map((l) => JSON.parse(l) as Record<string, unknown>);
    const failed = lines.find((l) => l.msg === "LCIC call failed")!;
    expect(failed).toMatchObject({ reqId: requestId, action: "RegisterUser", code: "FailedOperation" });
    // Nothing logged for this request lacks its id.
    expect(lines.filter((l) => l.reqId !== requestId)).toEqual([]);
  });

  it("are generated when absent or not sane", async () => {
    for (const header of [undefined, "has spaces in it", "x".repeat(500)]) {
      const res = await server.post(JSON.stringify({ query: "{ __typename }" }), header ? { "x-request-id": header } : {});
      expect(res.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    }
  });
});
