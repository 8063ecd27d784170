import { lexicographicSortSchema, printSchema, type GraphQLSchema } from "graphql";
import { builder } from "./builder.js";
import "./errors.js";
import "./classroom-user.js";

export type { GraphQLContext } from "./builder.js";

let schema: GraphQLSchema | undefined;

/** The schema, built once per process (building is not free and the schema never changes). */
export function buildSchema(): GraphQLSchema {
  schema ??= builder.toSchema();
  return schema;
}

export function printSchemaSDL(): string {
  return printSchema(lexicographicSortSchema(buildSchema()));
}
