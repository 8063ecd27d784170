/**
 * This subgraph in a real supergraph: composed with a test-only Course subgraph by both composers,
 * served by Hive Gateway's runtime, both subgraphs on real ports.
 */
import { randomBytes } from "node:crypto";
import { composeServices as composeWithApollo } from "@apollo/composition";
import { createGatewayRuntime, type GatewayRuntime } from "@graphql-hive/gateway-runtime";
import { composeServices } from "@theguild/federation-composition";
import { parse } from "graphql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp, type App } from "../src/app.js";
import { loadConfig } from "../src/config.js";
import { laneEnv } from "./support/lane.js";
import { createLogger } from "../src/logger.js";
import { printSchemaSDL } from "../src/schema/index.js";
import { startCourseSubgraph, type CourseSubgraph, type TestCourse } from "./support/course-subgraph.js";
import { createTestDatabase } from "./support/database.js";
import { startTestLcic, type TestLcic } from "./support/lcic.js";

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let lcic: TestLcic;
let app: App;
let courses: CourseSubgraph;
let gateway: GatewayRuntime;
let supergraphSdl: string;
const queries: string[] = [];
const courseData: TestCourse[] = [];
let sdkAppId: number;
let stored: Array<{ userId: string | null; originId: string; name: string | null }>;

async function viaGateway(query: string, variables?: Record<string, unknown>) {
  const response = await gateway.fetch("http://gateway.test/graphql", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query, variables }),
  });
  expect(response.status).toBe(200);
  return (await response.json()) as { data?: any; errors?: Array<{ message: string }> };
}

/** Statements that read classroom users (the pool also sees nothing else during a gateway query). */
const userReads = () => queries.filter((q) => /^\s*select/i.test(q) && q.includes('"classroom_users"'));

beforeAll(async () => {
  [db, lcic] = await Promise.all([createTestDatabase(), startTestLcic()]);
  sdkAppId = lcic.emulator.sdkAppIds[0]!;
  app = createApp({
    config: loadConfig({ LCIC_SDK_APP_ID: String(sdkAppId), ...laneEnv() }),
    logger: createLogger({ level: process.env.TEST_LOG ?? "silent" }),
    databaseUrl: db.url,
    lcic: lcic.client,
    tokenKeys: [randomBytes(32)],
    onQuery: (q) => queries.push(q),
  });
  const { url: usersUrl } = await app.server.listen(0, "127.0.0.1");

  // Twelve students stored here, and one student LCIC knows but this service does not.
  // One at a time: each registration holds a pooled connection for its advisory lock.
  const students = [];
  for (let i = 0; i < 12; i++) students.push(await app.users.register({ originId: `student-${i}`, name: `Student ${i}` }));
  stored = students.map((s) => s.user);
  await lcic.client.registerUser({ sdkAppId, originId: "lcic-only", name: "Registered Elsewhere" });
  courseData.push(
    {
      id: "algebra",
      title: "Algebra",
      students: students.slice(0, 12).map((s) => ({ sdkAppId, originId: s.user.originId })),
    },
    {
      id: "history",
      title: "History",
      students: [
        { sdkAppId, originId: "student-0" },
        { sdkAppId, originId: "lcic-only" },
        { sdkAppId, originId: "nobody-anywhere" },
      ],
    },
  );
  courses = await startCourseSubgraph(courseData);

  const services = [
    { name: "classroom-users", typeDefs: parse(printSchemaSDL()), url: `${usersUrl}/graphql` },
    { name: "courses", typeDefs: courses.typeDefs, url: courses.url },
  ];
  const composed = composeServices(services);
  expect(composed.errors ?? []).toEqual([]);
  supergraphSdl = composed.supergraphSdl!;
  const apollo = composeWithApollo(services);
  expect(apollo.errors ?? []).toEqual([]);
  gateway = createGatewayRuntime({ supergraph: supergraphSdl, logging: process.env.TEST_LOG ? "debug" : false });
});

afterAll(async () => {
  await gateway?.dispose();
  await courses?.close();
  await app?.close(100);
  await lcic?.close();
  await db?.close();
});

describe("supergraph", () => {
  it("composes with both composers and carries both keys of ClassroomUser", () => {
    expect(supergraphSdl).toContain('@join__type(graph: CLASSROOM_USERS, key: "userId")');
    expect(supergraphSdl).toContain('@join__type(graph: CLASSROOM_USERS, key: "sdkAppId originId")');
  });

  it("resolves courses { title students { userId name originId } }, students referenced by (sdkAppId, originId)", async () => {
    const result = await viaGateway(`{ courses { title students { userId name originId } } }`);
    // History's third student is a reference nobody knows: it has no userId, and `userId: ID!` nulls the whole answer.
    expect(result.errors?.map((e: any) => e.path)).toEqual([["courses", 1, "students", 2, "userId"]]);
    const saved = courseData.splice(1);
    const algebraOnly = await viaGateway(`{ courses { title students { userId name originId } } }`).finally(() => courseData.push(...saved));
    expect(algebraOnly.errors).toBeUndefined();
    const [algebra] = algebraOnly.data.courses;
    expect(algebra.title).toBe("Algebra");
    expect(algebra.students).toEqual(stored.map((u) => ({ userId: u.userId, name: u.name, originId: u.originId })));
  });

  it("batches: the gateway's one _entities request for twelve students costs one SQL query", async () => {
    const saved = courseData.splice(1);
    try {
      const before = courses.requests;
      queries.length = 0;
      const result = await viaGateway(`{ courses { title students { userId name originId } } }`);
      expect(result.errors).toBeUndefined();
      expect(result.data.courses).toHaveLength(1);
      expect(result.data.courses[0].students).toHaveLength(12);
      expect(courses.requests - before).toBe(1);
      expect(userReads()).toHaveLength(1);
    } finally {
      courseData.push(...saved);
    }
  });

  it("looks a reference to a user not stored here up in LCIC; one nobody knows gets no fields from here", async () => {
    const result = await viaGateway(`{ courses { title students { originId name } } }`);
    const history = result.data.courses.find((c: any) => c.title === "History");
    expect(history.students).toEqual([
      { originId: "student-0", name: "Student 0" },
      { originId: "lcic-only", name: "Registered Elsewhere" },
      // The reference resolves to null here; the gateway keeps the fields the courses subgraph gave.
      { originId: "nobody-anywhere", name: null },
    ]);
    // Looked up in LCIC once, then stored: the next reference to it is a database hit.
    expect((await app.db.db.query.classroomUsers.findFirst({ where: (t, { eq }) => eq(t.originId, "lcic-only") }))?.status).toBe("registered");
  });

  it("runs registerClassroomUser through the gateway and returns the union result", async () => {
    const mutation = `mutation ($input: RegisterClassroomUserInput!) {
      registerClassroomUser(input: $input) {
        __typename
        ... on RegisterClassroomUserSuccess { created user { originId name sdkAppId } }
        ... on ValidationError { fieldErrors { path message } }
        ... on Error { code message }
      }
    }`;
    const ok = await viaGateway(mutation, { input: { originId: "via-gateway", name: "Through The Gateway" } });
    expect(ok.errors).toBeUndefined();
    expect(ok.data.registerClassroomUser).toEqual({
      __typename: "RegisterClassroomUserSuccess",
      created: true,
      user: { originId: "via-gateway", name: "Through The Gateway", sdkAppId },
    });
    const invalid = await viaGateway(mutation, { input: { originId: "  padded  " } });
    expect(invalid.errors).toBeUndefined();
    expect(invalid.data.registerClassroomUser).toMatchObject({ __typename: "ValidationError", code: "ValidationFailed" });
    expect(invalid.data.registerClassroomUser.fieldErrors[0].path).toEqual(["input", "originId"]);
  });

  it("composes beside another subgraph that defines PageInfo too (it is @shareable)", () => {
    const other = parse(`
      extend schema @link(url: "https://specs.apollo.dev/federation/v2.6", import: ["@shareable"])
      type PageInfo @shareable { hasNextPage: Boolean! endCursor: String }
      type LessonConnection { pageInfo: PageInfo! }
      type Query { lessons: LessonConnection! }
    `);
    const services = [
      { name: "classroom-users", typeDefs: parse(printSchemaSDL()), url: "http://users.test/graphql" },
      { name: "lessons", typeDefs: other, url: "http://lessons.test/graphql" },
    ];
    expect(composeServices(services).errors ?? []).toEqual([]);
    expect(composeWithApollo(services).errors ?? []).toEqual([]);
  });

  it("pages classroomUsers through the gateway (PageInfo is shareable, token keeps its credential tag)", async () => {
    expect(supergraphSdl).toMatch(/type PageInfo[^{]*@join__type\(graph: CLASSROOM_USERS\)/);
    expect(supergraphSdl).toMatch(/token: String! @join__field\(graph: CLASSROOM_USERS\) @tag\(name: "credential"\)|token: String! @tag\(name: "credential"\)/);
    const query = `query ($after: String) {
      classroomUsers(first: 5, after: $after, filter: { originIdPrefix: "student-" }) {
        __typename
        ... on ClassroomUserConnection { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { originId name } } }
        ... on Error { code message }
      }
    }`;
    const seen: string[] = [];
    let after: string | null = null;
    for (;;) {
      const result = await viaGateway(query, { after });
      expect(result.errors).toBeUndefined();
      const page = result.data.classroomUsers;
      expect(page).toMatchObject({ __typename: "ClassroomUserConnection", totalCount: 12 });
      seen.push(...page.edges.map((e: any) => e.node.originId));
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
    }
    expect(seen).toEqual(stored.map((u) => u.originId));
  });

  it("a reference to a deleted user resolves to null, without asking LCIC", async () => {
    const deleted = await viaGateway(`mutation { deleteClassroomUser(input: { originId: "student-11" }) { __typename ... on DeleteClassroomUserSuccess { originId } ... on Error { code message } } }`);
    expect(deleted.data.deleteClassroomUser).toEqual({ __typename: "DeleteClassroomUserSuccess", originId: "student-11" });
    const saved = courseData.splice(1);
    try {
      lcic.emulator.resetCounters();
      const result = await viaGateway(`{ courses { title students { originId name } } }`);
      expect(result.errors).toBeUndefined();
      const students = result.data.courses[0].students;
      expect(students[10]).toEqual({ originId: "student-10", name: "Student 10" });
      // Null from here: the gateway keeps only what the courses subgraph gave.
      expect(students[11]).toEqual({ originId: "student-11", name: null });
      expect(Object.values(lcic.emulator.counters()).reduce((n, c) => n + c.calls, 0)).toBe(0);
    } finally {
      courseData.push(...saved);
    }
  });
});
