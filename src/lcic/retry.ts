/**
 * Retrying LCIC calls: capped exponential backoff with full jitter, within a total time budget,
 * and only where sending the request again is safe.
 *
 * Full jitter (delay uniform in [0, min(cap, base·2^n)]) rather than equal or decorrelated jitter:
 * after LCIC sheds load, replicas that failed together must not come back together.
 */
import type { LcicAction } from "./client.js";
import { systemNow, systemSleep, type Now, type Sleep } from "./clock.js";
import { LCIC_CIRCUIT_OPEN } from "./breaker.js";
import { isLcicError, type LcicError } from "./errors.js";
import { LCIC_PACER_UNAVAILABLE, LCIC_QUEUE_FULL } from "./pacer.js";

export interface RetryPolicyOptions {
  /** First backoff ceiling, ms. */
  baseMs: number;
  /** Largest backoff ceiling, ms. */
  capMs: number;
  /** Attempts in all, the first included (1 = never retry). */
  maxAttempts: number;
  /**
   * Bound on the whole call from its first attempt, ms. A retry whose backoff would end past it is not
   * made; the last error is thrown instead.
   */
  totalBudgetMs: number;
}

export interface RetryDependencies {
  /** Uniform in [0, 1), like Math.random. */
  random?: () => number;
  sleep?: Sleep;
  now?: Now;
}

export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicyOptions> = {
  baseMs: 100,
  capMs: 2_000,
  maxAttempts: 4,
  totalBudgetMs: 5_000,
};

/**
 * Actions that may be sent again even when an earlier attempt may have been applied: they read, or
 * they set a value to the same thing twice. RegisterUser and BatchRegister could create a second
 * user or overwrite one; DeleteUser would answer ResourceNotFound the second time and hide the
 * first outcome. Their callers reconcile instead (the pending row in classroom_users).
 */
export const IDEMPOTENT_LCIC_ACTIONS: ReadonlySet<LcicAction> = new Set<LcicAction>([
  "DescribeUser",
  "LoginUser",
  "LoginOriginId",
  "DescribeSdkAppIdUsers",
  "ModifyUserProfile",
]);

/** Codes our own resilience layer throws; retrying them here would defeat their purpose. */
const LOCAL_REFUSALS: ReadonlySet<string> = new Set([LCIC_QUEUE_FULL, LCIC_CIRCUIT_OPEN, LCIC_PACER_UNAVAILABLE]);

/**
 * Whether `error` from `action` may be retried: LCIC rate-limited us or was unavailable, said it is
 * retryable, and either nothing was applied or the action is idempotent. Business, parameter and
 * auth errors never are: the same request gets the same answer.
 */
export function isRetrySafe(error: unknown, action: LcicAction): error is LcicError {
  if (!isLcicError(error)) return false;
  if (LOCAL_REFUSALS.has(error.code)) return false;
  if (error.kind !== "rate_limited" && error.kind !== "unavailable") return false;
  if (!error.retryable) return false;
  return !error.outcomeUnknown || IDEMPOTENT_LCIC_ACTIONS.has(action);
}

/** The backoff ceiling before retry number `retry` (0 for the first retry): min(cap, base·2^retry). */
export function backoffCeilingMs(retry: number, policy: Pick<RetryPolicyOptions, "baseMs" | "capMs">): number {
  // 2^retry overflows to Infinity for large retry; min() keeps it at the cap.
  return Math.min(policy.capMs, policy.baseMs * 2 ** retry);
}

/** Full jitter: uniform in [0, backoffCeilingMs(retry)]. */
export function backoffDelayMs(
  retry: number,
  policy: Pick<RetryPolicyOptions, "baseMs" | "capMs">,
  random: () => number = Math.random,
): number {
  return Math.floor(random() * backoffCeilingMs(retry, policy));
}

/**
 * The delay before the next attempt, or undefined when none should be made: honours the error's
 * `retryAfterMs` (LCIC's or the pacer's hint) as a floor under the jittered backoff.
 */
export function nextRetryDelayMs(
  error: LcicError,
  retry: number,
  policy: Pick<RetryPolicyOptions, "baseMs" | "capMs">,
  random: () => number,
): number {
  return Math.max(backoffDelayMs(retry, policy, random), error.retryAfterMs ?? 0);
}

export interface RetryHooks {
  /** Called before sleeping for a retry; `retry` is 0 for the first retry. */
  onRetry?(event: { error: LcicError; retry: number; delayMs: number }): void;
}

/**
 * Runs `attempt` until it succeeds, fails in a way that is not safe to retry, runs out of attempts,
 * or the next backoff would end past the budget. Throws the last error in every failing case.
 * `attempt` receives its 0-based number and the budget left, in ms, so it can bound its own waits.
 */
export async function withRetry<T>(
  action: LcicAction,
  attempt: (context: { attempt: number; remainingBudgetMs: number }) => Promise<T>,
  policy: RetryPolicyOptions = DEFAULT_RETRY_POLICY,
  dependencies: RetryDependencies & RetryHooks & { signal?: AbortSignal } = {},
): Promise<T> {
  const now = dependencies.now ?? systemNow;
  const sleep = dependencies.sleep ?? systemSleep;
  const random = dependencies.random ?? Math.random;
  const startedAt = now();
  for (let n = 0; ; n++) {
    try {
      return await attempt({ attempt: n, remainingBudgetMs: policy.totalBudgetMs - (now() - startedAt) });
    } catch (error) {
      if (dependencies.signal?.aborted) throw error;
      if (n + 1 >= policy.maxAttempts || !isRetrySafe(error, action)) throw error;
      const delayMs = nextRetryDelayMs(error, n, policy, random);
      if (now() - startedAt + delayMs > policy.totalBudgetMs) throw error;
      dependencies.onRetry?.({ error, retry: n, delayMs });
      await sleep(delayMs, dependencies.signal);
    }
  }
}
