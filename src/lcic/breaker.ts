/**
 * A circuit breaker in front of LCIC: when LCIC is down, callers get an `unavailable` LcicError at
 * once instead of each waiting for its own timeout, and requests stop piling up.
 *
 * Per process, deliberately: each replica observes LCIC through its own network path and learns
 * within a few calls that LCIC is down; sharing that through PostgreSQL would add a round trip to
 * every call for little gain. (The pacer, by contrast, must be shared: the limit is LCIC's, global.)
 * The resilient client keeps one breaker per action (resilient.ts), so one failing action does not
 * refuse the others.
 *
 * closed --(N consecutive unavailable failures, or failure ratio ≥ R over ≥ M calls in the window)--> open
 * open --(cool-down elapsed)--> half_open: exactly one probe call goes through, the rest fail fast
 * half_open --(probe answered, even with a business error)--> closed
 * half_open --(probe unavailable)--> open, for another cool-down
 *
 * Only `unavailable` errors count: a business refusal, a parameter error or a rate limit is LCIC
 * answering, which is the opposite of LCIC being down.
 */
import { systemNow, type Now } from "./clock.js";
import { LcicError } from "./errors.js";

export const LCIC_CIRCUIT_OPEN = "Lcic.CircuitOpen";

export type CircuitState = "closed" | "open" | "half_open";

/** The most severe of several circuits' states: open, then half_open, then closed (none: closed). */
export function mostSevereCircuitState(states: Iterable<CircuitState>): CircuitState {
  let worst: CircuitState = "closed";
  for (const state of states) {
    if (state === "open") return "open";
    if (state === "half_open") worst = "half_open";
  }
  return worst;
}

export interface CircuitBreakerOptions {
  /** Consecutive unavailable failures that open the circuit. */
  consecutiveFailures: number;
  /** Failure ratio over the window that opens the circuit (0..1]... */
  failureRatio: number;
  /** ...once at least this many calls ended in the window. */
  minimumCalls: number;
  windowMs: number;
  /** How long the circuit stays open before letting a probe through. */
  coolDownMs: number;
  now?: Now;
  onStateChange?(change: { from: CircuitState; to: CircuitState }): void;
}

export const DEFAULT_CIRCUIT_BREAKER_OPTIONS: Readonly<Omit<CircuitBreakerOptions, "now" | "onStateChange">> = {
  consecutiveFailures: 5,
  failureRatio: 0.5,
  minimumCalls: 10,
  windowMs: 10_000,
  coolDownMs: 5_000,
};

/** Permission to make one call; report how it ended exactly once. */
export interface CircuitPermit {
  /** The call got an answer from LCIC (success or any error other than `unavailable`). */
  success(): void;
  /** The call failed with an `unavailable` error. */
  failure(): void;
  /** The call ended without telling us anything about LCIC (caller aborted, local error). */
  release(): void;
}

export interface CircuitBreakerSnapshot {
  state: CircuitState;
  consecutiveFailures: number;
  /** Calls and unavailable failures ended within the window. */
  windowCalls: number;
  windowFailures: number;
  /** When open: ms until a probe is let through. */
  retryAfterMs?: number;
}

export class CircuitBreaker {
  private readonly options: Omit<CircuitBreakerOptions, "now" | "onStateChange">;
  private readonly now: Now;
  private readonly onStateChange: CircuitBreakerOptions["onStateChange"];
  private current: CircuitState = "closed";
  private consecutive = 0;
  /** Outcomes within the window, oldest first: at most one window's worth of calls. */
  private outcomes: Array<{ at: number; failed: boolean }> = [];
  private openedAt = 0;
  /** When the half-open probe was let through; undefined when none is in flight. */
  private probeStartedAt: number | undefined;
  /**
   * Which probe holds the half-open slot. A probe that outlived its cool-down was replaced by a newer
   * one; when the old one finally reports, it must neither free the newer probe's slot nor decide
   * the state: its outcome counts as an ordinary call's.
   */
  private currentProbe = 0;

  constructor(options: Partial<CircuitBreakerOptions> = {}) {
    this.options = { ...DEFAULT_CIRCUIT_BREAKER_OPTIONS, ...options };
    this.now = options.now ?? systemNow;
    this.onStateChange = options.onStateChange;
  }

  /** The current state, for readiness reporting; moves open → half_open when the cool-down is over. */
  state(): CircuitState {
    if (this.current === "open" && this.now() - this.openedAt >= this.options.coolDownMs) this.transition("half_open");
    return this.current;
  }

  snapshot(): CircuitBreakerSnapshot {
    const state = this.state();
    this.prune(this.now());
    const snapshot: CircuitBreakerSnapshot = {
      state,
      consecutiveFailures: this.consecutive,
      windowCalls: this.outcomes.length,
      windowFailures: this.outcomes.filter((o) => o.failed).length,
    };
    if (state === "open") snapshot.retryAfterMs = this.retryAfterMs();
    return snapshot;
  }

  /**
   * Lets a call through or throws `Lcic.CircuitOpen` (kind `unavailable`, retryable, outcome known:
   * nothing was sent). In half-open, only the first caller gets through, as the probe.
   */
  acquire(action?: string): CircuitPermit {
    const state = this.state();
    if (state === "open") throw this.openError(action, this.retryAfterMs());
    if (state === "half_open") {
      const now = this.now();
      // A probe that never reported back (a bug, or a hung call) must not keep the circuit shut
      // forever: after a cool-down it no longer holds the slot.
      if (this.probeStartedAt !== undefined && now - this.probeStartedAt < this.options.coolDownMs) {
        throw this.openError(action, this.probeStartedAt + this.options.coolDownMs - now);
      }
      this.probeStartedAt = now;
      return this.permit(++this.currentProbe);
    }
    return this.permit(undefined);
  }

  private permit(probe: number | undefined): CircuitPermit {
    let settled = false;
    const settle = (outcome: "success" | "failure" | "release") => {
      if (settled) return;
      settled = true;
      // Only the probe that still holds the slot speaks for half-open; a stale one is an ordinary call.
      const isProbe = probe !== undefined && probe === this.currentProbe && this.probeStartedAt !== undefined;
      if (isProbe) this.probeStartedAt = undefined;
      if (outcome === "success") this.recordSuccess(isProbe);
      else if (outcome === "failure") this.recordFailure(isProbe);
    };
    return {
      success: () => settle("success"),
      failure: () => settle("failure"),
      release: () => settle("release"),
    };
  }

  private recordSuccess(isProbe: boolean): void {
    const now = this.now();
    this.consecutive = 0;
    this.outcomes.push({ at: now, failed: false });
    this.prune(now);
    if (isProbe && this.current === "half_open") {
      // A fresh start: the failures that opened the circuit say nothing about LCIC now.
      this.outcomes = [];
      this.transition("closed");
    }
  }

  private recordFailure(isProbe: boolean): void {
    const now = this.now();
    this.consecutive++;
    this.outcomes.push({ at: now, failed: true });
    this.prune(now);
    if (isProbe && this.current === "half_open") {
      this.open(now);
      return;
    }
    // Calls let through before the circuit opened may still fail afterwards; they change nothing then.
    if (this.current !== "closed") return;
    const failures = this.outcomes.filter((o) => o.failed).length;
    const ratioTripped =
      this.outcomes.length >= this.options.minimumCalls && failures / this.outcomes.length >= this.options.failureRatio;
    if (this.consecutive >= this.options.consecutiveFailures || ratioTripped) this.open(now);
  }

  private open(now: number): void {
    this.openedAt = now;
    this.transition("open");
  }

  private retryAfterMs(): number {
    return Math.max(1, this.openedAt + this.options.coolDownMs - this.now());
  }

  private prune(now: number): void {
    const from = now - this.options.windowMs;
    let drop = 0;
    while (drop < this.outcomes.length && this.outcomes[drop]!.at <= from) drop++;
    if (drop > 0) this.outcomes.splice(0, drop);
  }

  private transition(to: CircuitState): void {
    const from = this.current;
    if (from === to) return;
    this.current = to;
    if (to !== "half_open") {
      this.probeStartedAt = undefined;
      this.currentProbe++; // probes of an earlier half-open period are stale from now on
    }
    this.onStateChange?.({ from, to });
  }

  private openError(action: string | undefined, retryAfterMs: number): LcicError {
    return new LcicError({
      code: LCIC_CIRCUIT_OPEN,
      message: `LCIC is unavailable (circuit open after repeated failures); not calling${action ? ` ${action}` : ""}, retry after ${retryAfterMs} ms`,
      kind: "unavailable",
      retryable: true,
      outcomeUnknown: false,
      action,
      retryAfterMs,
    });
  }
}
