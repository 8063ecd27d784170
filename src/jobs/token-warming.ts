/**
 * Tokens ready before class: fetches LCIC login tokens (LoginUser) in the background, for users a
 * bulk registration created (BatchRegister returns no tokens) and, ahead of expiry, for users who
 * logged in recently, and stores them encrypted where `registerClassroomUser` and
 * `issueClassroomUserToken` read them.
 *
 * - Background only: every LoginUser is sent with `priority: "background"`, so the shared pacer
 *   serves it from idle budget and an interactive call waits at most one slot for it. One call at a
 *   time per replica.
 * - Shared by replicas, never done twice: the work is a pg-boss queue in PostgreSQL (schema
 *   `pgboss`). One job per user (singleton key = userId) under the `stately` policy, so a user is
 *   queued at most once and worked on by one replica at a time; the worker re-reads the stored
 *   expiry first and skips users another job has already served.
 * - Crash-safe without bookkeeping of its own: every replica periodically scans for due users and
 *   enqueues them (duplicates are dropped by the queue), so users of a batch whose replica died
 *   before enqueueing are found by the next scan. A scan finding the queue still well stocked
 *   offers nothing (the users due first are the ones already queued).
 */
import PgBoss from "pg-boss";
import type { LcicClient } from "../lcic/client.js";
import { isLcicError, LcicError } from "../lcic/errors.js";
import { LCIC_QUEUE_FULL } from "../lcic/pacer.js";
import type { Logger } from "../logger.js";
import { audit } from "../observability/audit.js";
import type { UsersRepository } from "../users/repository.js";
import type { TokenWarmingRepository } from "../users/token-warming-repository.js";
import { tokenExpiry, type TokenCipher } from "../users/tokens.js";

export const TOKEN_WARMING_QUEUE = "token-warming";

export interface TokenWarmingOptions {
  databaseUrl: string;
  users: UsersRepository;
  warming: TokenWarmingRepository;
  lcic: LcicClient;
  cipher: TokenCipher;
  logger: Logger;
  /** TOKEN_REFRESH_AHEAD_HOURS: a stored token expiring sooner than this is refreshed. */
  refreshAheadHours: number;
  /** TOKEN_KEEP_WARM_DAYS: only users who logged in (or were registered) this recently. */
  keepWarmDays: number;
  /** How often each replica looks for due users (default 60 s). */
  scanIntervalMs?: number;
  /** Users offered to the queue per scan at most (default 2,000: minutes of work at LCIC's 20/s). */
  scanLimit?: number;
  now?: () => Date;
}

export interface TokenWarming {
  /** Resolves once the queue is ready (its schema created or migrated) and the worker runs. */
  ready: Promise<void>;
  /**
   * Looks for due users now (e.g. right after a bulk registration); resolves with how many were
   * offered to the queue: none while half a scan's worth (1,000 by default) still wait in it.
   */
  scan(): Promise<number>;
  /** What this replica did so far. */
  stats(): { warmed: number; skipped: number; failed: number };
  stop(): Promise<void>;
}

const HOUR_MS = 3_600_000;
const SCAN_GAP_MS = 1_000;

export function startTokenWarming(options: TokenWarmingOptions): TokenWarming {
  const { logger } = options;
  const now = options.now ?? (() => new Date());
  const aheadMs = options.refreshAheadHours * HOUR_MS;
  const keepWarmMs = options.keepWarmDays * 24 * HOUR_MS;
  const scanLimit = options.scanLimit ?? 2_000;
  const counters = { warmed: 0, skipped: 0, failed: 0 };
  let stopped = false;

  // Two connections: one polls, one completes; the service's own pool stays free.
  const boss = new PgBoss({ connectionString: options.databaseUrl, max: 2, schema: "pgboss", application_name: "classroom-users:jobs" });
  boss.on("error", (error: Error) => logger.warn({ err: error.message }, "token warming queue error"));

  /** One user: a token unless the stored one is still good beyond the refresh window. */
  async function warm(userId: string): Promise<"warmed" | "skipped"> {
    const row = await options.users.findByUserId(userId);
    if (!row || row.status !== "registered") return "skipped";
    if (row.tokenExpiresAt && row.tokenExpiresAt.getTime() - now().getTime() > aheadMs) return "skipped";
    for (;;) {
      try {
        const login = await options.lcic.loginUser(userId, { priority: "background" });
        await options.users.updateToken(row.id, {
          tokenCiphertext: options.cipher.encrypt(login.token, login.userId),
          tokenExpiresAt: tokenExpiry(now()),
          lcicRequestId: login.requestId || null,
        });
        audit(logger, {
          event: "token.issued",
          operation: "tokenWarming",
          sdkAppId: row.sdkAppId,
          userId,
          originId: row.originId,
          source: "lcic",
          lcicAction: "LoginUser",
        });
        return "warmed";
      } catch (error) {
        if (error instanceof LcicError && error.code === "ResourceNotFound.User") return "skipped";
        // The budget is busy with interactive calls: wait for our turn rather than fail the job.
        if (error instanceof LcicError && error.kind === "rate_limited" && !stopped) {
          // retryAfterMs is exact (when the booked slots run out); a coarser floor wasted up to tens of ms a call.
          await new Promise((resolve) => setTimeout(resolve, Math.min(Math.max(error.retryAfterMs ?? 500, 2), 5_000)));
          continue;
        }
        throw error;
      }
    }
  }

  // Scans requested while one runs (a roster import asks after every chunk) coalesce into one more,
  // at most one every SCAN_GAP_MS.
  let scanning: Promise<number> | undefined;
  let again: Promise<number> | undefined;
  let lastScanAt = 0;
  function scan(): Promise<number> {
    if (!scanning) {
      scanning = (async () => {
        const gap = lastScanAt + SCAN_GAP_MS - Date.now();
        if (gap > 0) await new Promise((resolve) => setTimeout(resolve, gap));
        lastScanAt = Date.now();
        return scanOnce();
      })().finally(() => {
        scanning = undefined;
      });
      return scanning;
    }
    again ??= scanning.catch(() => 0).then(() => {
      again = undefined;
      return scan();
    });
    return again;
  }

  async function scanOnce(): Promise<number> {
    await ready;
    // Enough users still wait in the queue (LoginUser runs at LCIC's 20 a second, and a roster
    // import asks for a scan after every 1,000 users): the due list would start with those very
    // users, offered again only to be dropped as duplicates. The next scan tops the queue up once
    // it has drained below half a scan's worth (under a minute of work).
    if ((await boss.getQueueSize(TOKEN_WARMING_QUEUE)) >= scanLimit / 2) return 0;
    const at = now().getTime();
    const due = await options.warming.listDue(new Date(at + aheadMs), new Date(at - keepWarmMs), scanLimit);
    if (due.length === 0) return 0;
    // Duplicates of users already queued are dropped by the queue's unique (stately) index.
    for (let i = 0; i < due.length; i += 1000) {
      await boss.insert(due.slice(i, i + 1000).map(({ userId }) => ({ name: TOKEN_WARMING_QUEUE, data: { userId }, singletonKey: userId })));
    }
    return due.length;
  }

  let timer: NodeJS.Timeout | undefined;
  const ready = (async () => {
    await boss.start();
    // Replicas starting together race to create the queue (PostgreSQL may even report a deadlock
    // between them): whoever loses looks again.
    for (let attempt = 1; !(await boss.getQueue(TOKEN_WARMING_QUEUE)); attempt++) {
      try {
        await boss.createQueue(TOKEN_WARMING_QUEUE, { name: TOKEN_WARMING_QUEUE, policy: "stately", retryLimit: 10, retryDelay: 5, retryBackoff: true, expireInSeconds: 300 });
      } catch (error) {
        if (attempt >= 5) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100 + Math.random() * 400));
      }
    }
    await boss.work<{ userId: string }>(TOKEN_WARMING_QUEUE, { batchSize: 50, pollingIntervalSeconds: 0.5 }, async (jobs) => {
      for (const job of jobs) {
        if (stopped) {
          // Back to the queue for another replica (or this one, restarted).
          await boss.fail(TOKEN_WARMING_QUEUE, job.id, { message: "stopping" });
          continue;
        }
        try {
          counters[await warm(job.data.userId)] += 1;
        } catch (error) {
          counters.failed += 1;
          const detail = { userId: job.data.userId, err: error instanceof Error ? error.message : String(error) };
          // No idle LCIC budget right now is the design (background work yields), not a failure to report.
          if (isLcicError(error, LCIC_QUEUE_FULL)) logger.debug(detail, "token warming deferred: no idle LCIC budget; will retry");
          else logger.warn(detail, "token warming failed; will retry");
          await boss.fail(TOKEN_WARMING_QUEUE, job.id, { message: error instanceof Error ? error.message : String(error) });
        }
      }
    });
    const interval = options.scanIntervalMs ?? 60_000;
    timer = setInterval(() => {
      scan().catch((error: unknown) => logger.warn({ err: error instanceof Error ? error.message : String(error) }, "token warming scan failed"));
    }, interval);
    timer.unref();
  })();
  ready.catch((error: unknown) => logger.error({ err: error instanceof Error ? error.message : String(error) }, "token warming could not start"));
  // A first scan right away: users left by a crash, or due since the last run.
  ready.then(() => scan()).catch(() => undefined);

  return {
    ready,
    scan,
    stats: () => ({ ...counters }),
    async stop() {
      stopped = true;
      clearInterval(timer);
      await ready.catch(() => undefined);
      await boss.stop({ graceful: true, wait: true, timeout: 5_000 }).catch(() => undefined);
    },
  };
}
