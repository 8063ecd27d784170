import { printSubgraphSchema } from "@apollo/subgraph";
import type { GraphQLSchema } from "graphql";
import { builder } from "./builder.js";
import "./errors.js";
import "./classroom-user.js";

export type { GraphQLContext } from "./builder.js";

/** The Federation version this subgraph links (`@link(url: …)`); composition needs at least 2.3 for `@interfaceObject`-free entities with several keys, and 2.6 is what the gateways tested here support. */
export const FEDERATION_LINK_URL = "https://specs.apollo.dev/federation/v2.6";

let schema: GraphQLSchema | undefined;

/**
 * The subgraph schema (Apollo Federation v2: `_service`, `_entities`, `@link`, `@key` …), built once
 * per process (building is not free and the schema never changes).
 */
export function buildSchema(): GraphQLSchema {
  schema ??= builder.toSubGraphSchema({
    linkUrl: FEDERATION_LINK_URL,
    // Listed rather than inferred, so the `@link` import (part of the contract) changes only on purpose.
    federationDirectives: ["@key", "@shareable", "@tag"],
  });
  return schema;
}

/**
 * The subgraph SDL, federation directives included: what `_service { sdl }` returns and what
 * `schema.graphql` holds. Types sorted by name.
 */
export function printSchemaSDL(): string {
  return printSubgraphSchema(buildSchema());
}
