// Importing our client must load the LCIC service only, not the SDK's ~260 others. Checked in a
// fresh Node process (vitest's own module graph would blur the answer).
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { expect, it } from "vitest";

const root = fileURLToPath(new URL("../..", import.meta.url));

const script = `
import { createRequire } from "node:module";
const { createLcicClient } = await import("./src/lcic/client.ts");
const client = createLcicClient({ endpoint: "http://127.0.0.1:1", secretId: "a", secretKey: "b", timeoutMs: 500 });
const error = await client.loginUser("x").catch((e) => e);
const loaded = Object.keys(createRequire(import.meta.url).cache);
const services = [...new Set(loaded.map((f) => /tencentcloud\\/services\\/([^/]+)\\//.exec(f)?.[1]).filter(Boolean))];
console.log(JSON.stringify({ services, sdkModules: loaded.filter((f) => f.includes("tencentcloud-sdk-nodejs")).length, code: error.code, name: error.name }));
`;

it("loads only services/lcic from tencentcloud-sdk-nodejs, and errors map under plain Node ESM", async () => {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ["--import", "tsx", "--input-type=module", "-e", script],
    { cwd: root, env: { ...process.env, http_proxy: "" } },
  );
  const result = JSON.parse(stdout.trim().split("\n").pop()!);
  expect(result.services).toEqual(["lcic"]);
  expect(result.sdkModules).toBeLessThan(40);
  // Under Node's own ESM the exception class is `.default`: toLcicError must still recognize it.
  expect(result).toMatchObject({ code: "Network.ConnectionRefused", name: "LcicError" });
}, 20_000);
