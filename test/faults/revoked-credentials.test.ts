// LCIC credentials revoked at run time (every call answers AuthFailure.*): registrations fail fast
// with an LcicError, nothing half-written; reads from PostgreSQL keep working; /readyz stays ready;
// a metric and an error log say why.
import { afterAll, expect, it } from "vitest";
import { FIND, register, startTestServer } from "../support/server.js";

const server = await startTestServer({ logLevel: "info" });
afterAll(() => server.close());

const LCIC_MESSAGE = "The SecretId is not found, please ensure that your SecretId is correct.";

it("registrations fail fast, reads and readiness continue, and the metric and log say why", async () => {
  const stored = await register(server, { originId: "before-revocation", name: "Stored" });
  expect(stored.created).toBe(true);

  // What LCIC answers every call once the service's SecretId is deleted or disabled.
  server.emulator.injectFault({ mode: "error", code: "AuthFailure.SecretIdNotFound", message: LCIC_MESSAGE, times: Infinity });
  server.emulator.resetCounters();
  const failures = [];
  for (let i = 0; i < 3; i++) failures.push(await register(server, { originId: `after-revocation-${i}` }));
  for (const failure of failures) expect(failure).toMatchObject({ __typename: "LcicError", code: "AuthFailure.SecretIdNotFound" });
  // Masked: LCIC's explanation is for the operator's log, not for callers.
  for (const failure of failures) expect(failure.message).not.toContain(LCIC_MESSAGE);
  // Fast: one RegisterUser each, no retries (retrying cannot help), and nothing left pending.
  expect(server.emulator.counters().RegisterUser.calls).toBe(3);
  expect((await server.rows()).map((r) => r.origin_id)).toEqual(["before-revocation"]);
  // The breaker stays closed: LCIC answered, it is not down.
  expect(server.app.lcic.circuitState()).toBe("closed");

  // Reads from PostgreSQL keep working; readiness follows the database only.
  const found = await server.gql(FIND, { originId: "before-revocation" });
  expect(found.data?.classroomUser).toMatchObject({ __typename: "ClassroomUser", userId: stored.user.userId });
  const ready = await fetch(`${server.url}/readyz`);
  expect(ready.status).toBe(200);

  const metrics = await server.app.metrics.text();
  expect(metrics).toContain('classroom_users_lcic_calls_total{action="RegisterUser",outcome="AuthFailure.SecretIdNotFound"} 3');
  expect(metrics).toContain('classroom_users_registrations_total{outcome="LcicRequestError"} 3');
  const errors = server.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => (l.level as number) >= 50);
  expect(errors.some((l) => l.code === "AuthFailure.SecretIdNotFound" && /credentials/.test(String(l.msg)))).toBe(true);
  expect(errors.some((l) => JSON.stringify(l).includes(LCIC_MESSAGE))).toBe(true);
  expect(server.logs.join("\n")).not.toContain(server.emulator.credentials.secretKey);
});
