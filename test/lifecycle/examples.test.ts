// GraphiQL's example operations are valid against the schema and run, in order, on a fresh server.
import { parse, validate } from "graphql";
import { afterAll, expect, it } from "vitest";
import { buildSchema } from "../../src/schema/index.js";
import { EXAMPLE_OPERATIONS } from "../../src/server.js";
import { startTestServer } from "../support/server.js";

const server = await startTestServer();
afterAll(() => server.close());

it("every example operation validates and runs without an error member", async () => {
  const document = parse(EXAMPLE_OPERATIONS);
  expect(validate(buildSchema(), document)).toEqual([]);
  const names = document.definitions.map((d) => ("name" in d ? d.name?.value : undefined));
  expect(names).toEqual(["Register", "Enrol", "FindUser", "IssueToken", "Rename", "ListUsers", "Remove"]);
  for (const operationName of names) {
    const res = await server.post(JSON.stringify({ query: EXAMPLE_OPERATIONS, operationName }));
    const body = (await res.json()) as { data: Record<string, { __typename: string }>; errors?: unknown };
    expect(body.errors).toBeUndefined();
    expect(Object.values(body.data)[0]!.__typename).toMatch(/Success$|^ClassroomUser|Token$|Connection$/);
  }
  // Remove erased the one registered first; the two enrolled stay.
  expect((await server.rows()).map((row) => [row.origin_id, row.status])).toEqual([
    ["student-43", "registered"],
    ["student-44", "registered"],
  ]);
});
