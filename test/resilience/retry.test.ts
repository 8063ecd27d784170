import { describe, expect, it } from "vitest";
import type { LcicAction } from "../../src/lcic/client.js";
import { LcicError, type LcicErrorKind } from "../../src/lcic/errors.js";
import { backoffCeilingMs, backoffDelayMs, isRetrySafe, withRetry, type RetryPolicyOptions } from "../../src/lcic/retry.js";
import { fakeTime } from "../support/fake-time.js";

const policy: RetryPolicyOptions = { baseMs: 100, capMs: 1_000, maxAttempts: 10, totalBudgetMs: 3_000 };

function lcicError(code: string, kind: LcicErrorKind, retryable: boolean, outcomeUnknown = false, retryAfterMs?: number) {
  return new LcicError({ code, message: code, kind, retryable, outcomeUnknown, retryAfterMs });
}
const internalError = () => lcicError("InternalError", "unavailable", true, true);
const connectionRefused = () => lcicError("Network.ConnectionRefused", "unavailable", true, false);
const requestLimit = (retryAfterMs?: number) => lcicError("RequestLimitExceeded", "rate_limited", true, false, retryAfterMs);


/** A deterministic PRNG (mulberry32) for sampling the jitter. */
function seeded(seed: number) {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let r = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
  };
}

describe("backoff", () => {
  it("ceilings double from base and stop at cap", () => {
    expect([0, 1, 2, 3, 4, 5, 60, 2000].map((n) => backoffCeilingMs(n, policy))).toEqual([100, 200, 400, 800, 1000, 1000, 1000, 1000]);
  });

  it("full-jitter delays stay within [0, min(cap, base·2^n)] and use the whole range", () => {
    const random = seeded(42);
    for (let n = 0; n < 12; n++) {
      const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** n);
      const samples = Array.from({ length: 500 }, () => backoffDelayMs(n, policy, random));
      for (const d of samples) {
        expect(d).toBeGreaterThanOrEqual(0);
        expect(d).toBeLessThanOrEqual(ceiling);
      }
      expect(Math.min(...samples)).toBeLessThan(ceiling * 0.1);
      expect(Math.max(...samples)).toBeGreaterThan(ceiling * 0.9);
    }
    expect(backoffDelayMs(3, policy, () => 0)).toBe(0);
    expect(backoffDelayMs(3, policy, () => 0.999999)).toBeLessThanOrEqual(800);
  });
});

describe("isRetrySafe", () => {
  const all: LcicAction[] = ["RegisterUser", "BatchRegister", "DescribeUser", "LoginUser", "LoginOriginId", "ModifyUserProfile", "DeleteUser", "DescribeSdkAppIdUsers"];

  it("retries rate limits and known-unsent failures for every action", () => {
    for (const action of all) {
      expect(isRetrySafe(requestLimit(), action)).toBe(true);
      expect(isRetrySafe(connectionRefused(), action)).toBe(true);
    }
  });

  it("retries outcome-unknown failures only for idempotent actions", () => {
    expect(all.filter((a) => isRetrySafe(internalError(), a))).toEqual(["DescribeUser", "LoginUser", "LoginOriginId", "ModifyUserProfile", "DescribeSdkAppIdUsers"]);
  });

  it("never retries business, parameter, auth, non-retryable or non-LCIC errors, nor our own refusals", () => {
    for (const action of all) {
      expect(isRetrySafe(lcicError("FailedOperation.OriginIdExists", "business", false), action)).toBe(false);
      expect(isRetrySafe(lcicError("InvalidParameter.SdkAppId", "invalid_parameter", false), action)).toBe(false);
      expect(isRetrySafe(lcicError("AuthFailure.SignatureFailure", "auth", false), action)).toBe(false);
      // Even if a code table marked them retryable, the kind says the same request gets the same answer.
      expect(isRetrySafe(lcicError("ResourceNotFound.User", "business", true), action)).toBe(false);
      expect(isRetrySafe(lcicError("Network.Failure", "unavailable", false, true), action)).toBe(false);
      expect(isRetrySafe(new Error("boom"), action)).toBe(false);
      expect(isRetrySafe(lcicError("Lcic.QueueFull", "rate_limited", true, false, 10), action)).toBe(false);
      expect(isRetrySafe(lcicError("Lcic.CircuitOpen", "unavailable", true, false, 10), action)).toBe(false);
    }
  });
});

describe("withRetry", () => {
  it("retries until success, sleeping jittered backoff between attempts", async () => {
    const time = fakeTime();
    let calls = 0;
    const result = await withRetry(
      "DescribeUser",
      async () => {
        if (++calls < 3) throw internalError();
        return "ok";
      },
      policy,
      { ...time, random: () => 0.5 },
    );
    expect(result).toBe("ok");
    expect(calls).toBe(3);
    expect(time.sleeps).toEqual([50, 100]);
  });

  it("does not retry an outcome-unknown RegisterUser: one attempt, the error as thrown", async () => {
    const time = fakeTime();
    let calls = 0;
    const error = lcicError("Network.Timeout", "unavailable", true, true);
    await expect(withRetry("RegisterUser", async () => { calls++; throw error; }, policy, time)).rejects.toBe(error);
    expect(calls).toBe(1);
    expect(time.sleeps).toEqual([]);
  });

  it("does retry RegisterUser when LCIC refused it for rate (nothing was applied)", async () => {
    const time = fakeTime();
    let calls = 0;
    await expect(withRetry("RegisterUser", async () => { if (++calls === 1) throw requestLimit(); return 1; }, policy, time)).resolves.toBe(1);
    expect(calls).toBe(2);
  });

  it.each([
    ["business", lcicError("FailedOperation.OriginIdExists", "business", false)],
    ["invalid_parameter", lcicError("InvalidParameter", "invalid_parameter", false)],
    ["auth", lcicError("AuthFailure.SignatureExpire", "auth", false)],
  ])("does not retry %s errors", async (_kind, error) => {
    const time = fakeTime();
    let calls = 0;
    await expect(withRetry("DescribeUser", async () => { calls++; throw error; }, policy, time)).rejects.toBe(error);
    expect(calls).toBe(1);
  });

  it("honours retryAfterMs as a floor under the backoff", async () => {
    const time = fakeTime();
    let calls = 0;
    await withRetry("LoginUser", async () => { if (++calls < 3) throw requestLimit(700); return 1; }, policy, { ...time, random: () => 0 });
    expect(time.sleeps).toEqual([700, 700]);
  });

  it("stops after maxAttempts and rethrows the last error", async () => {
    const time = fakeTime();
    const errors: LcicError[] = [];
    const last = await withRetry(
      "LoginUser",
      async () => {
        const e = internalError();
        errors.push(e);
        throw e;
      },
      { ...policy, maxAttempts: 3 },
      { ...time, random: () => 0 },
    ).catch((e: unknown) => e);
    expect(errors).toHaveLength(3);
    expect(last).toBe(errors[2]);
  });

  it("never lets elapsed time plus the next delay exceed the total budget, whatever the jitter and attempt durations", async () => {
    for (let seed = 1; seed <= 200; seed++) {
      const random = seeded(seed);
      const time = fakeTime(1_000_000);
      const budget = 2_500;
      let attempts = 0;
      await expect(
        withRetry(
          "DescribeSdkAppIdUsers",
          async ({ remainingBudgetMs }) => {
            attempts++;
            expect(remainingBudgetMs).toBeLessThanOrEqual(budget);
            // No attempt starts after the budget is spent.
            expect(time.now() - 1_000_000).toBeLessThanOrEqual(budget);
            time.advance(Math.floor(random() * 300)); // each attempt takes 0-300 ms
            throw random() < 0.5 ? internalError() : requestLimit(Math.floor(random() * 800));
          },
          { baseMs: 100, capMs: 1_000, maxAttempts: 50, totalBudgetMs: budget },
          { ...time, random },
        ),
      ).rejects.toBeInstanceOf(LcicError);
      // Every sleep ended inside the budget: the next attempt always started before it ran out.
      expect(time.now() - 1_000_000).toBeLessThanOrEqual(budget + 300);
      const slept = time.sleeps.reduce((a, b) => a + b, 0);
      expect(slept).toBeLessThanOrEqual(budget);
      expect(attempts).toBeGreaterThanOrEqual(1);
    }
  });

  it("does not retry once the caller's signal has aborted", async () => {
    const time = fakeTime();
    const controller = new AbortController();
    let calls = 0;
    await expect(
      withRetry("DescribeUser", async () => { calls++; controller.abort(); throw internalError(); }, policy, { ...time, signal: controller.signal }),
    ).rejects.toMatchObject({ code: "InternalError" });
    expect(calls).toBe(1);
  });
});
