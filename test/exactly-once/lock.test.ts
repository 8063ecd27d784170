import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectDatabase, type DatabaseHandle } from "../../src/db/client.js";
import { Gate, LockTimeoutError, RegistrationLock } from "../../src/users/registration-lock.js";
import { UsersRepository } from "../../src/users/repository.js";
import { createTestDatabase } from "../support/database.js";

/** The per-key registration lock, with two pools standing for two replicas. */
describe("registration lock", () => {
  let a: DatabaseHandle;
  let b: DatabaseHandle;
  let repoA: UsersRepository;
  let lockA: RegistrationLock;
  let lockB: RegistrationLock;
  let closeDb: () => Promise<void>;
  const key = { sdkAppId: 1, originId: "lock-key" };

  beforeAll(async () => {
    const database = await createTestDatabase();
    closeDb = database.close;
    a = connectDatabase(database.url, { poolSize: 4, applicationName: "replica-a" });
    b = connectDatabase(database.url, { poolSize: 4, applicationName: "replica-b" });
    repoA = new UsersRepository(a.db);
    lockA = new RegistrationLock(a.openSession);
    lockB = new RegistrationLock(b.openSession);
  });
  afterAll(async () => {
    await lockA?.close();
    await lockB?.close();
    await a?.close();
    await b?.close();
    await closeDb?.();
  });

  /** Holds the key's lock in `repo` until the returned release() is called. */
  async function hold(lock: RegistrationLock, k = key) {
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let acquired!: () => void;
    const isHeld = new Promise<void>((r) => (acquired = r));
    const done = lock.withLock(k, { timeoutMs: 5_000 }, async () => {
      acquired();
      await released;
      return "held";
    });
    await isHeld;
    return { release, done };
  }

  it("excludes another replica: try-lock skips, a waiter times out, then gets it once released", async () => {
    const holder = await hold(lockA);
    expect(await lockB.withLock(key, { timeoutMs: 0, wait: false }, async () => "ran")).toBeUndefined();
    await expect(lockB.withLock(key, { timeoutMs: 200 }, async () => "ran")).rejects.toBeInstanceOf(LockTimeoutError);
    const waiter = lockB.withLock(key, { timeoutMs: 5_000 }, async () => "ran");
    holder.release();
    expect(await holder.done).toBe("held");
    expect(await waiter).toBe("ran");
  });

  it("serialises callers of one key in one process; other keys run alongside", async () => {
    let inside = 0;
    let maxInside = 0;
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        lockA.withLock(key, { timeoutMs: 5_000 }, async () => {
          maxInside = Math.max(maxInside, ++inside);
          await a.sql`select pg_sleep(0.005)`;
          order.push(i);
          inside--;
        }),
      ),
    );
    expect(maxInside).toBe(1);
    expect(order).toHaveLength(12);
    const other = await hold(lockA);
    expect(await lockA.withLock({ sdkAppId: 1, originId: "other" }, { timeoutMs: 1_000 }, async () => "ran")).toBe("ran");
    other.release();
    await other.done;
  });

  it("never pins the whole pool: many keys at once on a pool of 4, each holder querying inside", async () => {
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        lockA.withLock({ sdkAppId: 1, originId: `k-${i}` }, { timeoutMs: 10_000 }, async () => {
          await repoA.findByOriginId(1, `k-${i}`);
          return i;
        }),
      ),
    );
    expect(results).toEqual(Array.from({ length: 30 }, (_, i) => i));
  });

  it("is released when the holder's process dies (its connection is dropped)", async () => {
    const holder = await hold(lockA);
    // Kill replica A's backends, as PostgreSQL does when the process holding them is SIGKILLed.
    await b.sql`select pg_terminate_backend(pid) from pg_stat_activity where application_name like 'replica-a%' and datname = current_database()`;
    expect(await lockB.withLock(key, { timeoutMs: 2_000 }, async () => "ran")).toBe("ran");
    holder.release();
    expect(await holder.done).toBe("held"); // the holder's work finishes; nothing hangs
    // Replica A's pool works again afterwards: its dropped reserved connection is not handed out again
    // socket-less (which hung every later query on it). Its idle connections died too, and a query
    // may meet one before postgres.js notices: that fails with CONNECTION_CLOSED, and the pool heals.
    let outcome: unknown;
    for (let i = 0; i < 6; i++) {
      outcome = await lockA.withLock(key, { timeoutMs: 1_000 }, async () => repoA.findByOriginId(1, "x")).then(() => "ok", (e: Error) => e.message);
      if (outcome === "ok") break;
      expect(outcome).toMatch(/CONNECTION_CLOSED/);
    }
    expect(outcome).toBe("ok");
  });

  it("returnBeforeRelease: the value comes back before the unlock, which follows; failures come back released; close() waits for releases", async () => {
    const lockC = new RegistrationLock(a.openSession);
    const k = { sdkAppId: 1, originId: "early-return" };
    expect(await lockC.withLock(k, { timeoutMs: 1_000, returnBeforeRelease: true }, async () => "value")).toBe("value");
    // The unlock may still be on its way; another replica waiting for the key gets it right after.
    expect(await lockB.withLock(k, { timeoutMs: 2_000 }, async () => "ran")).toBe("ran");
    await expect(lockC.withLock(k, { timeoutMs: 1_000, returnBeforeRelease: true }, async () => { throw new Error("boom"); })).rejects.toThrow("boom");
    expect(await lockB.withLock(k, { timeoutMs: 0, wait: false }, async () => "ran")).toBe("ran");
    // In this process the key stays taken until the release is done: the next caller queues behind it.
    const order: string[] = [];
    await Promise.all([
      lockC.withLock(k, { timeoutMs: 1_000, returnBeforeRelease: true }, async () => order.push("first")),
      lockC.withLock(k, { timeoutMs: 1_000 }, async () => order.push("second")),
    ]);
    expect(order).toEqual(["first", "second"]);
    await lockC.withLock(k, { timeoutMs: 1_000, returnBeforeRelease: true }, async () => "value");
    await lockC.close();
    expect(await lockB.withLock(k, { timeoutMs: 0, wait: false }, async () => "ran")).toBe("ran");
  });

  it("a release after the holder's function throws", async () => {
    await expect(lockB.withLock(key, { timeoutMs: 1_000 }, async () => { throw new Error("boom"); })).rejects.toThrow("boom");
    expect(await lockA.withLock(key, { timeoutMs: 0, wait: false }, async () => "ran")).toBe("ran");
  });
});

describe("Gate", () => {
  it("grants permits in order, times waiters out, and hands a released permit to the next waiter", async () => {
    const gate = new Gate(1);
    expect(gate.tryAcquire()).toBe(true);
    expect(gate.tryAcquire()).toBe(false);
    expect(await gate.acquire(0)).toBe(false);
    expect(await gate.acquire(10)).toBe(false);
    const order: string[] = [];
    const first = gate.acquire(1_000).then((ok) => order.push(`first ${ok}`));
    const second = gate.acquire(1_000).then((ok) => order.push(`second ${ok}`));
    gate.release();
    await first;
    gate.release();
    await second;
    expect(order).toEqual(["first true", "second true"]);
    gate.release();
    expect(gate.tryAcquire()).toBe(true);
  });
});
