import { lt, sql } from "drizzle-orm";
import type { Database } from "../db/client.js";
import { registrationRateLimits } from "../db/schema.js";

export interface RateLimitDecision {
  allowed: boolean;
  /** Registrations counted in the current window, this one included. */
  count: number;
  /** Until the window ends; what a refused client should wait. */
  retryAfterMs: number;
}

export interface RegistrationLimiterOptions {
  /** Registrations allowed per client per window; 0 disables the limiter. */
  limit: number;
  windowMs?: number;
  now?: () => number;
}

/**
 * Per-client registration budget: a fixed-window counter in PostgreSQL, so the limit holds across
 * replicas. One upsert per registration; one client cannot spend the application's LCIC budget
 * (20 calls a second, shared by everyone). A second instance counts lookups that fall back to LCIC
 * (LOOKUP_FALLBACK_RATE_LIMIT_PER_MINUTE), under keys `lookup:<client>` in the same table.
 */
export class RegistrationLimiter {
  private readonly windowMs: number;
  private readonly now: () => number;
  private lastPrune = 0;
  private readonly increment;

  constructor(
    private readonly db: Database,
    private readonly options: RegistrationLimiterOptions,
  ) {
    this.windowMs = options.windowMs ?? 60_000;
    this.now = options.now ?? Date.now;
    this.increment = db
      .insert(registrationRateLimits)
      .values({ clientKey: sql.placeholder("clientKey"), windowStart: sql.placeholder("windowStart"), count: 1 })
      .onConflictDoUpdate({
        target: [registrationRateLimits.clientKey, registrationRateLimits.windowStart],
        // Drizzle's `set` takes values; the increment must read the stored row, hence raw SQL.
        set: { count: sql`${registrationRateLimits.count} + 1` },
      })
      .returning({ count: registrationRateLimits.count })
      .prepare("registration_rate_limit_increment");
  }

  get enabled(): boolean {
    return this.options.limit > 0;
  }

  /** Counts one registration for `clientKey` and says whether it is within the limit. */
  async consume(clientKey: string): Promise<RateLimitDecision> {
    const now = this.now();
    const windowStart = now - (now % this.windowMs);
    const retryAfterMs = windowStart + this.windowMs - now;
    if (!this.enabled) return { allowed: true, count: 0, retryAfterMs: 0 };
    const [row] = await this.increment.execute({ clientKey, windowStart: new Date(windowStart) });
    const count = row?.count ?? 1;
    void this.pruneOccasionally(now);
    return { allowed: count <= this.options.limit, count, retryAfterMs: Math.max(1, retryAfterMs) };
  }

  /** Past windows are dead weight; drop them at most once per window per replica. */
  private async pruneOccasionally(now: number): Promise<void> {
    if (now - this.lastPrune < this.windowMs) return;
    this.lastPrune = now;
    try {
      await this.db.delete(registrationRateLimits).where(lt(registrationRateLimits.windowStart, new Date(now - 2 * this.windowMs)));
    } catch {
      // Pruning is housekeeping; the next window tries again.
    }
  }
}
