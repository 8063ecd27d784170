// classroomUsers end to end: keyset pages, opaque cursors, filters, totalCount; PostgreSQL only.
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { APP, register, startTestServer } from "../support/server.js";
import { lcicCalls, list, remove } from "./support.js";

const OTHER_APP = 1400000002;
const server = await startTestServer({
  emulatorOptions: { sdkAppIds: [APP, OTHER_APP], rateLimits: { RegisterUser: 0, BatchRegister: 0, DeleteUser: 0, LoginOriginId: 0 } },
  configEnv: { LCIC_SDK_APP_IDS: `${APP},${OTHER_APP}` },
});
afterAll(() => server.close());
beforeEach(async () => {
  server.emulator.reset();
  await server.db.sql`truncate classroom_users, classroom_user_tombstones`;
});

/** Stores `n` users straight into PostgreSQL (listing never calls LCIC, so they need no LCIC user). */
async function seed(n: number, prefix = "s", sdkAppId = APP) {
  const rows = Array.from({ length: n }, (_, i) => ({
    sdk_app_id: sdkAppId,
    origin_id: `${prefix}-${String(i).padStart(4, "0")}`,
    user_id: `${prefix}-${sdkAppId}-${i}`,
    name: i % 2 === 0 ? `Even ${i}` : `Odd ${i}`,
    status: "registered",
  }));
  await server.db.sql`insert into classroom_users ${server.db.sql(rows)}`;
}

async function walk(args: Record<string, unknown>, between?: (page: number) => Promise<void>) {
  const seen: string[] = [];
  let after: string | null = null;
  for (let page = 0; ; page++) {
    const r = await list(server, { ...args, after });
    expect(r.__typename).toBe("ClassroomUserConnection");
    seen.push(...r.edges.map((e: { node: { originId: string } }) => e.node.originId));
    if (!r.pageInfo.hasNextPage) return seen;
    after = r.pageInfo.endCursor;
    await between?.(page);
  }
}

describe("classroomUsers", () => {
  it("pages through an application's registered users, oldest first, with totalCount and cursors", async () => {
    await seed(7);
    await seed(3, "other", OTHER_APP);
    await server.db.sql`insert into classroom_users (sdk_app_id, origin_id, status) values (${APP}, 'pending-one', 'pending')`;
    const first = await list(server, { first: 3 });
    expect(first.totalCount).toBe(7);
    expect(first.edges.map((e: { node: { originId: string } }) => e.node.originId)).toEqual(["s-0000", "s-0001", "s-0002"]);
    expect(first.pageInfo).toEqual({ hasNextPage: true, endCursor: first.edges[2].cursor });
    // Opaque: nothing that reads as an id or an offset.
    expect(first.pageInfo.endCursor).not.toMatch(/^\d+$/);
    expect(await walk({ first: 3 })).toEqual(Array.from({ length: 7 }, (_, i) => `s-${String(i).padStart(4, "0")}`));
    const last = await list(server, { first: 7 });
    expect(last.pageInfo.hasNextPage).toBe(false);
    expect((await list(server, { first: 3, after: last.pageInfo.endCursor })).edges).toEqual([]);
    expect(await walk({ sdkAppId: OTHER_APP, first: 2 })).toEqual(["other-0000", "other-0001", "other-0002"]);
    expect(lcicCalls(server)).toEqual({});
  });

  it("the page query's shape is served by classroom_users_listing_idx (keyset on id within the application)", async () => {
    await seed(20);
    const plan = await server.db.sql.begin(async (tx) => {
      await tx`set local enable_seqscan = off`;
      return tx.unsafe(
        `explain select * from classroom_users where sdk_app_id = ${APP} and status = 'registered' and id > 5 order by id limit 3`,
      );
    });
    expect(plan.map((r) => String(Object.values(r)[0])).join("\n")).toContain("classroom_users_listing_idx");
  });

  it("filters: originIdPrefix (literal, % and _ included), nameContains (any case), updatedSince; totalCount follows the filter", async () => {
    await seed(6);
    await seed(2, "x_%");
    expect((await list(server, { filter: { originIdPrefix: "x_%" } })).totalCount).toBe(2);
    expect((await list(server, { filter: { originIdPrefix: "x_" } })).totalCount).toBe(2);
    expect((await list(server, { filter: { originIdPrefix: "s-000" } })).totalCount).toBe(6);
    const odd = await list(server, { filter: { nameContains: "ODD" } });
    expect(odd.totalCount).toBe(4);
    expect(odd.edges.map((e: { node: { name: string } }) => e.node.name)).toEqual(["Odd 1", "Odd 3", "Odd 5", "Odd 1"]);
    const since = new Date(Date.now() + 60_000).toISOString();
    await server.db.sql`update classroom_users set updated_at = now() + interval '2 minutes' where origin_id = 's-0003'`;
    const recent = await list(server, { filter: { updatedSince: since } });
    expect(recent.edges.map((e: { node: { originId: string } }) => e.node.originId)).toEqual(["s-0003"]);
    expect(await walk({ first: 1, filter: { nameContains: "even", originIdPrefix: "s-" } })).toEqual(["s-0000", "s-0002", "s-0004"]);
  });

  it.each([
    ["first 0", { first: 0 }, "first"],
    ["first 501", { first: 501 }, "first"],
    ["a made-up cursor", { after: "bm90LWEtY3Vyc29y" }, "after"],
    ["another application's cursor", { sdkAppId: OTHER_APP, after: "__APP_CURSOR__" }, "after"],
  ])("%s: ValidationError", async (_label, args, path) => {
    await seed(2);
    const cursor = (await list(server, { first: 1 })).pageInfo.endCursor;
    const given = args as Record<string, unknown>;
    const r = await list(server, { ...given, ...(given.after === "__APP_CURSOR__" ? { after: cursor } : {}) });
    expect(r.__typename).toBe("ValidationError");
    expect(r.fieldErrors.map((e: { path: string[] }) => e.path.join("."))).toEqual([path]);
  });

  it("first written as a literal (as in GraphiQL) pages like a variable: 500 is served, 0 and 501 are the ValidationError member", async () => {
    await seed(120);
    const literal = async (first: number) => {
      const query = `{ classroomUsers(first: ${first}) { __typename
        ... on ClassroomUserConnection { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { userId originId name avatar sdkAppId createdAt updatedAt } } }
        ... on ValidationError { code fieldErrors { path message } } } }`;
      const res = await server.post(JSON.stringify({ query }));
      const body = (await res.json()) as { data?: { classroomUsers: any }; errors?: unknown };
      expect(body.errors).toBeUndefined();
      expect(res.status).toBe(200);
      return body.data!.classroomUsers;
    };
    const page = await literal(500);
    expect(page).toMatchObject({ __typename: "ClassroomUserConnection", totalCount: 120, pageInfo: { hasNextPage: false } });
    expect(page.edges).toHaveLength(120);
    expect((await literal(100)).edges).toHaveLength(100);
    for (const first of [0, 501]) {
      expect(await literal(first)).toEqual({ __typename: "ValidationError", code: "ValidationFailed", fieldErrors: [{ path: ["first"], message: "must be between 1 and 500" }] });
    }
  });

  it("an application not served: InvalidSdkAppIdError", async () => {
    expect(await list(server, { sdkAppId: 999 })).toMatchObject({ __typename: "InvalidSdkAppIdError", sdkAppId: 999 });
  });

  it("while users are registered and deleted between pages, everyone present for the whole walk is seen exactly once", async () => {
    // Real users (deleting goes to LCIC); a share of them are deleted during the walk.
    const users = await Promise.all(Array.from({ length: 30 }, (_, i) => register(server, { originId: `w-${String(i).padStart(2, "0")}` })));
    const doomed = new Set(users.filter((_, i) => i % 4 === 1).map((u) => u.user.originId as string));
    const stay = users.map((u) => u.user.originId as string).filter((o) => !doomed.has(o));
    const toDelete = [...doomed];
    let added = 0;
    const seen = await walk({ first: 4, filter: { originIdPrefix: "w-" } }, async () => {
      // Between pages: delete two (some already seen, some ahead), register two new ones concurrently.
      await Promise.all([
        ...toDelete.splice(0, 2).map((originId) => remove(server, { originId })),
        register(server, { originId: `w-new-${added++}` }),
        register(server, { originId: `w-new-${added++}` }),
      ]);
    });
    expect(new Set(seen).size).toBe(seen.length);
    for (const originId of stay) expect(seen).toContain(originId);
  });
});
