import type { Logger } from "../logger.js";
import type { ClassroomUserRow } from "../users/repository.js";
import type { UsersService } from "../users/service.js";

/** Batch sends of one row after which the reconciler stops resending it in a batch. */
const MAX_BATCH_ATTEMPTS = 5;

export interface Reconciler {
  /** One sweep now; resolves with what it did. */
  sweep(): Promise<{ registered: number; cleared: number; skipped: number; failed: number }>;
  stop(): Promise<void>;
}

/**
 * Completes registrations left `pending` by a crash or a lost LCIC reply, with no human action.
 *
 * All state is in PostgreSQL: the pending rows and their attempt counters. Each replica sweeps
 * periodically; a key whose advisory lock is held (a live request, or another replica's sweep) is
 * skipped, so sweeps never collide. Rows are only touched once `staleAfterMs` has passed since
 * their last change, longer than any request can still be in flight.
 */
export function startReconciler(options: {
  users: UsersService;
  logger: Logger;
  /**
   * Completes pending rows a bulk registration sent (users/bulk-registration.ts `completeStale`): one
   * BatchRegister for many rows instead of a LoginOriginId each. Returns how many it registered.
   */
  completeBatches?: (rows: ClassroomUserRow[]) => Promise<number>;
  intervalMs?: number;
  staleAfterMs?: number;
  batchSize?: number;
}): Reconciler {
  const { users, logger } = options;
  const intervalMs = options.intervalMs ?? 15_000;
  const staleAfterMs = options.staleAfterMs ?? 60_000;
  const batchSize = options.batchSize ?? 50;
  let running: Promise<unknown> = Promise.resolve();
  let stopped = false;

  const sweep = async () => {
    const totals = { registered: 0, cleared: 0, skipped: 0, failed: 0 };
    let rows = await users.listStalePending(staleAfterMs, batchSize);
    // Rows of bulk registrations that reached LCIC: sent again as a batch. A row that still fails after
    // a few attempts goes the single way below (adopted if LCIC has it, else cleared).
    const batchRows = rows.filter((row) => row.batchId !== null && row.attempts > 0 && row.attempts < MAX_BATCH_ATTEMPTS);
    if (options.completeBatches && batchRows.length > 0) {
      try {
        totals.registered += await options.completeBatches(batchRows);
      } catch (error) {
        totals.failed += batchRows.length;
        logger.warn({ rows: batchRows.length, err: error instanceof Error ? error.message : String(error) }, "completing pending bulk registrations failed");
      }
      rows = rows.filter((row) => !batchRows.includes(row));
    }
    for (const row of rows) {
      if (stopped) break;
      try {
        totals[await users.reconcilePending(row)] += 1;
      } catch (error) {
        // LCIC still down, say: the row stays pending for the next sweep.
        totals.failed += 1;
        logger.warn({ sdkAppId: row.sdkAppId, rowId: row.id, err: error instanceof Error ? error.message : String(error) }, "reconciling a pending registration failed");
      }
    }
    if (totals.registered + totals.cleared + totals.failed > 0) logger.info(totals, "reconciled pending registrations");
    return totals;
  };

  const timer = setInterval(() => {
    running = running.then(sweep).catch((error: unknown) => logger.warn({ err: error instanceof Error ? error.message : String(error) }, "reconciler sweep failed"));
  }, intervalMs);
  timer.unref();

  return {
    sweep: () => {
      const result = running.then(sweep);
      running = result.catch(() => undefined);
      return result;
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running.catch(() => undefined);
    },
  };
}
