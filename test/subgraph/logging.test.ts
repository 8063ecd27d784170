// What the service writes to its log: unexpected errors in full (masked for clients), never a token.
import { afterAll, describe, expect, it } from "vitest";
import { register, startTestServer } from "../support/server.js";

const server = await startTestServer({ logLevel: "trace" });
const deadDb = await startTestServer({ logLevel: "info" });
afterAll(async () => {
  await server.close();
  await deadDb.close();
});

describe("logs", () => {
  it("never contain an LCIC token or its ciphertext, through registration, refresh and adoption", async () => {
    const a = await register(server, { originId: "log-1", name: "Logged" });
    await server.db.sql`update classroom_users set token_expires_at = now()`;
    const b = await register(server, { originId: "log-1" });
    await server.lcic.client.registerUser({ sdkAppId: 1400000001, originId: "log-2" });
    const c = await register(server, { originId: "log-2" });
    server.emulator.injectFault({ mode: "applyThenDrop", action: "RegisterUser" });
    const d = await register(server, { originId: "log-3" });
    const e = await register(server, { originId: "log-3" }); // still fresh: the stored token
    const tokens = [a.token, b.token, c.token, d.token, e.token];
    expect(tokens.every((t) => typeof t === "string" && t.length > 10)).toBe(true);
    const ciphertexts = (await server.rows()).map((r) => r.token_ciphertext as string);
    const text = server.logs.join("\n");
    expect(server.logs.length).toBeGreaterThan(0);
    for (const secret of [...tokens, ...ciphertexts, server.emulator.credentials.secretKey]) expect(text).not.toContain(secret);
  });

  it("carry an audit event for every token handed out: who asked, for which user, from where", async () => {
    const audits = server.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.audit === true);
    const users = new Map((await server.rows()).map((r) => [r.origin_id as string, r.user_id as string]));
    const expected = [
      { originId: "log-1", source: "lcic", lcicAction: "RegisterUser" },
      { originId: "log-1", source: "lcic", lcicAction: "LoginUser" },
      { originId: "log-2", source: "lcic", lcicAction: "LoginOriginId" },
      { originId: "log-3", source: "lcic", lcicAction: "LoginOriginId" },
      { originId: "log-3", source: "stored" },
    ];
    expect(audits).toHaveLength(expected.length);
    audits.forEach((line, i) => {
      expect(line).toMatchObject({ event: "token.issued", operation: "registerClassroomUser", actor: "ip:127.0.0.1", sdkAppId: 1400000001, userId: users.get(expected[i]!.originId), ...expected[i] });
      expect(typeof line.reqId).toBe("string");
      if (expected[i]!.source === "stored") expect(line.lcicAction).toBeUndefined();
    });
  });

  it("carry an audit event for issueClassroomUserToken (from LCIC, then stored) and for deleteClassroomUser, without the token", async () => {
    await register(server, { originId: "log-4", name: "Audited" });
    await server.db.sql`update classroom_users set token_expires_at = now() where origin_id = 'log-4'`;
    const before = server.logs.length;
    const issue = `mutation ($o: String!) { issueClassroomUserToken(input: { originId: $o }) { __typename ... on ClassroomUserToken { token fromCache user { userId } } } }`;
    const first = await server.gql(issue, { o: "log-4" });
    const second = await server.gql(issue, { o: "log-4" });
    const tokens = [first, second].map((r) => (r.data as { issueClassroomUserToken: { token: string; fromCache: boolean; user: { userId: string } } }).issueClassroomUserToken);
    expect(tokens.map((t) => t.fromCache)).toEqual([false, true]);
    const del = await server.gql(`mutation { deleteClassroomUser(input: { originId: "log-4" }) { __typename } }`);
    expect(del.data).toEqual({ deleteClassroomUser: { __typename: "DeleteClassroomUserSuccess" } });
    const lines = server.logs.slice(before);
    const audits = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.audit === true);
    const userId = tokens[0]!.user.userId;
    expect(audits).toMatchObject([
      { event: "token.issued", operation: "issueClassroomUserToken", source: "lcic", lcicAction: "LoginUser", userId, originId: "log-4", actor: "ip:127.0.0.1" },
      { event: "token.issued", operation: "issueClassroomUserToken", source: "stored", userId, originId: "log-4", actor: "ip:127.0.0.1" },
      { event: "user.deleted", operation: "deleteClassroomUser", userId, originId: "log-4", sdkAppId: 1400000001, actor: "ip:127.0.0.1" },
    ]);
    const text = lines.join("\n");
    for (const t of tokens) expect(text).not.toContain(t.token);
  });

  it("an unexpected error is masked for the client and logged with its cause", async () => {
    // Break the database under a running server: drop the table.
    await deadDb.db.sql`drop table classroom_users`;
    const res = await deadDb.gql(`query { classroomUser(originId: "x") { __typename } }`);
    expect(res.errors?.[0]?.message).toBe("Unexpected error.");
    expect(JSON.stringify(res)).not.toMatch(/classroom_users|relation/);
    const logged = deadDb.logs.map((l) => JSON.parse(l) as { level: number; msg: string; err?: unknown });
    const errors = logged.filter((l) => l.level >= 50);
    expect(errors.length).toBeGreaterThan(0);
    expect(JSON.stringify(errors)).toMatch(/classroom_users/);
  });
});
