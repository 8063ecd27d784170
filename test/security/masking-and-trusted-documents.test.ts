/** Error masking (clients get generic messages, logs get the detail) and trusted-documents mode. */
import { createHash } from "node:crypto";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { FIND, REGISTER, startSecureApp, type SecureTestApp } from "./support/app.js";

const started: SecureTestApp[] = [];
afterAll(async () => {
  for (const app of started.reverse()) await app.close();
});

describe("error masking", () => {
  it("a database failure reaches the client as a generic error; the log has the detail", async () => {
    const t = await startSecureApp();
    started.push(t);
    await t.db.sql`alter table registration_rate_limits rename to registration_rate_limits_gone`;
    const r = await t.gql({ query: REGISTER, variables: { input: { originId: "masked" } } });
    expect(r.body.errors).toEqual([expect.objectContaining({ message: "Unexpected error.", extensions: { code: "INTERNAL_SERVER_ERROR" } })]);
    expect(r.text).not.toMatch(/registration_rate_limits|relation|insert|select|stack|at .*\.ts/i);
    expect(t.logs()).toContain("registration_rate_limits");
    expect(t.lcicCalls()).toBe(0);
    await t.db.sql`alter table registration_rate_limits_gone rename to registration_rate_limits`;
  });

  it("field suggestions are not offered (no schema probing through typos)", async () => {
    const t = started[0]!;
    const r = await t.gql({ query: "{ classroomUsr(originId: \"x\") { __typename } }" });
    expect(r.status).toBe(400);
    expect(r.text).not.toMatch(/Did you mean/);
  });
});

describe("trusted documents (TRUSTED_DOCUMENTS_FILE)", () => {
  it("runs only listed operations, by documentId or Apollo's sha256Hash", async () => {
    const hash = createHash("sha256").update(FIND).digest("hex");
    const dir = await mkdtemp(path.join(tmpdir(), "trusted-docs-"));
    const file = path.join(dir, "persisted-documents.json");
    await writeFile(file, JSON.stringify({ [hash]: FIND }));
    const t = await startSecureApp({ TRUSTED_DOCUMENTS_FILE: file });
    started.push(t);

    const byId = await t.gql({ documentId: `sha256:${hash}`, variables: { originId: "nobody" } });
    expect(byId.body.data.classroomUser.__typename).toBeDefined();
    const byApollo = await t.gql({ extensions: { persistedQuery: { version: 1, sha256Hash: hash } }, variables: { originId: "nobody" } });
    expect(byApollo.body.data.classroomUser.__typename).toBeDefined();

    // Arbitrary documents, even identical text, and unknown ids are refused before execution.
    const calls = t.lcicCalls();
    for (const body of [{ query: REGISTER, variables: { input: { originId: "x" } } }, { query: FIND, variables: { originId: "x" } }, { documentId: "sha256:" + "0".repeat(64) }]) {
      const r = await t.gql(body);
      expect(r.status).toBeGreaterThanOrEqual(400);
      expect(r.status).toBeLessThan(500);
      expect(r.body.data ?? null).toBeNull();
    }
    expect(t.lcicCalls()).toBe(calls);
    expect((await t.rows()).users).toBe(0);
  });

  it("a bad file stops start-up with a message naming the variable", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "trusted-docs-"));
    const file = path.join(dir, "broken.json");
    await writeFile(file, "{ not json");
    await expect(startSecureApp({ TRUSTED_DOCUMENTS_FILE: file })).rejects.toThrow(/^TRUSTED_DOCUMENTS_FILE: /);
  });
});
