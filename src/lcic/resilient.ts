/**
 * The LcicClient every caller uses: the SDK-backed client wrapped in the resilience mechanisms.
 *
 * Per attempt: circuit breaker check (one breaker per action) → pacer slot (shared by all replicas) →
 * the call → the outcome reported to that action's breaker. On failure, withRetry decides whether
 * another attempt is safe and fits in the budget; each retry is paced again, so retries never push us
 * over LCIC's limits.
 */
import { LCIC_ACTIONS, type CallOptions, type LcicAction, type LcicClient, type LcicPriority } from "./client.js";
import { CircuitBreaker, LCIC_CIRCUIT_OPEN, mostSevereCircuitState, type CircuitState } from "./breaker.js";
import { systemNow, systemSleep, type Now, type Sleep } from "./clock.js";
import { isLcicError, LcicError, type LcicErrorInit } from "./errors.js";
import { LCIC_PACER_UNAVAILABLE, LCIC_QUEUE_FULL, type Pacer } from "./pacer.js";
import { DEFAULT_RETRY_POLICY, withRetry, type RetryPolicyOptions } from "./retry.js";

export { LCIC_PACER_UNAVAILABLE };

/**
 * What the wrapper reports for metrics and logs. Carries action names and error codes only, never
 * request fields or tokens.
 */
export type ResilienceEvent =
  | {
      type: "call";
      action: LcicAction;
      attempt: number;
      outcome: "ok" | "error";
      code?: string;
      /** For credential/configuration refusals only: LCIC's own explanation, which callers do not see. */
      detail?: string;
      durationMs: number;
      pacedMs: number;
      /** LCIC's RequestId of this attempt, when LCIC answered. */
      lcicRequestId?: string;
    }
  | { type: "retry"; action: LcicAction; retry: number; code: string; delayMs: number }
  | { type: "rate_limited"; action: LcicAction; code: string; retryAfterMs?: number }
  | { type: "circuit_open"; action: LcicAction; code: string; retryAfterMs?: number };

export interface ResilientLcicClientOptions {
  /** Shared pacer; omitted = no pacing (tests, or a deployment that accepts LCIC's refusals). */
  pacer?: Pacer;
  retry?: Partial<RetryPolicyOptions>;
  /**
   * The circuit breakers. A function is asked once per action, on that action's first call: each action
   * has its own circuit, so one failing action (a slow DescribeSdkAppIdUsers page, a DeleteUser LCIC
   * answers with 5xx) does not refuse the others, registrations above all. One instance is shared by
   * every action (tests). Omitted = one breaker per action with the default options.
   */
  breaker?: CircuitBreaker | ((action: LcicAction) => CircuitBreaker);
  /** `LCIC_MAX_QUEUE_MS`: the longest a call waits for its pacer slot before failing `rate_limited`. */
  maxQueueMs: number;
  onEvent?: (event: ResilienceEvent) => void;
  now?: Now;
  sleep?: Sleep;
  random?: () => number;
}

export interface ResilienceStats {
  /** Calls made through the wrapper (one per method invocation, however many attempts). */
  calls: number;
  succeeded: number;
  failed: number;
  /** Attempts sent to LCIC, retries included. */
  attempts: number;
  retries: number;
  /** Calls that ended rate-limited, by our pacer or by LCIC. */
  rateLimited: number;
  /** Calls refused by our pacer because the wait would exceed maxQueueMs. */
  queueFull: number;
  /** Attempts LCIC answered with RequestLimitExceeded*. */
  lcicRateLimited: number;
  /** Calls failed fast by the open circuit. */
  circuitOpen: number;
  /** Total ms spent waiting for pacer slots. */
  pacedMs: number;
  circuit: CircuitState;
}

export type ResilientLcicClient = LcicClient & {
  stats(): ResilienceStats;
  /** The most severe state of any action's circuit (open, then half_open, then closed), for `/readyz`. */
  circuitState(): CircuitState;
  /** Each action's circuit state; an action not called yet is closed. */
  circuitStates(): Record<LcicAction, CircuitState>;
};

export function createResilientLcicClient(inner: LcicClient, options: ResilientLcicClientOptions): ResilientLcicClient {
  const policy: RetryPolicyOptions = { ...DEFAULT_RETRY_POLICY, ...options.retry };
  const breakers = new Map<LcicAction, CircuitBreaker>();
  const shared = options.breaker instanceof CircuitBreaker ? options.breaker : undefined;
  const makeBreaker =
    typeof options.breaker === "function" ? options.breaker : () => new CircuitBreaker({ now: options.now });
  const breakerFor = (action: LcicAction): CircuitBreaker => {
    if (shared) return shared;
    let breaker = breakers.get(action);
    if (!breaker) breakers.set(action, (breaker = makeBreaker(action)));
    return breaker;
  };
  const circuitStates = () =>
    Object.fromEntries(LCIC_ACTIONS.map((action) => [action, shared ? shared.state() : (breakers.get(action)?.state() ?? "closed")])) as Record<LcicAction, CircuitState>;
  const circuitState = (): CircuitState => mostSevereCircuitState(Object.values(circuitStates()));
  const now = options.now ?? systemNow;
  const sleep = options.sleep ?? systemSleep;
  const counters = {
    calls: 0, succeeded: 0, failed: 0, attempts: 0, retries: 0,
    rateLimited: 0, queueFull: 0, lcicRateLimited: 0, circuitOpen: 0, pacedMs: 0,
  };
  const emit = (event: ResilienceEvent) => {
    try {
      options.onEvent?.(event);
    } catch {
      // Metrics must never break a call.
    }
  };

  async function attempt<T>(action: LcicAction, sdkAppId: number | undefined, n: number, remainingBudgetMs: number, callOptions: CallOptions | undefined, send: () => Promise<T>): Promise<T> {
    const signal = callOptions?.signal;
    const priority: LcicPriority = callOptions?.priority ?? "interactive";
    // `ready` (CallOptions): settled before this attempt sends or fails; its failure is the answer.
    const readyFailure = callOptions?.ready?.then(
      () => undefined,
      (error: unknown) => ({ error }),
    );
    const failAfterReady = async (error: unknown): Promise<never> => {
      const failed = await readyFailure;
      throw failed ? failed.error : error;
    };
    let permit;
    try {
      permit = breakerFor(action).acquire(action);
    } catch (error) {
      return failAfterReady(error);
    }
    let pacedMs = 0;
    try {
      if (options.pacer) {
        // A retry may not queue past the retry budget either; the first attempt gets the full bound.
        const maxQueueMs = n === 0 ? options.maxQueueMs : Math.max(0, Math.min(options.maxQueueMs, remainingBudgetMs));
        try {
          // `ready` goes along: a slot it let pass by is exchanged for a new one (pacer.ts, late wake-ups).
          pacedMs = await options.pacer.acquire(action, sdkAppId, { maxQueueMs, priority, ...(signal ? { signal } : {}), ...(readyFailure ? { ready: readyFailure } : {}) });
        } catch (error) {
          if (isLcicError(error) || signal?.aborted) throw error;
          throw new LcicError({
            code: LCIC_PACER_UNAVAILABLE,
            message: `could not reserve an LCIC rate-limit slot for ${action}: the pacer's database failed`,
            kind: "unavailable",
            retryable: true,
            outcomeUnknown: false,
            action,
            cause: error,
          });
        }
        counters.pacedMs += pacedMs;
      }
    } catch (error) {
      permit.release();
      return failAfterReady(error);
    }
    const notReady = await readyFailure;
    if (notReady) {
      permit.release();
      throw notReady.error;
    }
    counters.attempts++;
    const startedAt = now();
    try {
      const result = await send();
      permit.success();
      const requestId = (result as { requestId?: unknown } | undefined)?.requestId;
      emit({ type: "call", action, attempt: n, outcome: "ok", durationMs: now() - startedAt, pacedMs, ...(typeof requestId === "string" ? { lcicRequestId: requestId } : {}) });
      return result;
    } catch (error) {
      const code = isLcicError(error) ? error.code : "Unexpected";
      if (signal?.aborted) permit.release(); // our caller gave up: says nothing about LCIC
      else if (isLcicError(error) && error.kind === "unavailable") permit.failure();
      else if (isLcicError(error)) permit.success();
      else permit.release();
      if (isLcicError(error) && error.kind === "rate_limited") {
        counters.lcicRateLimited++;
        emit({ type: "rate_limited", action, code, retryAfterMs: error.retryAfterMs });
      }
      const detail = isLcicError(error) && error.kind === "auth" ? error.detail : undefined;
      const requestId = isLcicError(error) ? error.requestId : undefined;
      emit({ type: "call", action, attempt: n, outcome: "error", code, ...(detail ? { detail } : {}), durationMs: now() - startedAt, pacedMs, ...(requestId ? { lcicRequestId: requestId } : {}) });
      throw error;
    }
  }

  async function run<T>(action: LcicAction, sdkAppId: number | undefined, callOptions: CallOptions | undefined, send: () => Promise<T>): Promise<T> {
    counters.calls++;
    const signal = callOptions?.signal;
    let retriedAfter: LcicError | undefined;
    try {
      const result = await withRetry(
        action,
        ({ attempt: n, remainingBudgetMs }) => attempt(action, sdkAppId, n, remainingBudgetMs, callOptions, send),
        policy,
        {
          now,
          sleep,
          random: options.random,
          signal,
          onRetry: ({ error, retry, delayMs }) => {
            retriedAfter = error;
            counters.retries++;
            emit({ type: "retry", action, retry, code: error.code, delayMs });
          },
        },
      );
      counters.succeeded++;
      return result;
    } catch (caught) {
      let error = caught;
      if (retriedAfter && isLcicError(error, LCIC_QUEUE_FULL)) {
        // A retry that could not get a pacer slot within the budget left ends the call with LCIC's
        // own answer (say InternalError), the real reason, rather than with our queue's refusal.
        // When that answer was a rate limit, its retryAfterMs is LCIC's one-second guess; the
        // queue's refusal knows when a slot really frees up, so that figure is the one passed on.
        emit({ type: "rate_limited", action, code: error.code, retryAfterMs: error.retryAfterMs });
        error = retriedAfter.kind === "rate_limited" ? withRetryAfter(retriedAfter, error.retryAfterMs) : retriedAfter;
      }
      counters.failed++;
      if (isLcicError(error) && error.kind === "rate_limited") counters.rateLimited++;
      if (isLcicError(error, LCIC_QUEUE_FULL)) {
        counters.queueFull++;
        emit({ type: "rate_limited", action, code: error.code, retryAfterMs: error.retryAfterMs });
      } else if (isLcicError(error, LCIC_CIRCUIT_OPEN)) {
        counters.circuitOpen++;
        emit({ type: "circuit_open", action, code: error.code, retryAfterMs: error.retryAfterMs });
      }
      throw withAction(error, action);
    }
  }

  return {
    registerUser: (input, o) => run("RegisterUser", input.sdkAppId, o, () => inner.registerUser(input, o)),
    // A batch may name several applications: paced per action alone, the conservative choice.
    batchRegister: (users, o) => run("BatchRegister", undefined, o, () => inner.batchRegister(users, o)),
    describeUser: (by, o) => run("DescribeUser", undefined, o, () => inner.describeUser(by, o)),
    loginUser: (userId, o) => run("LoginUser", undefined, o, () => inner.loginUser(userId, o)),
    loginOriginId: (input, o) => run("LoginOriginId", input.sdkAppId, o, () => inner.loginOriginId(input, o)),
    modifyUserProfile: (input, o) => run("ModifyUserProfile", undefined, o, () => inner.modifyUserProfile(input, o)),
    deleteUser: (userId, o) => run("DeleteUser", undefined, o, () => inner.deleteUser(userId, o)),
    describeSdkAppIdUsers: (input, o) => run("DescribeSdkAppIdUsers", input.sdkAppId, o, () => inner.describeSdkAppIdUsers(input, o)),
    stats: () => ({ ...counters, circuit: circuitState() }),
    circuitState,
    circuitStates,
  };
}

function withRetryAfter(error: LcicError, retryAfterMs: number | undefined): LcicError {
  if (retryAfterMs === undefined) return error;
  return copyWith(error, { retryAfterMs });
}

/** LcicErrors leave the wrapper naming their action, so logs and callers need not track it. */
function withAction(error: unknown, action: LcicAction): unknown {
  if (!isLcicError(error) || error.action) return error;
  return copyWith(error, { action });
}

/** The same LcicError (every field, operator detail and cause included) with some fields replaced. */
function copyWith(error: LcicError, fields: Partial<LcicErrorInit>): LcicError {
  return new LcicError({
    code: error.code,
    message: error.message,
    kind: error.kind,
    retryable: error.retryable,
    outcomeUnknown: error.outcomeUnknown,
    requestId: error.requestId,
    traceId: error.traceId,
    action: error.action,
    httpStatus: error.httpStatus,
    retryAfterMs: error.retryAfterMs,
    detail: error.detail,
    cause: error.cause,
    ...fields,
  });
}
