// The emulator's own surface: admin routes, state file across restarts, reset, logging.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createLcicClient } from "../../src/lcic/client.js";
import { startLcicEmulator } from "../../src/lcic/emulator/index.js";
import { catchLcicError, startTestLcic } from "../support/lcic.js";

const APP = 1400000001;
const dir = await mkdtemp(path.join(tmpdir(), "lcic-emulator-"));
afterAll(() => rm(dir, { recursive: true, force: true }));

async function admin(url: string, method: string, route: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(url + "/__emulator/" + route, {
    method,
    body: body === undefined ? undefined : JSON.stringify(body),
    headers: body === undefined ? undefined : { "content-type": "application/json" },
  });
  return { status: res.status, body: await res.json() };
}

describe("admin routes", () => {
  it("faults, counters, users, reset", async () => {
    const { emulator, client, close } = await startTestLcic();
    try {
      const url = emulator.url;
      expect(await admin(url, "POST", "faults", [
        { mode: "error", code: "InternalError", action: "LoginUser", times: null },
        { mode: "http", status: 502, action: "DeleteUser" },
      ])).toEqual({ status: 200, body: { faults: 2 } });
      const r = await client.registerUser({ sdkAppId: APP, originId: "adm", name: "Ad" });
      for (let i = 0; i < 3; i++) expect((await catchLcicError(client.loginUser(r.userId))).code).toBe("InternalError");
      expect((await admin(url, "DELETE", "faults")).status).toBe(200);
      await client.loginUser(r.userId);

      const counters = (await admin(url, "GET", "counters")).body;
      expect(counters.LoginUser).toEqual({ calls: 4, applied: 1, errors: 3, rateLimited: 0 });
      expect(counters.RegisterUser).toEqual({ calls: 1, applied: 1, errors: 0, rateLimited: 0 });
      expect(Object.keys(counters).sort()).toEqual(
        ["BatchRegister", "DeleteUser", "DescribeSdkAppIdUsers", "DescribeUser", "LoginOriginId", "LoginUser", "ModifyUserProfile", "RegisterUser"],
      );

      expect((await admin(url, "GET", `users?sdkAppId=${APP}`)).body.users).toEqual([
        { sdkAppId: APP, userId: r.userId, originId: "adm", name: "Ad", avatar: "" },
      ]);
      expect((await admin(url, "GET", "users?sdkAppId=7")).body.users).toEqual([]);
      expect((await admin(url, "GET", "users")).body.users).toHaveLength(1);
      // DELETE cleared the DeleteUser fault as well.
      await client.deleteUser(r.userId);
      expect((await admin(url, "GET", "users")).body.users).toEqual([]);

      expect((await admin(url, "POST", "reset")).status).toBe(200);
      expect(emulator.users()).toEqual([]);
      expect(emulator.counters().LoginUser.calls).toBe(0);

      expect((await admin(url, "POST", "faults", { mode: "nonsense" })).status).toBe(400);
      expect((await admin(url, "GET", "nothing-here")).status).toBe(404);
    } finally {
      await close();
    }
  });

  it("resetCounters, addSdkAppId, and DescribeUser by OriginId across applications", async () => {
    const { emulator, client, close } = await startTestLcic();
    try {
      expect((await catchLcicError(client.registerUser({ sdkAppId: 1400000009 }))).code).toBe("InvalidParameter.SdkAppId");
      emulator.addSdkAppId(1400000009);
      expect(emulator.sdkAppIds).toEqual([APP, 1400000009]);
      await client.registerUser({ sdkAppId: 1400000009, originId: "only-here" });
      expect((await client.describeUser({ originId: "only-here" })).sdkAppId).toBe(1400000009);
      emulator.resetCounters();
      expect(emulator.counters().RegisterUser).toEqual({ calls: 0, applied: 0, errors: 0, rateLimited: 0 });
    } finally {
      await close();
    }
  });

  it("the request log names actions and outcomes but never tokens or keys", async () => {
    const lines: string[] = [];
    const { emulator, client, close } = await startTestLcic({ log: (line) => lines.push(line) });
    try {
      const r = await client.registerUser({ sdkAppId: APP, originId: "logged" });
      const l = await client.loginUser(r.userId);
      await catchLcicError(client.loginUser("missing"));
      const text = lines.join("\n");
      expect(text).toMatch(/RegisterUser ok/);
      expect(text).toMatch(/LoginUser error ResourceNotFound.User/);
      for (const secret of [r.token, l.token, emulator.credentials.secretKey]) expect(text).not.toContain(secret);
    } finally {
      await close();
    }
  });
});

describe("state file", () => {
  it("a restarted emulator keeps its users (written atomically as JSON)", async () => {
    const stateFile = path.join(dir, "nested", "state.json");
    const credentials = [{ secretId: "AKIDstate", secretKey: "state-key" }];
    const first = await startLcicEmulator({ stateFile, credentials });
    const client1 = createLcicClient({ endpoint: first.url, ...credentials[0]!, timeoutMs: 2000 });
    const a = await client1.registerUser({ sdkAppId: APP, originId: "keep", name: "Kept" });
    await client1.batchRegister([{ sdkAppId: APP, originId: "b1" }, { sdkAppId: APP, originId: "b2" }]);
    const gone = await client1.registerUser({ sdkAppId: APP, originId: "gone" });
    await client1.deleteUser(gone.userId);
    await client1.modifyUserProfile({ userId: a.userId, nickname: "Renamed" });
    await first.close();

    const saved = JSON.parse(await readFile(stateFile, "utf8"));
    expect(saved.version).toBe(1);
    expect(saved.users).toHaveLength(3);
    expect(JSON.stringify(saved)).not.toContain(a.token);

    const second = await startLcicEmulator({ stateFile, credentials });
    try {
      const client2 = createLcicClient({ endpoint: second.url, ...credentials[0]!, timeoutMs: 2000 });
      expect(await client2.describeUser({ originId: "keep" })).toMatchObject({ userId: a.userId, name: "Renamed" });
      expect((await client2.loginOriginId({ sdkAppId: APP, originId: "b2" })).token).toBeTruthy();
      expect((await catchLcicError(client2.registerUser({ sdkAppId: APP, originId: "keep" }))).code).toBe(
        "FailedOperation.OriginIdExists",
      );
      expect((await client2.describeSdkAppIdUsers({ sdkAppId: APP })).users.map((u) => u.originId)).toEqual(["keep", "b1", "b2"]);
    } finally {
      await second.close();
    }
  });

  it("a corrupt state file is an error at start, not an empty emulator", async () => {
    const stateFile = path.join(dir, "corrupt.json");
    await (await import("node:fs/promises")).writeFile(stateFile, "{not json");
    await expect(startLcicEmulator({ stateFile })).rejects.toThrow();
  });
});
