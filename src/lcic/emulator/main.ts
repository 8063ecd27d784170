/**
 * Standalone LCIC emulator: `npm run lcic:emulator [-- --port 9000 --state-file .lcic.json]`.
 * Flags win over environment variables; with no keys given, a dev key pair is generated.
 */
import { parseArgs } from "node:util";
import { DEFAULT_SDK_APP_ID, startLcicEmulator } from "./index.js";

function fail(message: string): never {
  process.stderr.write(`lcic emulator: ${message}\n`);
  process.exit(2);
}

function integer(name: string, text: string): number {
  const value = Number(text.trim());
  if (!Number.isSafeInteger(value) || value < 0) fail(`${name} must be a non-negative integer, got ${JSON.stringify(text)}`);
  return value;
}

const { values } = parseArgs({
  options: {
    port: { type: "string" },
    host: { type: "string" },
    "secret-id": { type: "string" },
    "secret-key": { type: "string" },
    "sdk-app-ids": { type: "string" },
    "state-file": { type: "string" },
    quiet: { type: "boolean", default: false },
  },
  strict: true,
});
// An empty variable counts as unset, as shells and .env files produce them.
const env = Object.fromEntries(Object.entries(process.env).filter(([, v]) => v !== undefined && v !== ""));

const portText = values.port ?? env.LCIC_EMULATOR_PORT;
const host = values.host ?? env.LCIC_EMULATOR_HOST ?? "127.0.0.1";
const secretId = values["secret-id"] ?? env.TENCENTCLOUD_SECRET_ID;
const secretKey = values["secret-key"] ?? env.TENCENTCLOUD_SECRET_KEY;
if ((secretId === undefined) !== (secretKey === undefined)) fail("give both a secret id and a secret key, or neither");
const appIdsText = values["sdk-app-ids"] ?? env.LCIC_SDK_APP_IDS ?? env.LCIC_SDK_APP_ID;
const sdkAppIds = appIdsText
  ? appIdsText.split(",").filter((s) => s.trim() !== "").map((s) => integer("SdkAppId", s))
  : [DEFAULT_SDK_APP_ID];
if (sdkAppIds.length === 0) fail("no SdkAppId given");

const emulator = await startLcicEmulator({
  port: portText === undefined ? 0 : integer("port", portText),
  host,
  credentials: secretId && secretKey ? [{ secretId, secretKey }] : undefined,
  sdkAppIds,
  stateFile: values["state-file"] ?? env.LCIC_EMULATOR_STATE_FILE,
  log: values.quiet ? undefined : (line) => process.stdout.write(`${new Date().toISOString()} ${line}\n`),
});

if (!["127.0.0.1", "::1", "localhost"].includes(host)) {
  process.stderr.write(`lcic emulator: warning: listening on ${host}; the /__emulator/ admin routes are unauthenticated\n`);
}

const { secretId: id, secretKey: key } = emulator.credentials;
process.stdout.write(
  [
    `LCIC emulator listening on ${emulator.url} (SdkAppIds ${emulator.sdkAppIds.join(", ")})`,
    // The key printed is the emulator's own local dev credential (generated or the one passed in),
    // valid only against this emulator.
    "Point the service at it (local emulator credentials, not Tencent Cloud keys):",
    `  LCIC_ENDPOINT=${emulator.url} TENCENTCLOUD_SECRET_ID=${id} TENCENTCLOUD_SECRET_KEY=${key} LCIC_SDK_APP_ID=${emulator.sdkAppIds[0]}`,
    `Admin: ${emulator.url}/__emulator/{faults,counters,users,reset}`,
    "",
  ].join("\n"),
);

let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    emulator.close().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`lcic emulator: close failed: ${String(error)}\n`);
        process.exit(1);
      },
    );
  });
}
