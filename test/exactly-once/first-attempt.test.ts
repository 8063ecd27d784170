import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DatabaseHandle } from "../../src/db/client.js";
import { UsersRepository } from "../../src/users/repository.js";
import { createTestDatabase } from "../support/database.js";

/**
 * recordFirstAttempt: the record of intent and of a key's first RegisterUser attempt in one statement
 * (what a registration writes under the key's lock before its first RegisterUser).
 */
describe("recordFirstAttempt", () => {
  let database: DatabaseHandle & { url: string };
  let repo: UsersRepository;
  const intent = (originId: string, name: string | null = "Ada") => ({ sdkAppId: 1, originId, name, avatar: null, originIdGenerated: false });

  beforeAll(async () => {
    database = await createTestDatabase();
    repo = new UsersRepository(database.db);
  });
  afterAll(async () => database?.close());

  it("inserts a pending row with its first attempt counted, committed when it returns", async () => {
    const row = await repo.recordFirstAttempt(intent("fa-new"));
    expect(row).toMatchObject({ sdkAppId: 1, originId: "fa-new", name: "Ada", status: "pending", attempts: 1, userId: null });
    // Visible to another connection at once: committed before any RegisterUser could be sent.
    const [seen] = await database.sql`select status, attempts from classroom_users where origin_id = 'fa-new'`;
    expect(seen).toEqual({ status: "pending", attempts: 1 });
  });

  it("takes over a pending row nobody sent yet (attempts 0), with this request's profile", async () => {
    const pending = await repo.findOrInsertPending({ sdkAppId: 1, originId: "fa-unsent", name: "Old" });
    expect(pending.attempts).toBe(0);
    const row = await repo.recordFirstAttempt(intent("fa-unsent", "New"));
    expect(row).toMatchObject({ id: pending.id, attempts: 1, name: "New", status: "pending" });
  });

  it("writes nothing for a row with attempts (one may have reached LCIC) or a registered one", async () => {
    const sent = (await repo.recordFirstAttempt(intent("fa-sent")))!;
    expect(await repo.recordFirstAttempt(intent("fa-sent", "Other"))).toBeUndefined();
    expect(await repo.findByOriginId(1, "fa-sent")).toMatchObject({ attempts: 1, name: "Ada", updatedAt: sent.updatedAt });

    const registered = (await repo.recordFirstAttempt(intent("fa-registered")))!;
    await repo.markRegistered(registered.id, { userId: "fa-user" });
    expect(await repo.recordFirstAttempt(intent("fa-registered", "Other"))).toBeUndefined();
    expect(await repo.findByOriginId(1, "fa-registered")).toMatchObject({ status: "registered", userId: "fa-user", attempts: 1, name: "Ada" });
  });

  it("recordLogin skips the write when the row read already shows a login within the hour", async () => {
    const row = (await repo.recordFirstAttempt(intent("fa-login")))!;
    const at = new Date();
    const stored = await repo.markRegistered(row.id, { userId: "fa-login-user", lastLoginAt: at });
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
    expect((await repo.findByOriginId(1, "fa-login"))!.lastLoginAt).toEqual(later);
  });
});
