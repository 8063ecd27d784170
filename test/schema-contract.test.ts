/** The committed schema.graphql is the contract: the code must match it, and schema:check must see breaks. */
import { readFileSync } from "node:fs";
import { graphql } from "graphql";
import { describe, expect, it } from "vitest";
import { diffSubgraphSDL } from "../src/schema/contract.js";
import { buildSchema, printSchemaSDL } from "../src/schema/index.js";

const committed = readFileSync(new URL("../schema.graphql", import.meta.url), "utf8");

describe("schema contract", () => {
  it("schema.graphql is what the code builds (run `npm run schema:print` after a deliberate change)", () => {
    expect(`${printSchemaSDL()}\n`).toBe(committed);
  });

  it("_service { sdl } serves the same SDL, with the @link import and both keys", async () => {
    const result = await graphql({ schema: buildSchema(), source: "{ _service { sdl } }" });
    expect(result.errors).toBeUndefined();
    const sdl = (result.data as { _service: { sdl: string } })._service.sdl;
    expect(`${sdl}\n`).toBe(committed);
    expect(sdl).toContain('@link(url: "https://specs.apollo.dev/federation/v2.6", import: ["@key", "@shareable", "@tag", "@authenticated"])');
    expect(sdl).toMatch(/registerClassroomUser\(input: RegisterClassroomUserInput!\): RegisterClassroomUserResult! @authenticated/);
    expect(sdl).toMatch(/type ClassroomUser\s+@key\(fields: "userId"\)\s+@key\(fields: "sdkAppId originId"\)/);
  });

  it("reports a removed field as breaking and a new union member as dangerous", async () => {
    const removed = committed.replace(/\n\s+"""URL of the user's avatar image\."""\n\s+avatar: String\n/, "\n");
    expect(removed).not.toBe(committed);
    const dropped = await diffSubgraphSDL(committed, removed);
    expect(dropped.breaking.map((c) => c.path)).toEqual(["ClassroomUser.avatar"]);

    const widened = committed.replace("union ClassroomUserResult = ", "union ClassroomUserResult = OriginIdExistsError | ");
    const added = await diffSubgraphSDL(committed, widened);
    expect(added.breaking).toEqual([]);
    expect(added.dangerous.map((c) => c.path)).toEqual(["ClassroomUserResult"]);
  });

  it("reports dropping an entity key (a federation directive) as a change", async () => {
    const oneKey = committed.replace('\n  @key(fields: "sdkAppId originId")', "");
    expect(oneKey).not.toBe(committed);
    const changes = await diffSubgraphSDL(committed, oneKey);
    expect([...changes.breaking, ...changes.dangerous, ...changes.safe].map((c) => c.message).join("\n")).toMatch(/key/);
  });
});
