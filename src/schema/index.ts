import { printSubgraphSchema } from "@apollo/subgraph";
import type { GraphQLSchema } from "graphql";
import { builder } from "./builder.js";
// Each file adds its types and fields to the one builder; importing them builds the schema.
import "./errors.js";
import "./classroom-user.js";
import "./register.js";
import "./lookup.js";
import "./bulk-register.js";
import "./lifecycle.js";
import "./token.js";
import "./list.js";

export type { GraphQLContext } from "./builder.js";

/** The Federation spec this subgraph links (`@link(url: …)`): the plugin's default, accepted by both composers and Hive Gateway in test/supergraph.test.ts. */
export const FEDERATION_LINK_URL = "https://specs.apollo.dev/federation/v2.6";

let schema: GraphQLSchema | undefined;

/**
 * The subgraph schema (Apollo Federation v2: `_service`, `_entities`, `@link`, `@key` …), built once
 * per process (building is not free and the schema never changes).
 */
export function buildSchema(): GraphQLSchema {
  schema ??= buildSeparateSchema();
  return schema;
}

/**
 * Another instance of the same schema (its own type, field and resolver objects), for a server whose
 * plugins must not see another's changes: a plugin may wrap the resolvers of the schema it is given.
 */
export function buildSeparateSchema(): GraphQLSchema {
  return builder.toSubGraphSchema({
    linkUrl: FEDERATION_LINK_URL,
    // Listed rather than inferred, so the `@link` import (part of the contract) changes only on purpose.
    federationDirectives: ["@key", "@shareable", "@tag", "@authenticated"],
  });
}

/**
 * The subgraph SDL, federation directives included: what `_service { sdl }` returns and what
 * `schema.graphql` holds. Types sorted by name.
 */
export function printSchemaSDL(): string {
  return printSubgraphSchema(buildSchema());
}
