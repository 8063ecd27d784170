// graphql-jit runs query operations only after graphql-js accepts their variables; everything else
// (invalid variables, mutations) goes to yoga's normal executor. Clients must see the same answers.
import { createYoga } from "graphql-yoga";
import { describe, expect, it } from "vitest";
import { buildSchema } from "../src/schema/index.js";
import { jitExecution } from "../src/schema/jit.js";

const ran: string[] = [];
const plain = createYoga({ schema: buildSchema(), maskedErrors: true, logging: false });
const jitted = createYoga({ schema: buildSchema(), maskedErrors: true, logging: false, plugins: [jitExecution({ onExecute: (executor) => ran.push(executor) })] });

async function answer(yoga: typeof plain, body: unknown, accept = "application/json") {
  const res = await yoga.fetch("http://localhost/graphql", { method: "POST", headers: { "content-type": "application/json", accept }, body: JSON.stringify(body) });
  return { status: res.status, contentType: res.headers.get("content-type"), body: await res.text() };
}

const SDL = "query Sdl($withSdl: Boolean!) { _service @include(if: $withSdl) { sdl } __typename }";
const cases: Array<{ name: string; body: unknown; executor: string | undefined }> = [
  { name: "a query without variables", body: { query: "{ __typename _service { sdl } }" }, executor: "jit" },
  { name: "valid variables", body: { query: SDL, variables: { withSdl: true } }, executor: "jit" },
  { name: "valid variables, skipping a field", body: { query: SDL, variables: { withSdl: false } }, executor: "jit" },
  { name: "a variable of the wrong type", body: { query: SDL, variables: { withSdl: "yes" } }, executor: "graphql-tools" },
  { name: "a missing required variable", body: { query: SDL, variables: {} }, executor: "graphql-tools" },
  { name: "an unknown argument value in a nested input", body: { query: "query($r: [_Any!]!) { _entities(representations: $r) { __typename } }", variables: { r: null } }, executor: "graphql-tools" },
  { name: "a mutation", body: { query: "mutation { __typename }" }, executor: "graphql-tools" },
  { name: "a validation error (never executed)", body: { query: "{ nope }" }, executor: undefined },
];

describe("graphql-jit execution", () => {
  for (const { name, body, executor } of cases) {
    for (const accept of ["application/json", "application/graphql-response+json"]) {
      it(`${name} (${accept}): the same status, type and body as the normal executor, run by ${executor ?? "neither"}`, async () => {
        ran.length = 0;
        const jit = await answer(jitted, body, accept);
        expect(ran).toEqual(executor ? [executor] : []);
        expect(jit).toStrictEqual(await answer(plain, body, accept));
      });
    }
  }
});
