import type { Logger } from "../logger.js";
import { LcicRateLimitedError } from "../users/errors.js";
import type { ReconcileBackoff } from "../users/reconciliation.js";
import type { ClassroomUserRow } from "../users/repository.js";
import type { UsersService } from "../users/service.js";

export interface SweepTotals {
  registered: number;
  cleared: number;
  withdrawn: number;
  /** Deletions whose outcome was lost, finished: LCIC no longer has the user, the row is erased. */
  erased: number;
  /** Deletions LCIC refused on the reconciler's retry (the user is in a group): the user lives on. */
  kept: number;
  skipped: number;
  failed: number;
  /** Rows left for the next sweep because LCIC's budget stayed busy (the sweep stopped there). */
  postponed: number;
}

/**
 * How often one row waits for idle LCIC budget before the sweep gives up for now. The reconciler's
 * calls are `background`: the shared pacer lets them through only when nothing else is booked, and
 * refuses them at once otherwise, with the wait until the budget is idle.
 */
const IDLE_BUDGET_WAITS = 5;
const MAX_IDLE_BUDGET_WAIT_MS = 2_000;

export interface Reconciler {
  /** One sweep now (after the one running, if any); resolves with what it did. */
  sweep(): Promise<SweepTotals>;
  stop(): Promise<void>;
}

export interface ReconcilerOptions {
  users: UsersService;
  logger: Logger;
  /** Pause between the end of one sweep and the start of the next. */
  intervalMs?: number;
  staleAfterMs?: number;
  batchSize?: number;
  /** Backoff of a row whose reconciliation fails (default: from `intervalMs` doubling to `staleAfterMs`). */
  backoff?: Partial<ReconcileBackoff>;
  /** The clock staleness and backoff are measured on (tests move it). */
  now?: () => Date;
  /**
   * Completes pending rows a bulk registration sent (users/bulk-registration.ts `completeStale`): one
   * BatchRegister for many rows instead of a LoginOriginId each. Returns how many it registered.
   */
  completeBatches?: (rows: ClassroomUserRow[]) => Promise<number>;
}

/** Batch sends of one row after which the reconciler stops resending it in a batch (it goes the single way). */
const MAX_BATCH_ATTEMPTS = 5;

/**
 * Completes registrations left `pending` by a crash or a lost LCIC reply, with no human action; and
 * finishes deletions whose outcome was lost the same way (rows still carrying their deletion intent:
 * users/deletion.ts, reconciliation.ts finishRequestedDeletion).
 *
 * All state is in PostgreSQL: the pending rows, their attempt counters and their backoff. Each
 * replica sweeps one batch at a time, the next sweep starting `intervalMs` after the last one ended
 * (a slow sweep never piles up behind itself). A key whose lock is held (a live request, or another
 * replica's sweep) is skipped, so sweeps never collide. Rows are only touched once `staleAfterMs` has
 * passed since a request last changed them, longer than any request can still be in flight. A row
 * whose reconciliation fails (LCIC down, say) is deferred with a growing backoff, so the rows after it
 * get their turn and every pending row is eventually tried.
 */
export function startReconciler(options: ReconcilerOptions): Reconciler {
  const { users, logger } = options;
  const intervalMs = options.intervalMs ?? 15_000;
  const staleAfterMs = options.staleAfterMs ?? 60_000;
  const batchSize = options.batchSize ?? 50;
  // A deferred row waits at most as long as a new one waits to become stale: LCIC's outages are
  // usually short, and a row completed late is a user stored late.
  const backoff: ReconcileBackoff = { baseMs: options.backoff?.baseMs ?? intervalMs, maxMs: options.backoff?.maxMs ?? Math.max(intervalMs, staleAfterMs) };
  const now = options.now ?? (() => new Date());
  let running: Promise<unknown> = Promise.resolve();
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;

  const sweepOnce = async (): Promise<SweepTotals> => {
    const totals: SweepTotals = { registered: 0, cleared: 0, withdrawn: 0, erased: 0, kept: 0, skipped: 0, failed: 0, postponed: 0 };
    let rows = await users.listPendingDue(staleAfterMs, batchSize, now());
    // Rows of bulk registrations that reached LCIC: sent again in one BatchRegister. A row that still
    // fails after a few attempts goes the single way below (adopted if LCIC has it, else cleared).
    const batchRows = rows.filter((row) => row.batchId !== null && row.attempts > 0 && row.attempts < MAX_BATCH_ATTEMPTS);
    if (options.completeBatches && batchRows.length > 0) {
      rows = rows.filter((row) => !batchRows.includes(row));
      try {
        totals.registered += await options.completeBatches(batchRows);
      } catch (error) {
        if (error instanceof LcicRateLimitedError) {
          totals.postponed += batchRows.length + rows.length;
          return totals;
        }
        totals.failed += batchRows.length;
        for (const row of batchRows) await users.deferReconciliation(row, backoff, now()).catch(() => undefined);
        logger.warn({ rows: batchRows.length, err: error instanceof Error ? error.message : String(error) }, "completing pending bulk registrations failed");
      }
    }
    const work = [
      ...rows.map((row) => ({ row, what: "reconciling a pending registration", run: () => users.reconcilePending(row) })),
      // Deletions whose outcome was lost (both replies, or the process before the erasure).
      ...(await users.listDeletionsDue(staleAfterMs, batchSize, now())).map((row) => ({
        row,
        what: "finishing a requested deletion",
        run: async () => (await users.finishDeletion(row)).outcome,
      })),
    ];
    for (const [index, { row, what, run }] of work.entries()) {
      if (stopped) break;
      try {
        totals[await whenBudgetIdle(run)] += 1;
      } catch (error) {
        if (error instanceof LcicRateLimitedError) {
          // LCIC's budget is busy with requests: not this row's failure. The rest wait for the next sweep.
          totals.postponed += work.length - index;
          break;
        }
        // LCIC still down, say: the row stays as it is, and waits before its next try.
        totals.failed += 1;
        const notBefore = await users.deferReconciliation(row, backoff, now()).catch(() => undefined);
        logger.warn(
          { sdkAppId: row.sdkAppId, rowId: row.id, failures: row.reconcileFailures + 1, notBefore, err: error instanceof Error ? error.message : String(error) },
          `${what} failed`,
        );
      }
    }
    if (totals.registered + totals.cleared + totals.withdrawn + totals.erased + totals.kept + totals.failed + totals.postponed > 0) {
      logger.info(totals, "reconciled pending registrations and deletions");
    }
    return totals;
  };

  /** Handles one row, waiting (a little, a few times) while the pacer refuses background calls. */
  const whenBudgetIdle = async <T>(run: () => Promise<T>): Promise<T> => {
    for (let waits = 0; ; waits++) {
      try {
        return await run();
      } catch (error) {
        if (!(error instanceof LcicRateLimitedError) || waits >= IDLE_BUDGET_WAITS || stopped) throw error;
        await new Promise((resolve) => setTimeout(resolve, Math.min(MAX_IDLE_BUDGET_WAIT_MS, Math.max(1, error.retryAfterMs))));
      }
    }
  };

  /** Sweeps run one after another, never two at once in this process. */
  const enqueue = (): Promise<SweepTotals> => {
    const result = running.then(sweepOnce);
    running = result.catch(() => undefined);
    return result;
  };

  const scheduleNext = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      enqueue()
        .catch((error: unknown) => logger.warn({ err: error instanceof Error ? error.message : String(error) }, "reconciler sweep failed"))
        .finally(scheduleNext);
    }, intervalMs);
    timer.unref();
  };
  scheduleNext();

  return {
    sweep: enqueue,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running.catch(() => undefined);
    },
  };
}
