/**
 * Time as the resilience mechanisms see it. Pacing, backoff and the circuit breaker take these as
 * dependencies so tests can drive them with a fake clock instead of waiting in real time.
 */
import { setTimeout as delay } from "node:timers/promises";

/** Milliseconds since the Unix epoch (like `Date.now`). */
export type Now = () => number;

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

export const systemNow: Now = () => Date.now();

export const systemSleep: Sleep = async (ms, signal) => {
  signal?.throwIfAborted();
  if (ms <= 0) return;
  try {
    await delay(ms, undefined, { signal });
  } catch (error) {
    // timers/promises rejects with its own AbortError; callers expect the reason they gave.
    if (signal?.aborted) throw signal.reason;
    throw error;
  }
};
