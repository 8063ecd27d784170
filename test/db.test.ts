import { afterAll, describe, expect, it } from "vitest";
import { classroomUsers } from "../src/db/schema.js";
import { createTestDatabase } from "./support/database.js";

describe("database", () => {
  const handlePromise = createTestDatabase();
  afterAll(async () => (await handlePromise).close());

  it("is migrated: the classroom_users table and its unique keys exist", async () => {
    const { db, sql } = await handlePromise;
    await db.insert(classroomUsers).values({ sdkAppId: 1, originId: "a", userId: "u1", status: "registered" });
    await expect(db.insert(classroomUsers).values({ sdkAppId: 1, originId: "a" })).rejects.toMatchObject({ cause: { code: "23505" } });
    await expect(db.insert(classroomUsers).values({ sdkAppId: 2, originId: "b", userId: "u1" })).rejects.toMatchObject({ cause: { code: "23505" } });
    await expect(db.insert(classroomUsers).values({ sdkAppId: 2, originId: "c", status: "registered" })).rejects.toMatchObject({ cause: { code: "23514" } });
    const [row] = await sql`select count(*)::int as n from classroom_users`;
    expect(row?.n).toBe(1);
  });

  it("answers a ping", async () => {
    expect(await (await handlePromise).ping()).toBe(true);
  });
});
