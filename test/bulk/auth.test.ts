// Who may bulk-register: the register scope only; no self-service. The import command passes the
// bearer token from --token or CLASSROOM_USERS_TOKEN.
import { spawn } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { signToken } from "../auth/support/jwks-server.js";
import { startSecureApp } from "../security/support/app.js";

const SECRET = "a-shared-secret-of-at-least-32-bytes!!";
const key = { privateKey: new TextEncoder().encode(SECRET), alg: "HS256" };
const t = await startSecureApp({ AUTH_JWT_SECRET: SECRET });
afterAll(() => t.close());

const MUTATION = `mutation M($input: RegisterClassroomUsersInput!) { registerClassroomUsers(input: $input) { __typename ... on RegisterClassroomUsersSuccess { createdCount } } }`;

describe("registerClassroomUsers authorization", () => {
  it("needs the register scope: a caller registering only themself is refused before anything happens", async () => {
    const self = await signToken(key, { scope: "" }, { subject: "s-1" });
    const refused = await t.gql({ query: MUTATION, variables: { input: { users: [{ originId: "s-1" }] } } }, { authorization: `Bearer ${self}` });
    expect(refused.body.errors[0].extensions.code).toBe("FORBIDDEN");
    const reader = await signToken(key, { scope: "classroom-users:read" }, { subject: "ops" });
    const alsoRefused = await t.gql({ query: MUTATION, variables: { input: { users: [{ originId: "x" }] } } }, { authorization: `Bearer ${reader}` });
    expect(alsoRefused.body.errors[0].extensions.code).toBe("FORBIDDEN");
    expect(t.lcicCalls()).toBe(0);
    expect((await t.rows()).users).toBe(0);

    const registrar = await signToken(key, { scope: "classroom-users:register" }, { subject: "registrar" });
    const ok = await t.gql({ query: MUTATION, variables: { input: { users: [{ originId: "s-1" }, { originId: "s-2" }] } } }, { authorization: `Bearer ${registrar}` });
    expect(ok.body.data.registerClassroomUsers).toEqual({ __typename: "RegisterClassroomUsersSuccess", createdCount: 2 });
  });

  it("roster:import sends CLASSROOM_USERS_TOKEN, and stops with a clear message without it", { timeout: 20_000 }, async () => {
    const file = path.join(await mkdtemp(path.join(tmpdir(), "roster-auth-")), "r.csv");
    await writeFile(file, "originId,name\nt-1,One\nt-2,Two\n");
    // Asynchronously: the server answering it runs in this process.
    const run = (env: Record<string, string>) =>
      new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve, reject) => {
        const child = spawn(process.execPath, ["--import", "tsx", "src/cli/roster-import.ts", file, "--url", t.endpoint], { env: { ...process.env, ...env } });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d) => (stdout += d));
        child.stderr.on("data", (d) => (stderr += d));
        child.on("error", reject);
        child.on("close", (status) => resolve({ status, stdout, stderr }));
      });
    const anonymous = await run({ CLASSROOM_USERS_TOKEN: "" });
    expect(anonymous.status).toBe(1);
    expect(anonymous.stderr).toContain("pass --token or set CLASSROOM_USERS_TOKEN");
    const registrar = await signToken(key, { scope: "classroom-users:register" }, { subject: "registrar" });
    const withToken = await run({ CLASSROOM_USERS_TOKEN: registrar });
    expect(withToken.stdout).toContain("done: 2 created, 0 existing, 0 failed of 2 rows");
    expect(withToken.status).toBe(0);
    expect(withToken.stdout + withToken.stderr).not.toContain(registrar);
  });
});
