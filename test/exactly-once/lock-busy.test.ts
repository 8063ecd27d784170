import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LcicUnavailableError, RegistrationBusyError } from "../../src/users/errors.js";
import { createTestDatabase } from "../support/database.js";
import { startServiceHarness, type ServiceHarness } from "./harness.js";

/** Issue 9 item 12: waiting too long for another request of the same key is not "LCIC unavailable". */
describe("registration lock wait that times out", () => {
  let h: ServiceHarness;
  let closeDb: () => Promise<void>;

  beforeAll(async () => {
    const database = await createTestDatabase();
    closeDb = database.close;
    h = await startServiceHarness({ databaseUrl: database.url, lockTimeoutMs: 300 });
  });
  afterAll(async () => {
    await h?.close();
    await closeDb?.();
  });

  it("is RegistrationBusyError with the real wait, and sends nothing to LCIC", async () => {
    const sdkAppId = h.emulator.sdkAppIds[0]!;
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let acquired!: () => void;
    const isHeld = new Promise<void>((r) => (acquired = r));
    const holder = h.lock.withLock({ sdkAppId, originId: "busy" }, { timeoutMs: 5_000 }, async () => {
      acquired();
      await held;
    });
    await isHeld;
    h.emulator.resetCounters();
    const error = await h.users.register({ originId: "busy" }).catch((e: unknown) => e);
    release();
    await holder;
    expect(error).toBeInstanceOf(RegistrationBusyError);
    expect(error).not.toBeInstanceOf(LcicUnavailableError);
    expect(error).toMatchObject({ code: "Registration.Busy", originId: "busy" });
    expect((error as RegistrationBusyError).waitedMs).toBeGreaterThanOrEqual(250);
    expect(h.emulator.counters().RegisterUser.calls).toBe(0);
  });
});
