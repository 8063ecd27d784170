// Token warming during a big import: while the queue still holds half a scan's worth of users
// (1,000), a scan offers nothing (the users due first are those already queued; a roster import asks
// for a scan after every 1,000 users); once it has drained below that, a scan tops it up.
import { randomBytes } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { startTestServer } from "../support/server.js";

const REGISTER_MANY = /* GraphQL */ `
  mutation RegisterMany($input: RegisterClassroomUsersInput!) {
    registerClassroomUsers(input: $input) { __typename ... on RegisterClassroomUsersSuccess { createdCount } }
  }
`;

const server = await startTestServer({ configEnv: { TOKEN_WARMING: "true" }, tokenKeys: [randomBytes(32)] });
await server.app.tokenWarming!.ready;
afterAll(async () => {
  await server.db.sql`delete from pgboss.job where name = 'token-warming'`;
  await server.close();
});

const waiting = async () => (await server.db.sql<{ n: number }[]>`select count(*)::int as n from pgboss.job where name = 'token-warming' and state = 'created'`)[0]!.n;

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("token warming backlog", () => {
  it("a scan offers nothing while 1,000 users still wait in the queue, and tops it up once drained", { timeout: 40_000 }, async () => {
    for (let chunk = 0; chunk < 2; chunk++) {
      const users = Array.from({ length: chunk === 0 ? 1000 : 500 }, (_, i) => ({ originId: `b-${chunk}-${i}`, name: `Student ${i}` }));
      const r = (await server.gql(REGISTER_MANY, { input: { users } })).data!.registerClassroomUsers;
      expect(r).toMatchObject({ __typename: "RegisterClassroomUsersSuccess", createdCount: users.length });
    }
    // The scans each bulk request asked for have queued every new user (LoginUser works through them at 20 a second).
    await waitFor(async () => (await waiting()) >= 1300);
    await new Promise((r) => setTimeout(r, 1200)); // past the scan gap: no scan of theirs still pending
    expect(await server.app.tokenWarming!.scan()).toBe(0);

    // Drained (here: emptied by hand): the next scan offers the due users again.
    await server.db.sql`delete from pgboss.job where name = 'token-warming' and state = 'created'`;
    const offered = await server.app.tokenWarming!.scan();
    expect(offered).toBeGreaterThan(1000);
    expect(await waiting()).toBeGreaterThan(1000);
  });
});
