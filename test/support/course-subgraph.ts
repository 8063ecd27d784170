/**
 * A test-only second subgraph: courses that refer to classroom users owned by the classroom-users
 * subgraph by the only id the course platform knows, its own student id, i.e. the
 * `sdkAppId originId` key. It declares that key only (resolvable: false: it adds no fields).
 *
 * Why one list cannot mix keys (tried against Hive Gateway 2.12 with both composers' supergraphs):
 * - Both keys on the stub, `resolvable: false`, key fields nullable (not `@external`): both composers
 *   accept it (and make the supergraph's `ClassroomUser.userId`, `sdkAppId`, `originId` nullable). The
 *   gateway fetches `userId sdkAppId originId` from here, but splits the users subgraph into one
 *   entry point per key and picks one (`userId`) for the whole field; a representation carries that
 *   key's fields only, and items whose key is null are dropped, so the students referred to by
 *   (sdkAppId, originId) get `name: null` and never reach `_entities`. Same with either key first and
 *   with the origin key resolvable; declared non-null, the stub's key fields null the whole answer.
 * - `@external` key fields + `@provides` on the list: external fields must keep the owner's
 *   non-null types (nullable ones fail both composers), so every item must carry every provided
 *   field, which is exactly what a mixed list lacks (the courses subgraph itself then fails with
 *   "Cannot return null for non-nullable field"). With one field per key both composers accept it,
 *   but Hive Gateway 2.12 overflowed its stack planning `students { userId }` through the other
 *   key's field.
 * So references by `userId` are proven against `_entities` directly (test/entities.test.ts), and
 * this subgraph refers by one key. See the README, "One key per field".
 */
import { createServer, type Server } from "node:http";
import { buildSubgraphSchema } from "@apollo/subgraph";
import { parse, type DocumentNode } from "graphql";
import { createYoga } from "graphql-yoga";

export interface TestCourse {
  id: string;
  title: string;
  /** The course platform's own student ids (originIds in LCIC) within one LCIC application. */
  students: Array<{ sdkAppId: number; originId: string }>;
}

export const COURSE_SUBGRAPH_SDL = /* GraphQL */ `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.6", import: ["@key", "@shareable"])

  type Query {
    courses: [Course!]!
  }

  type Course @key(fields: "id") {
    id: ID!
    title: String!
    "Referenced by the course platform's own ids: the (sdkAppId, originId) key."
    students: [ClassroomUser!]!
  }

  type ClassroomUser @key(fields: "sdkAppId originId", resolvable: false) {
    sdkAppId: Int!
    originId: String!
  }

  "The same convention as the users subgraph's errors: composes because both declare it @shareable."
  type FieldError @shareable {
    path: [String!]!
    message: String!
  }
`;

export interface CourseSubgraph {
  url: string;
  typeDefs: DocumentNode;
  /** Requests this subgraph answered. */
  requests: number;
  close(): Promise<void>;
}

export async function startCourseSubgraph(courses: TestCourse[]): Promise<CourseSubgraph> {
  const typeDefs = parse(COURSE_SUBGRAPH_SDL);
  const schema = buildSubgraphSchema({
    typeDefs,
    resolvers: {
      Query: { courses: () => courses },
      Course: {
        students: (course: TestCourse) => course.students.map((s) => ({ __typename: "ClassroomUser", ...s })),
      },
    } as never,
  });
  const state = { requests: 0 };
  const yoga = createYoga({ schema, logging: false, maskedErrors: false });
  const http: Server = createServer((req, res) => {
    state.requests += 1;
    void yoga.requestListener(req, res);
  });
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  const address = http.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/graphql`,
    typeDefs,
    get requests() {
      return state.requests;
    },
    close: () =>
      new Promise<void>((resolve) => {
        http.closeAllConnections();
        http.close(() => resolve());
      }),
  };
}
