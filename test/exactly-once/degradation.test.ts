// LCIC down: callers get LcicUnavailableError quickly instead of piling up behind timeouts, reads of
// stored users keep working, /readyz stays truthful, and the service recovers by itself.
import { afterAll, describe, expect, it } from "vitest";
import { remove } from "../lifecycle/support.js";
import { find, register, startTestServer } from "../support/server.js";

// Long enough that the 20 registrations of the open-circuit phase all start within it on a loaded machine.
const COOLDOWN_MS = 3000;
const server = await startTestServer({
  configEnv: { LCIC_TIMEOUT_MS: "300", LCIC_CIRCUIT_FAILURES: "3", LCIC_CIRCUIT_COOLDOWN_MS: String(COOLDOWN_MS) },
});
afterAll(() => server.close());

const readyz = async () => {
  const res = await fetch(`${server.url}/readyz`);
  return { status: res.status, body: (await res.json()) as { database: boolean; lcicCircuit: string; lcicCircuits: Record<string, string> } };
};

describe("LCIC down", () => {
  it("fails fast once the circuit opens, keeps serving stored users, stays ready, and recovers", async () => {
    const stored = await register(server, { originId: "before-outage", name: "Stored" });
    expect(stored.__typename).toBe("RegisterClassroomUserSuccess");

    // LCIC stops answering: every call hangs past LCIC_TIMEOUT_MS.
    server.emulator.injectFault({ mode: "latency", ms: 2_000, times: Number.POSITIVE_INFINITY });
    const first = await Promise.all(["down-1", "down-2", "down-3"].map((originId) => register(server, { originId })));
    for (const r of first) expect(r).toMatchObject({ __typename: "LcicUnavailableError" });
    expect((await readyz()).body.lcicCircuit).toBe("open");

    // Open circuit: no request waits for LCIC, and LCIC is not called at all.
    const callsBefore = Object.values(server.emulator.counters()).reduce((n, c) => n + c.calls, 0);
    const fast = await Promise.all(Array.from({ length: 20 }, (_, i) => register(server, { originId: `fast-${i}` })));
    for (const r of fast) expect(r).toMatchObject({ __typename: "LcicUnavailableError", code: "Lcic.CircuitOpen" });
    expect(Object.values(server.emulator.counters()).reduce((n, c) => n + c.calls, 0)).toBe(callsBefore);

    // Reads of stored users need no LCIC.
    expect(await find(server, { originId: "before-outage" })).toMatchObject({ __typename: "ClassroomUser", userId: stored.user.userId });
    expect(await find(server, { userId: stored.user.userId })).toMatchObject({ __typename: "ClassroomUser" });
    // Ready: the database answers. The circuit is reported, not counted against readiness.
    expect(await readyz()).toEqual({ status: 200, body: expect.objectContaining({ database: true, lcicCircuit: "open" }) });

    // LCIC comes back: after the cool-down one probe goes through and closes the circuit.
    server.emulator.clearFaults();
    await new Promise((r) => setTimeout(r, COOLDOWN_MS + 100));
    const after = await register(server, { originId: "down-1" });
    expect(after).toMatchObject({ __typename: "RegisterClassroomUserSuccess" });
    // Each action has its own circuit: the one down-1's completion called is closed by that probe, the
    // others are half-open, and their next call is their probe. A new registration probes RegisterUser.
    expect(Object.values((await readyz()).body.lcicCircuits)).not.toContain("open");
    expect(await register(server, { originId: "after-outage" })).toMatchObject({ __typename: "RegisterClassroomUserSuccess", created: true });
    expect((await readyz()).body.lcicCircuits.RegisterUser).toBe("closed");
    // Exactly one LCIC user per originId, despite the timeouts before.
    expect(server.emulator.users().filter((u) => u.originId === "down-1")).toHaveLength(1);
  });

  it("one failing action opens only its own circuit: deletes are refused fast, registrations and reads go on", async () => {
    const kept = await register(server, { originId: "kept-1", name: "Kept" });
    const more = await Promise.all(["gone-1", "gone-2", "gone-3", "gone-4", "gone-5", "gone-6"].map((originId) => register(server, { originId })));
    for (const r of [kept, ...more]) expect(r.__typename).toBe("RegisterClassroomUserSuccess");
    server.emulator.injectFault({ action: "DeleteUser", mode: "http", status: 503, times: Number.POSITIVE_INFINITY });

    const answers: Array<Record<string, any>> = [];
    for (const originId of ["gone-1", "gone-2", "gone-3", "gone-4", "gone-5", "gone-6"]) {
      answers.push(await remove(server, { originId }));
      if (answers.at(-1)!.code === "Lcic.CircuitOpen") break;
    }
    for (const answer of answers) expect(answer.__typename).toBe("LcicUnavailableError");
    expect(answers.at(-1)).toMatchObject({ code: "Lcic.CircuitOpen" });
    const deleteCalls = server.emulator.counters().DeleteUser?.calls ?? 0;
    expect(await remove(server, { originId: "gone-6" })).toMatchObject({ __typename: "LcicUnavailableError", code: "Lcic.CircuitOpen" });
    expect(server.emulator.counters().DeleteUser?.calls ?? 0).toBe(deleteCalls);

    // Only DeleteUser's circuit is open: a new registration and a token-bearing re-registration call LCIC.
    expect(await register(server, { originId: "after-delete-outage" })).toMatchObject({ __typename: "RegisterClassroomUserSuccess", created: true });
    expect(await find(server, { originId: "kept-1" })).toMatchObject({ __typename: "ClassroomUser", name: "Kept" });
    const ready = await readyz();
    expect(ready.status).toBe(200);
    expect(ready.body.lcicCircuit).toBe("open"); // the most severe of the actions' circuits
    expect(ready.body.lcicCircuits).toMatchObject({ DeleteUser: "open", RegisterUser: "closed", LoginUser: "closed", LoginOriginId: "closed" });
    const metrics = await server.app.metrics.text();
    expect(metrics).toMatch(/classroom_users_lcic_circuit_state\{action="DeleteUser",state="open"\} 1/);
    expect(metrics).toMatch(/classroom_users_lcic_circuit_state\{action="RegisterUser",state="closed"\} 1/);

    server.emulator.clearFaults();
    await new Promise((r) => setTimeout(r, COOLDOWN_MS + 100));
    expect(await remove(server, { originId: "gone-1" })).toMatchObject({ __typename: "DeleteClassroomUserSuccess" });
    expect((await readyz()).body.lcicCircuits.DeleteUser).toBe("closed");
  });
});
