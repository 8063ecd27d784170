/**
 * `src/main.ts` started as its own process (through tsx), as an operator starts the service: resolves
 * once it logged "classroom-users ready"; rejects with its output if it exits before.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));

export interface MainProcess {
  child: ChildProcess;
  /** Resolves with the exit code once the process ended. */
  exited: Promise<number | null>;
}

/** `nodeArgs` go before the entry point (e.g. another `--import`); `env` is added to this process's. */
export async function startMainProcess(env: Record<string, string>, nodeArgs: string[] = []): Promise<MainProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", ...nodeArgs, "src/main.ts"], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  let out = "";
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes("classroom-users ready")) resolve();
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    void exited.then((code) => reject(new Error(`main exited early (${code}): ${out}`)));
  });
  return { child, exited };
}

/**
 * A production configuration: NODE_ENV=production, LCIC credentials (an endpoint nothing listens on:
 * nothing here calls LCIC), a token key and a JWT secret.
 */
export function productionEnv(): Record<string, string> {
  return {
    NODE_ENV: "production",
    TENCENTCLOUD_SECRET_ID: "AKIDproductiontest",
    TENCENTCLOUD_SECRET_KEY: "production-test-key",
    LCIC_SDK_APP_ID: "1400000001",
    LCIC_ENDPOINT: "http://127.0.0.1:9",
    TOKEN_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
    AUTH_JWT_SECRET: randomBytes(32).toString("hex"),
  };
}
