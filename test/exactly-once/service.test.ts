import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { classroomUsers } from "../../src/db/schema.js";
import { createTestDatabase } from "../support/database.js";
import { startServiceHarness, type ServiceHarness } from "./harness.js";

describe("exactly-once registration in one process (real SDK + emulator)", () => {
  let h: ServiceHarness;
  let closeDb: () => Promise<void>;
  beforeAll(async () => {
    const database = await createTestDatabase();
    closeDb = database.close;
    h = await startServiceHarness({ databaseUrl: database.url, poolSize: 10 });
  });
  afterAll(async () => {
    await h?.close();
    await closeDb?.();
  });

  it("20 parallel registrations of one originId: one RegisterUser applied, one userId", async () => {
    const started = Date.now();
    const results = await Promise.all(Array.from({ length: 20 }, () => h.users.register({ originId: "parallel-1", name: "P" })));
    expect(new Set(results.map((r) => r.user.userId)).size).toBe(1);
    expect(h.emulator.counters().RegisterUser.applied).toBe(1);
    expect(h.emulator.users().filter((u) => u.originId === "parallel-1")).toHaveLength(1);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
