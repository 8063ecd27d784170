import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DatabaseHandle } from "../../src/db/client.js";
import { RegistrationLock } from "../../src/users/registration-lock.js";
import { UsersRepository, type ClassroomUserRow } from "../../src/users/repository.js";
import { createTestDatabase } from "../support/database.js";

/**
 * recordFirstAttempt: the record of intent and of a key's first RegisterUser attempt in one statement
 * (what a registration writes under the key's lock before its first RegisterUser).
 */
describe.each(["recordFirstAttempt", "recordFirstAttemptTryingLock"] as const)("%s", (variant) => {
  let database: DatabaseHandle & { url: string };
  let repo: UsersRepository;
  let lock: RegistrationLock;
  const intent = (originId: string, name: string | null = "Ada") => ({ sdkAppId: 1, originId: `${variant}-${originId}`, name, avatar: null, originIdGenerated: false });
  /** The statement under test: alone through the pool, or trying the key's (free) lock on the lock's connection, as a registration does. */
  const record = (input: ReturnType<typeof intent>): Promise<ClassroomUserRow | undefined> =>
    variant === "recordFirstAttempt"
      ? repo.recordFirstAttempt(input)
      : lock.withLockTriedBy(input, { timeoutMs: 1_000 }, (session, spec) => repo.recordFirstAttemptTryingLock(session, spec, input), async (tried) => {
          const { locked, value } = await tried;
          expect(locked).toBe(true);
          return value;
        });
  const originIdOf = (originId: string) => `${variant}-${originId}`;

  beforeAll(async () => {
    database = await createTestDatabase();
    repo = new UsersRepository(database.db);
    lock = new RegistrationLock(database.openSession);
  });
  afterAll(async () => {
    await lock?.close();
    await database?.close();
  });

  it("inserts a pending row with its first attempt counted, committed when it returns", async () => {
    const row = await record(intent("fa-new"));
    expect(row).toMatchObject({ sdkAppId: 1, originId: originIdOf("fa-new"), name: "Ada", status: "pending", attempts: 1, userId: null });
    expect(row).toEqual(await repo.findByOriginId(1, originIdOf("fa-new"))); // the whole row, mapped as a lookup maps it
    // Visible to another connection at once: committed before any RegisterUser could be sent.
    const [seen] = await database.sql`select status, attempts from classroom_users where origin_id = ${originIdOf("fa-new")}`;
    expect(seen).toEqual({ status: "pending", attempts: 1 });
  });

  it("takes over a pending row nobody sent yet (attempts 0), with this request's profile", async () => {
    const pending = await repo.findOrInsertPending({ sdkAppId: 1, originId: originIdOf("fa-unsent"), name: "Old" });
    expect(pending.attempts).toBe(0);
    const row = await record(intent("fa-unsent", "New"));
    expect(row).toMatchObject({ id: pending.id, attempts: 1, name: "New", status: "pending" });
  });

  it("writes nothing for a row with attempts (one may have reached LCIC) or a registered one", async () => {
    const sent = (await record(intent("fa-sent")))!;
    expect(await record(intent("fa-sent", "Other"))).toBeUndefined();
    expect(await repo.findByOriginId(1, originIdOf("fa-sent"))).toMatchObject({ attempts: 1, name: "Ada", updatedAt: sent.updatedAt });

    const registered = (await record(intent("fa-registered")))!;
    await repo.markRegistered(registered.id, { userId: `${variant}-fa-user` });
    expect(await record(intent("fa-registered", "Other"))).toBeUndefined();
    expect(await repo.findByOriginId(1, originIdOf("fa-registered"))).toMatchObject({ status: "registered", userId: `${variant}-fa-user`, attempts: 1, name: "Ada" });
  });

  it("recordLogin skips the write when the row read already shows a login within the hour", async () => {
    const row = (await record(intent("fa-login")))!;
    const at = new Date();
    const stored = await repo.markRegistered(row.id, { userId: `${variant}-fa-login-user`, lastLoginAt: at });
    expect(stored.lastLoginAt).toEqual(at);
    let statements = 0;
    const counting = new UsersRepository(
      new Proxy(database.db, {
        get(target, prop, receiver) {
          if (prop === "update") statements += 1;
          return Reflect.get(target, prop, receiver);
        },
      }),
    );
    statements = 0; // the constructor prepares statements of its own (an update among them)
    await counting.recordLogin(row.id, new Date(at.getTime() + 60_000), stored);
    expect(statements).toBe(0);
    const later = new Date(at.getTime() + 2 * 3_600_000);
    await counting.recordLogin(row.id, later, stored);
    expect(statements).toBe(1);
    expect((await repo.findByOriginId(1, originIdOf("fa-login")))!.lastLoginAt).toEqual(later);
  });
});
