// LCIC down: callers get LcicUnavailableError quickly instead of piling up behind timeouts, reads of
// stored users keep working, /readyz stays truthful, and the service recovers by itself.
import { afterAll, describe, expect, it } from "vitest";
import { find, register, startTestServer } from "../support/server.js";

// Long enough that the 20 registrations of the open-circuit phase all start within it on a loaded machine.
const COOLDOWN_MS = 3000;
const server = await startTestServer({
  configEnv: { LCIC_TIMEOUT_MS: "300", LCIC_CIRCUIT_FAILURES: "3", LCIC_CIRCUIT_COOLDOWN_MS: String(COOLDOWN_MS) },
});
afterAll(() => server.close());

const readyz = async () => {
  const res = await fetch(`${server.url}/readyz`);
  return { status: res.status, body: (await res.json()) as { database: boolean; lcicCircuit: string } };
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
    expect((await readyz()).body.lcicCircuit).toBe("closed");
    // Exactly one LCIC user per originId, despite the timeouts before.
    expect(server.emulator.users().filter((u) => u.originId === "down-1")).toHaveLength(1);
  });
});
