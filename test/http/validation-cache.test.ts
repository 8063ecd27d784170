/**
 * validationCache() (src/http/validation-cache.ts): a document is validated once per schema, and a
 * cached answer (valid or not) is the same as a fresh one.
 */
import { buildSchema as buildSdl, type ValidationContext } from "graphql";
import { createYoga, type Plugin } from "graphql-yoga";
import { describe, expect, it } from "vitest";
import { validationCache } from "../../src/http/validation-cache.js";

const SDL = "type Query { hello: String, other: Int }";

function server(schema = buildSdl(SDL)) {
  let validations = 0;
  // A new rule closure on every request, as GraphQL Armor adds them: counts real validations.
  const counting: Plugin = {
    onValidate: ({ addValidationRule }) =>
      addValidationRule((_context: ValidationContext) => {
        validations++;
        return {};
      }),
  };
  const yoga = createYoga({ schema, plugins: [validationCache(), counting], parserAndValidationCache: { validationCache: false }, logging: false });
  const post = async (query: string) => {
    const res = await yoga.fetch("http://localhost/graphql", { method: "POST", headers: { "content-type": "application/json", accept: "application/graphql-response+json" }, body: JSON.stringify({ query }) });
    return { status: res.status, body: await res.text() };
  };
  return { post, validations: () => validations, schema };
}

describe("validationCache", () => {
  it("validates a document once, then answers from the cache", async () => {
    const s = server();
    const first = await s.post("{ hello }");
    const second = await s.post("{ hello }");
    expect(second).toEqual(first);
    expect(first.status).toBe(200);
    expect(s.validations()).toBe(1);
    await s.post("{ other }");
    expect(s.validations()).toBe(2);
  });

  it("answers an invalid document with the same errors every time, validated once", async () => {
    const s = server();
    const first = await s.post("{ nope }");
    const second = await s.post("{ nope }");
    expect(first.status).toBe(400);
    expect(first.body).toContain('Cannot query field \\"nope\\" on type \\"Query\\"');
    expect(second).toEqual(first);
    expect(s.validations()).toBe(1);
  });

  it("keeps results apart per schema", async () => {
    const plugin = validationCache();
    const a = createYoga({ schema: buildSdl(SDL), plugins: [plugin], parserAndValidationCache: { validationCache: false }, logging: false });
    const b = createYoga({ schema: buildSdl("type Query { hello: String }"), plugins: [plugin], parserAndValidationCache: { validationCache: false }, logging: false });
    const post = async (yoga: typeof a, query: string) =>
      (await yoga.fetch("http://localhost/graphql", { method: "POST", headers: { "content-type": "application/json", accept: "application/graphql-response+json" }, body: JSON.stringify({ query }) })).status;
    expect(await post(a, "{ other }")).toBe(200);
    expect(await post(b, "{ other }")).toBe(400);
    expect(await post(a, "{ other }")).toBe(200);
  });
});
