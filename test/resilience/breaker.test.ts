import { describe, expect, it } from "vitest";
import { CircuitBreaker, LCIC_CIRCUIT_OPEN, type CircuitState } from "../../src/lcic/breaker.js";
import { isLcicError } from "../../src/lcic/errors.js";

function setup(options: ConstructorParameters<typeof CircuitBreaker>[0] = {}) {
  let t = 0;
  const changes: Array<[CircuitState, CircuitState]> = [];
  const breaker = new CircuitBreaker({
    consecutiveFailures: 3,
    failureRatio: 0.5,
    minimumCalls: 10,
    windowMs: 10_000,
    coolDownMs: 5_000,
    now: () => t,
    onStateChange: ({ from, to }) => changes.push([from, to]),
    ...options,
  });
  return { breaker, changes, advance: (ms: number) => void (t += ms) };
}

const fail = (b: CircuitBreaker) => b.acquire("LoginUser").failure();
const succeed = (b: CircuitBreaker) => b.acquire("LoginUser").success();

describe("circuit breaker", () => {
  it("opens after N consecutive unavailable failures and then fails fast with an honest retryAfterMs", () => {
    const { breaker, advance } = setup();
    fail(breaker);
    fail(breaker);
    expect(breaker.state()).toBe("closed");
    fail(breaker);
    expect(breaker.state()).toBe("open");
    advance(1_000);
    let error: unknown;
    try {
      breaker.acquire("RegisterUser");
    } catch (e) {
      error = e;
    }
    expect(isLcicError(error, LCIC_CIRCUIT_OPEN)).toBe(true);
    expect(error).toMatchObject({ kind: "unavailable", retryable: true, outcomeUnknown: false, retryAfterMs: 4_000, action: "RegisterUser" });
    expect(breaker.snapshot()).toMatchObject({ state: "open", retryAfterMs: 4_000 });
  });

  it("a success resets the consecutive count", () => {
    const { breaker } = setup();
    fail(breaker);
    fail(breaker);
    succeed(breaker);
    fail(breaker);
    fail(breaker);
    expect(breaker.state()).toBe("closed");
  });

  it("opens on the failure ratio over the window once enough calls ended", () => {
    const { breaker, advance } = setup({ consecutiveFailures: 100 });
    // Alternating: never 3 in a row, but half of the calls fail.
    for (let i = 0; i < 9; i++) {
      (i % 2 === 0 ? fail : succeed)(breaker);
      advance(100);
    }
    expect(breaker.state()).toBe("closed"); // 9 calls: below minimumCalls
    fail(breaker); // 10 calls, 6 failed
    expect(breaker.state()).toBe("open");
  });

  it("forgets outcomes older than the window", () => {
    const { breaker, advance } = setup({ consecutiveFailures: 100 });
    for (let i = 0; i < 8; i++) fail(breaker);
    advance(10_001);
    for (let i = 0; i < 9; i++) succeed(breaker);
    fail(breaker);
    expect(breaker.snapshot()).toMatchObject({ state: "closed", windowCalls: 10, windowFailures: 1 });
  });

  it("half-opens after the cool-down, lets exactly one probe through, and closes when it succeeds", () => {
    const { breaker, advance, changes } = setup();
    for (let i = 0; i < 3; i++) fail(breaker);
    advance(5_000);
    expect(breaker.state()).toBe("half_open");
    const probe = breaker.acquire("DescribeUser");
    expect(() => breaker.acquire("DescribeUser")).toThrow(expect.objectContaining({ code: LCIC_CIRCUIT_OPEN }));
    probe.success();
    expect(breaker.state()).toBe("closed");
    expect(changes).toEqual([["closed", "open"], ["open", "half_open"], ["half_open", "closed"]]);
    // Closed afresh: the old failures do not count towards the ratio or the consecutive count.
    fail(breaker);
    fail(breaker);
    expect(breaker.state()).toBe("closed");
  });

  it("re-opens for another full cool-down when the probe fails", () => {
    const { breaker, advance } = setup();
    for (let i = 0; i < 3; i++) fail(breaker);
    advance(5_000);
    breaker.acquire("DescribeUser").failure();
    expect(breaker.snapshot()).toMatchObject({ state: "open", retryAfterMs: 5_000 });
    advance(4_999);
    expect(breaker.state()).toBe("open");
    advance(1);
    expect(breaker.state()).toBe("half_open");
  });

  it("a released probe (caller aborted) lets the next caller probe", () => {
    const { breaker, advance } = setup();
    for (let i = 0; i < 3; i++) fail(breaker);
    advance(5_000);
    breaker.acquire().release();
    expect(breaker.state()).toBe("half_open");
    breaker.acquire().success();
    expect(breaker.state()).toBe("closed");
  });

  it("a probe that never reports back stops blocking after a cool-down", () => {
    const { breaker, advance } = setup();
    for (let i = 0; i < 3; i++) fail(breaker);
    advance(5_000);
    breaker.acquire(); // lost
    advance(4_999);
    expect(() => breaker.acquire()).toThrow(expect.objectContaining({ retryAfterMs: 1 }));
    advance(1);
    expect(() => breaker.acquire().success()).not.toThrow();
    expect(breaker.state()).toBe("closed");
  });

  it("a stale probe reporting late neither frees the newer probe's slot nor decides the state", () => {
    for (const report of ["release", "success", "failure"] as const) {
      const { breaker, advance } = setup();
      for (let i = 0; i < 3; i++) fail(breaker);
      advance(5_000);
      const stale = breaker.acquire(); // hangs past its cool-down
      advance(5_000);
      const newer = breaker.acquire(); // takes over the half-open slot
      stale[report]();
      // The newer probe still holds the slot: nobody else gets through while it is in flight.
      expect(() => breaker.acquire(), report).toThrow(expect.objectContaining({ code: LCIC_CIRCUIT_OPEN }));
      expect(breaker.state(), report).toBe("half_open");
      newer.success();
      expect(breaker.state(), report).toBe("closed");
    }
  });

  it("late failures of calls let through before it opened do not extend the open period", () => {
    const { breaker, advance } = setup();
    const inFlight = [breaker.acquire(), breaker.acquire(), breaker.acquire(), breaker.acquire()];
    inFlight.slice(0, 3).forEach((p) => p.failure());
    advance(4_000);
    inFlight[3]!.failure();
    advance(1_000);
    expect(breaker.state()).toBe("half_open");
  });

  it("a permit settles once: a second report is ignored", () => {
    const { breaker } = setup();
    const permit = breaker.acquire();
    permit.failure();
    permit.failure();
    permit.failure();
    expect(breaker.snapshot()).toMatchObject({ state: "closed", consecutiveFailures: 1 });
  });
});
