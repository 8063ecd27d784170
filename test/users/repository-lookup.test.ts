// The lookup queries run as prepared statements with their own row mapper (UsersRepository's
// PreparedRowsQuery): every column must come back exactly as Drizzle's own select maps it.
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectDatabase, type DatabaseHandle } from "../../src/db/client.js";
import { classroomUsers } from "../../src/db/schema.js";
import { UsersRepository } from "../../src/users/repository.js";
import { createTestDatabase } from "../support/database.js";

describe("UsersRepository lookups", () => {
  let db: DatabaseHandle;
  let repository: UsersRepository;
  let closeDb: () => Promise<void>;

  beforeAll(async () => {
    const database = await createTestDatabase();
    closeDb = database.close;
    db = connectDatabase(database.url, { poolSize: 2 });
    repository = new UsersRepository(db.db);
    // Every column set, including the nullable timestamps and the token, and one row with them null.
    await db.db.insert(classroomUsers).values([
      {
        sdkAppId: 1400000001,
        originId: "full",
        userId: "u-full",
        name: "Ada",
        avatar: "https://example.com/a.png",
        status: "registered",
        tokenCiphertext: "ciphertext",
        tokenExpiresAt: new Date("2026-12-01T10:00:00.123Z"),
        lcicRequestId: "req-1",
        originIdGenerated: true,
        attempts: 3,
        lastError: "InternalError",
        reconcileFailures: 2,
        reconcileNotBefore: new Date("2026-12-02T00:00:00Z"),
        lastLoginAt: new Date("2026-11-30T08:00:00.5Z"),
      },
      { sdkAppId: 1400000002, originId: "bare", userId: "u-bare", status: "registered" },
      { sdkAppId: 1400000001, originId: "pending", status: "pending" },
    ]);
  });
  afterAll(async () => {
    await db?.close();
    await closeDb?.();
  });

  const drizzleRow = async (originId: string) => (await db.db.select().from(classroomUsers).where(eq(classroomUsers.originId, originId)))[0];

  it("by userId, by originId and by references: the rows Drizzle's select maps", async () => {
    for (const originId of ["full", "bare", "pending"]) {
      const expected = await drizzleRow(originId);
      expect(expected).toBeDefined();
      expect(await repository.findByOriginId(expected!.sdkAppId, originId)).toStrictEqual(expected);
      if (expected!.userId) expect(await repository.findByUserId(expected!.userId)).toStrictEqual(expected);
    }
    const full = await drizzleRow("full");
    expect(full!.tokenExpiresAt).toBeInstanceOf(Date);
    const rows = await repository.findManyByReferences(["u-full", "nobody"], [
      { sdkAppId: 1400000002, originId: "bare" },
      { sdkAppId: 1400000001, originId: "pending" },
      { sdkAppId: 1400000001, originId: "bare" },
    ]);
    const byOrigin = Object.fromEntries(rows.map((r) => [r.originId, r]));
    expect(Object.keys(byOrigin).sort()).toEqual(["bare", "full", "pending"]);
    for (const originId of ["full", "bare", "pending"]) expect(byOrigin[originId]).toStrictEqual(await drizzleRow(originId));
  });

  it("answers undefined and [] for what is not stored", async () => {
    expect(await repository.findByUserId("nobody")).toBeUndefined();
    expect(await repository.findByOriginId(1400000001, "nobody")).toBeUndefined();
    expect(await repository.findManyByReferences([], [])).toEqual([]);
  });
});
