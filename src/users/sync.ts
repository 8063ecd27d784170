import type { CallOptions, LcicUser } from "../lcic/client.js";
import { ClassroomUserNotFoundError, LcicRateLimitedError } from "./errors.js";
import type { ClassroomUserRow } from "./repository.js";
import type { UsersContext } from "./context.js";
import { resolveSdkAppId } from "./context.js";
import { callLcic } from "./lcic-errors.js";
import { withKeyLock } from "./registration-lock.js";

/**
 * The largest DescribeSdkAppIdUsers page we ask for. LCIC documents no maximum; our emulator takes up
 * to 1000, as BatchRegister does. A smaller `pageSize` can be given when LCIC refuses it.
 */
export const SYNC_PAGE_SIZE = 1000;

export interface SyncOptions {
  sdkAppId?: number | null;
  /** Erase stored users LCIC no longer has (confirmed one by one first). Default: only report them. */
  prune?: boolean;
  pageSize?: number;
  /** Called after each page is stored. */
  onPage?: (progress: SyncProgress) => void;
}

export interface SyncCounts {
  /** Users LCIC listed so far. */
  seen: number;
  /** Stored now, unknown before. */
  added: number;
  /** Name or avatar changed in LCIC directly: row updated. */
  updated: number;
  unchanged: number;
  /** Listed by LCIC but not stored: their key is held by another row (e.g. a registration pending right now). */
  skipped: number;
}

export interface SyncProgress extends SyncCounts {
  page: number;
  pageUsers: number;
  /** LCIC's Total for the application. */
  total: number;
}

export interface SyncReport extends SyncCounts {
  sdkAppId: number;
  pages: number;
  /** Stored users (stored before the sync began) that LCIC's list did not include. */
  missing: Array<{ userId: string; originId: string }>;
  /** Of those, erased because LCIC confirmed they are gone (only with `prune`). */
  pruned: Array<{ userId: string; originId: string }>;
}

/** Sync is background work: its LCIC calls wait behind registrations and lookups in the shared pacer. */
const BACKGROUND: CallOptions = { priority: "background" };

/** LCIC answers "" for a profile field never set; we store that as null. */
const profileOf = (u: LcicUser) => ({ name: u.name || null, avatar: u.avatar || null });

/**
 * `npm run users:sync`: pages through LCIC's DescribeSdkAppIdUsers (paced like every LCIC call) and
 * stores every user registered outside this service; a user whose name or avatar was changed in LCIC
 * directly is updated. Re-running changes nothing.
 *
 * Stored users missing from LCIC's list are reported. LCIC pages by offset, so a user deleted during
 * the walk shifts later ones and one can be skipped: `prune` therefore only considers users stored
 * before the sync started, and asks LCIC about each (DescribeUser) under its key's lock before
 * erasing it (with a tombstone, as a delete does).
 */
export async function syncUsers(ctx: UsersContext, options: SyncOptions): Promise<SyncReport> {
  const sdkAppId = resolveSdkAppId(ctx, options.sdkAppId);
  const pageSize = options.pageSize ?? SYNC_PAGE_SIZE;
  if (!Number.isSafeInteger(pageSize) || pageSize < 1) throw new RangeError("pageSize must be a positive integer");
  const { repository, lcic, logger } = ctx;
  const startedAt = ctx.now();
  const counts: SyncCounts = { seen: 0, added: 0, updated: 0, unchanged: 0, skipped: 0 };
  const listed = new Set<string>();
  let pages = 0;

  for (let page = 1; ; page++) {
    const result = await whenBudgetAllows(ctx, () => callLcic(ctx.logger, () => lcic.describeSdkAppIdUsers({ sdkAppId, page, limit: pageSize }, BACKGROUND), { sdkAppId }));
    pages = page;
    const users = result.users.filter((u) => u.sdkAppId === sdkAppId && !listed.has(u.userId));
    for (const u of users) listed.add(u.userId);
    await storePage(ctx, sdkAppId, users, counts);
    options.onPage?.({ page, pageUsers: result.users.length, total: result.total, ...counts });
    if (result.users.length < pageSize || page * pageSize >= result.total) break;
  }

  const missing = (await repository.listRegisteredKeys(sdkAppId, startedAt))
    .filter((r) => !listed.has(r.userId))
    .map(({ userId, originId }) => ({ userId, originId }));
  const pruned: SyncReport["pruned"] = [];
  if (options.prune) {
    for (const user of missing) {
      if (await pruneIfGone(ctx, sdkAppId, user)) pruned.push(user);
    }
  }
  logger.info({ sdkAppId, pages, ...counts, missing: missing.length, pruned: pruned.length }, "synced classroom users from LCIC");
  return { sdkAppId, pages, ...counts, missing, pruned };
}

/** Stores one page: new users in one insert, changed profiles one update each. */
async function storePage(ctx: UsersContext, sdkAppId: number, users: LcicUser[], counts: SyncCounts): Promise<void> {
  const { repository } = ctx;
  counts.seen += users.length;
  const stored = new Map<string, ClassroomUserRow>();
  for (const row of await repository.findByUserIds(users.map((u) => u.userId))) stored.set(row.userId!, row);
  const fresh: LcicUser[] = [];
  for (const u of users) {
    const row = stored.get(u.userId);
    if (!row) {
      fresh.push(u);
      continue;
    }
    const profile = profileOf(u);
    if (row.name === profile.name && row.avatar === profile.avatar) {
      counts.unchanged += 1;
    } else {
      await repository.updateProfile(row.id, profile);
      counts.updated += 1;
    }
  }
  const inserted = await repository.insertRegisteredMany(
    fresh.map((u) => ({ sdkAppId, originId: u.originId || u.userId, userId: u.userId, ...profileOf(u) })),
  );
  counts.added += inserted.length;
  counts.skipped += fresh.length - inserted.length;
}

/** Under the key's lock: erase the stored user if it is still the one stored and LCIC confirms it is gone. */
async function pruneIfGone(ctx: UsersContext, sdkAppId: number, user: { userId: string; originId: string }): Promise<boolean> {
  const { repository, lcic } = ctx;
  return withKeyLock(ctx.lock, { sdkAppId, originId: user.originId }, ctx.lockTimeoutMs, async () => {
    const row = await repository.findByOriginId(sdkAppId, user.originId);
    if (!row || row.userId !== user.userId) return false;
    try {
      await whenBudgetAllows(ctx, () => callLcic(ctx.logger, () => lcic.describeUser({ userId: user.userId }, BACKGROUND), { userId: user.userId }));
      return false; // LCIC has it: the listing skipped it
    } catch (error) {
      if (!(error instanceof ClassroomUserNotFoundError)) throw error;
    }
    await repository.eraseUser(row.id, { userId: user.userId, sdkAppId, originId: user.originId, lcicRequestId: null });
    return true;
  });
}

/** How long sync keeps waiting for LCIC budget for one call before giving up with the refusal. */
const MAX_BUDGET_WAIT_MS = 120_000;

/**
 * Background calls take only idle LCIC budget: the pacer refuses them at once (LcicRateLimitedError)
 * while registrations or lookups are queued. Sync waits as told and asks again, so it yields to
 * interactive traffic instead of failing.
 */
async function whenBudgetAllows<T>(ctx: UsersContext, call: () => Promise<T>): Promise<T> {
  const giveUpAt = Date.now() + MAX_BUDGET_WAIT_MS;
  for (;;) {
    try {
      return await call();
    } catch (error) {
      if (!(error instanceof LcicRateLimitedError) || Date.now() >= giveUpAt) throw error;
      await ctx.sleep(Math.min(Math.max(error.retryAfterMs, 50), 5_000));
    }
  }
}
