// The standalone emulator (npm run lcic:emulator): flags and environment, the printed env lines
// work as they are, and SIGTERM stops it cleanly.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";
import { createLcicClient } from "../../src/lcic/client.js";

const root = fileURLToPath(new URL("../..", import.meta.url));

async function run(args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, ["--import", "tsx", "src/lcic/emulator/main.ts", "--quiet", ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  const line = await new Promise<string>((resolve, reject) => {
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const match = /^\s*(LCIC_ENDPOINT=.*)$/m.exec(out);
      if (match) resolve(match[1]!);
    });
    child.once("exit", (code) => reject(new Error(`emulator exited early (${code}): ${out}`)));
  });
  const vars = Object.fromEntries(line.split(" ").map((kv) => kv.split("=") as [string, string]));
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  const stop = () => {
    child.kill("SIGTERM");
    return exited;
  };
  return { vars, stop };
}

it("flags: prints env lines that work, and exits 0 on SIGTERM", async () => {
  const { vars, stop } = await run(["--port", "0", "--secret-id", "AKIDflag", "--secret-key", "flag-key", "--sdk-app-ids", "11,12"], {});
  try {
    expect(vars).toMatchObject({ TENCENTCLOUD_SECRET_ID: "AKIDflag", TENCENTCLOUD_SECRET_KEY: "flag-key", LCIC_SDK_APP_ID: "11" });
    const client = createLcicClient({
      endpoint: vars.LCIC_ENDPOINT!,
      secretId: vars.TENCENTCLOUD_SECRET_ID!,
      secretKey: vars.TENCENTCLOUD_SECRET_KEY!,
      timeoutMs: 2000,
    });
    const r = await client.registerUser({ sdkAppId: 12, originId: "cli" });
    expect((await client.describeUser({ userId: r.userId })).sdkAppId).toBe(12);
  } finally {
    expect(await stop()).toBe(0);
  }
}, 20_000);

it("environment: LCIC_SDK_APP_ID and a generated dev key pair", async () => {
  const { vars, stop } = await run([], { LCIC_EMULATOR_PORT: "0", LCIC_SDK_APP_ID: "77", TENCENTCLOUD_SECRET_ID: "", TENCENTCLOUD_SECRET_KEY: "" });
  try {
    expect(vars.LCIC_SDK_APP_ID).toBe("77");
    expect(vars.TENCENTCLOUD_SECRET_KEY!.length).toBeGreaterThanOrEqual(32);
    const client = createLcicClient({
      endpoint: vars.LCIC_ENDPOINT!,
      secretId: vars.TENCENTCLOUD_SECRET_ID!,
      secretKey: vars.TENCENTCLOUD_SECRET_KEY!,
      timeoutMs: 2000,
    });
    expect((await client.registerUser({ sdkAppId: 77 })).token).toBeTruthy();
  } finally {
    expect(await stop()).toBe(0);
  }
}, 20_000);
