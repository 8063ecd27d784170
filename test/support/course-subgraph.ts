/**
 * A test-only second subgraph: courses that refer to classroom users owned by the classroom-users
 * subgraph by the only id the course platform knows, its own student id, i.e. the
 * `sdkAppId originId` key. It declares that key only (resolvable: false: it adds no fields).
 *
 * Why not mix keys in one list: federation query planners (Apollo's and Hive's) send all references of
 * one field through one key, so a list whose items carry different keys cannot be planned. Referring
 * by `userId` from a second field needs `@external` + `@provides` on the stub; both composers accept
 * that, but Hive Gateway 2.x overflowed its stack planning `students { userId }` through it (tried and
 * recorded in docs/supergraph.md), so references by `userId` are proven against `_entities` directly.
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
