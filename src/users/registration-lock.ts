import type postgres from "postgres";
import { RegistrationBusyError } from "./errors.js";

/** The key one registration lock guards: a user's natural key within an application. */
export interface RegistrationKey {
  sdkAppId: number;
  originId: string;
}

/** The text a key's lock is taken on (hashed into the advisory lock's second key). */
function lockKeyOf(key: RegistrationKey): string {
  return `${key.sdkAppId}:${key.originId}`;
}

const LOCK_NAMESPACE = 7_345_001; // first key of the two-key advisory lock: "classroom-users registration"

/**
 * Most lock connections open at once, beside the pool (each registration in flight holds one).
 * 10: LCIC's pace (20 a second) keeps few registrations in flight.
 */
const MAX_LOCK_CONNECTIONS = 10;

/**
 * A lock connection whose lock was released cleanly is kept this long for the next registration:
 * opening one (fork, authentication) cost 10-50 ms, most of a registration's own time.
 */
const IDLE_LOCK_SESSION_MS = 5_000;

/** The lock was not granted within the caller's timeout; `waitedMs` is how long the caller waited. */
export class LockTimeoutError extends Error {
  override readonly name = "LockTimeoutError";
  constructor(
    message: string,
    readonly waitedMs: number,
  ) {
    super(message);
  }
}

/**
 * The per-key registration lock, shared by every replica: work on one (sdkAppId, originId) is
 * serialised across the deployment. Knows nothing about LCIC or GraphQL; use cases take it through
 * withKeyLock (below), which turns a wait that timed out into RegistrationBusyError.
 */
export class RegistrationLock {
  private readonly keyGates = new KeyedGates();
  private readonly lockConnections = new Gate(MAX_LOCK_CONNECTIONS);
  /** Lock connections holding no lock, newest last; with those in use never more than MAX_LOCK_CONNECTIONS. */
  private readonly idleLockSessions: Array<{ session: postgres.Sql; idleSince: number }> = [];
  private lockSessionsInUse = 0;
  private idleSweep: NodeJS.Timeout | undefined;
  /** Releases still running after their caller was answered (`returnBeforeRelease`); close() waits for them. */
  private readonly releasing = new Set<Promise<unknown>>();

  constructor(
    /** Opens the dedicated connection that holds one registration lock (DatabaseHandle.openSession). */
    private readonly openSession: () => postgres.Sql,
  ) {}

  /**
   * Runs `fn` while holding the registration lock for (sdkAppId, originId), shared by every replica.
   * A session-level advisory lock on a dedicated single-connection client (`openSession`): it is
   * released when `fn` settles or, if the process dies, when PostgreSQL drops the connection. Writes
   * inside `fn` go through the pool and autocommit, so the record of an attempt survives a crash in
   * the middle of the LCIC call.
   *
   * With `wait: false` returns `undefined` at once when another holder has the lock (the reconciler's
   * skip-locked behaviour).
   *
   * With `returnBeforeRelease: true` the value `fn` resolves with is returned at once and the lock is
   * released right after, without the caller waiting for the unlock's round trip: for a caller whose
   * writes inside `fn` are committed when `fn` resolves (registration), so the next holder sees them
   * all the same. Failures are returned after the release, as without it.
   */
  async withLock<T>(
    key: RegistrationKey,
    options: { timeoutMs: number; wait?: boolean; returnBeforeRelease?: boolean },
    fn: () => Promise<T>,
  ): Promise<T | undefined> {
    if (!options.returnBeforeRelease) return this.withLockReleased(key, options, fn);
    // `fn`'s value is handed back as soon as `fn` resolves; the unlock (one round trip) and the
    // release of the in-process gates follow without the caller waiting for them. Until then the key
    // stays locked, in PostgreSQL and in this process, so the next holder still starts after it.
    // A failure of `fn` (or of taking the lock) is handed back only once everything is released.
    let resolved!: (value: T) => void;
    const early = new Promise<T>((resolve) => (resolved = resolve));
    const whole = this.withLockReleased(key, options, async () => {
      const value = await fn();
      resolved(value);
      return value;
    });
    this.releasing.add(whole);
    void whole.then(
      () => this.releasing.delete(whole),
      () => this.releasing.delete(whole),
    );
    return Promise.race([early, whole]);
  }

  private async withLockReleased<T>(
    key: RegistrationKey,
    options: { timeoutMs: number; wait?: boolean },
    fn: () => Promise<T>,
  ): Promise<T | undefined> {
    const lockKey = lockKeyOf(key);
    const wait = options.wait !== false;
    const startedAt = Date.now();
    const deadline = startedAt + Math.max(0, options.timeoutMs);
    // In-process gates first, so waiting costs no connection: requests of this process for the same
    // key queue in memory (one connection per key waits in PostgreSQL, for other replicas), and at
    // most `MAX_LOCK_CONNECTIONS` lock connections are open at once, bounding what a burst of
    // registrations adds to the server's connection count.
    const keyGate = this.keyGates.enter(lockKey);
    try {
      if (!(wait ? await keyGate.acquire(deadline - Date.now()) : keyGate.tryAcquire())) {
        if (!wait) return undefined;
        throw new LockTimeoutError("timed out waiting for the registration lock (in process)", Date.now() - startedAt);
      }
      try {
        if (!(wait ? await this.lockConnections.acquire(deadline - Date.now()) : this.lockConnections.tryAcquire())) {
          if (!wait) return undefined;
          throw new LockTimeoutError("timed out waiting for a connection to take the registration lock", Date.now() - startedAt);
        }
        try {
          return await this.withAdvisoryLock(lockKey, wait, startedAt, deadline, fn);
        } finally {
          this.lockConnections.release();
        }
      } finally {
        keyGate.release();
      }
    } finally {
      this.keyGates.leave(lockKey);
    }
  }

  /**
   * Runs `fn` holding the registration lock of every key of one application at once: what a bulk
   * registration takes (users/bulk-registration.ts). The very locks `withLock` takes, on one connection
   * of its own, taken in one statement in the order of their lock ids, so two batches, or a batch and
   * single registrations, cannot deadlock. Throws LockTimeoutError when they are not all held within
   * `timeoutMs`. PostgreSQL releases them with the session if the process dies.
   *
   * Capacity: each held lock takes an entry of PostgreSQL's shared lock table
   * (max_locks_per_transaction × max_connections, 6,400 by default), so a 1,000-key batch uses 1,000.
   */
  async withKeysLocked<T>(sdkAppId: number, originIds: readonly string[], timeoutMs: number, fn: () => Promise<T>): Promise<T> {
    const session = this.openSession();
    const keys = originIds.map((originId) => lockKeyOf({ sdkAppId, originId }));
    const startedAt = Date.now();
    try {
      try {
        // Advisory locks are PostgreSQL functions that Drizzle's builder cannot express. The subquery's
        // order is the order the locks are taken in: ascending lock id, each id once.
        await session`select set_config('lock_timeout', ${`${Math.max(1, Math.round(timeoutMs))}ms`}, false)`;
        await session`
          select pg_advisory_lock(${LOCK_NAMESPACE}, s.h)
            from (select distinct hashtext(k) as h from unnest(${keys}::text[]) as k order by 1) as s`;
      } catch (error) {
        if ((error as { code?: string }).code === "55P03") throw new LockTimeoutError("timed out waiting for the registration locks of a batch", Date.now() - startedAt);
        throw error;
      }
      return await fn();
    } finally {
      // Ending the session releases the locks; release them first so others need not wait for the teardown.
      await session`select pg_advisory_unlock_all()`.catch(() => undefined);
      await session.end({ timeout: 1 }).catch(() => undefined);
    }
  }

  /**
   * The PostgreSQL side: a session advisory lock on a connection of its own, held while `fn` runs and
   * released by PostgreSQL with the session if the process dies.
   *
   * Its own single-connection client, not a reserved pool connection: postgres.js never settles a
   * statement sent on a reserved connection (or in `sql.begin`) after that connection dropped, which
   * hung the unlock forever. A client reconnects instead: an unlock after a drop meets a new session
   * (nothing to unlock) or fails, and either way settles. `fn`'s writes go through the pool and
   * commit on their own, so once the lock was taken, `fn`'s outcome stands even if the lock's
   * connection is lost meanwhile. A connection whose lock was released cleanly is kept idle for the
   * next registration (IDLE_LOCK_SESSION_MS); any other is ended.
   */
  private async withAdvisoryLock<T>(lockKey: string, wait: boolean, startedAt: number, deadline: number, fn: () => Promise<T>): Promise<T | undefined> {
    const session = this.idleLockSessions.pop()?.session ?? this.openSession();
    this.lockSessionsInUse += 1;
    let locked = false;
    // Kept for reuse only when it provably holds no lock of ours: a clean "not taken" or a confirmed unlock.
    let reusable = false;
    try {
      // Advisory locks are PostgreSQL functions that Drizzle's builder cannot express.
      if (!wait) {
        const [row] = await session<{ ok: boolean }[]>`select pg_try_advisory_lock(${LOCK_NAMESPACE}, hashtext(${lockKey})) as ok`;
        if (!row?.ok) {
          reusable = true;
          return undefined;
        }
      } else {
        try {
          // One statement, one round trip: the materialised CTE sets this wait's lock_timeout for the
          // session before the outer select asks for the lock.
          await session`
            with t as materialized (select set_config('lock_timeout', ${`${Math.max(1, Math.round(deadline - Date.now()))}ms`}, false))
            select pg_advisory_lock(${LOCK_NAMESPACE}, hashtext(${lockKey})) from t`;
        } catch (error) {
          if ((error as { code?: string }).code === "55P03") throw new LockTimeoutError("timed out waiting for the registration lock", Date.now() - startedAt);
          throw error;
        }
      }
      locked = true;
      return await fn();
    } finally {
      // Unlock explicitly: the release must not wait for a connection's teardown. It may fail if the
      // connection dropped: the lock went with the session. A connection not known to be clean is ended.
      if (locked) {
        const [row] = await session<{ released: boolean }[]>`select pg_advisory_unlock(${LOCK_NAMESPACE}, hashtext(${lockKey})) as released`.catch(() => []);
        reusable = row?.released === true;
      }
      this.lockSessionsInUse -= 1;
      if (reusable && this.idleLockSessions.length + this.lockSessionsInUse < MAX_LOCK_CONNECTIONS) {
        this.idleLockSessions.push({ session, idleSince: Date.now() });
        this.scheduleIdleSweep();
      } else {
        await session.end({ timeout: 1 }).catch(() => undefined);
      }
    }
  }

  /** Ends lock connections idle longer than IDLE_LOCK_SESSION_MS; the timer does not keep the process alive. */
  private scheduleIdleSweep(): void {
    if (this.idleSweep) return;
    this.idleSweep = setTimeout(() => {
      this.idleSweep = undefined;
      const cutoff = Date.now() - IDLE_LOCK_SESSION_MS;
      while (this.idleLockSessions.length > 0 && this.idleLockSessions[0]!.idleSince <= cutoff) {
        void this.idleLockSessions.shift()!.session.end({ timeout: 1 }).catch(() => undefined);
      }
      if (this.idleLockSessions.length > 0) this.scheduleIdleSweep();
    }, IDLE_LOCK_SESSION_MS);
    this.idleSweep.unref();
  }

  /** Ends the idle lock connections (shutdown). */
  async close(): Promise<void> {
    await Promise.allSettled([...this.releasing]);
    clearTimeout(this.idleSweep);
    this.idleSweep = undefined;
    await Promise.all(this.idleLockSessions.splice(0).map(({ session }) => session.end({ timeout: 1 }).catch(() => undefined)));
  }
}

/** A counting semaphore whose waiters queue in order and give up at a timeout. */
export class Gate {
  private readonly waiters: Array<(granted: boolean) => void> = [];
  constructor(private permits: number) {}

  tryAcquire(): boolean {
    if (this.permits <= 0) return false;
    this.permits -= 1;
    return true;
  }

  /** Resolves true with a permit, or false when `timeoutMs` passed first. */
  acquire(timeoutMs: number): Promise<boolean> {
    if (this.tryAcquire()) return Promise.resolve(true);
    if (timeoutMs <= 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      const waiter = (granted: boolean) => {
        clearTimeout(timer);
        resolve(granted);
      };
      const timer = setTimeout(() => {
        const index = this.waiters.indexOf(waiter);
        if (index >= 0) this.waiters.splice(index, 1);
        resolve(false);
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  release(): void {
    const next = this.waiters.shift();
    if (next) next(true);
    else this.permits += 1;
  }
}

/** One single-permit Gate per key, kept only while someone holds or waits for it. */
class KeyedGates {
  private readonly gates = new Map<string, { gate: Gate; users: number }>();

  enter(key: string): Gate {
    let entry = this.gates.get(key);
    if (!entry) {
      entry = { gate: new Gate(1), users: 0 };
      this.gates.set(key, entry);
    }
    entry.users += 1;
    return entry.gate;
  }

  leave(key: string): void {
    const entry = this.gates.get(key);
    if (entry && --entry.users === 0) this.gates.delete(key);
  }
}

/**
 * The step every use case that changes a user's row takes first: runs `fn` holding the key's lock,
 * waiting at most `timeoutMs` for another request of the deployment that holds it. A wait that times
 * out is RegistrationBusyError (this request sent nothing to LCIC).
 */
export async function withKeyLock<T>(
  lock: RegistrationLock,
  key: RegistrationKey,
  timeoutMs: number,
  fn: () => Promise<T>,
  options: { returnBeforeRelease?: boolean } = {},
): Promise<T> {
  try {
    // With waiting on, withLock either runs fn or throws; it returns undefined only with `wait: false`.
    return (await lock.withLock(key, { timeoutMs, ...options }, fn)) as T;
  } catch (error) {
    if (error instanceof LockTimeoutError) throw new RegistrationBusyError(key.originId, error.waitedMs);
    throw error;
  }
}
