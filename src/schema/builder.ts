import SchemaBuilder from "@pothos/core";
import DirectivesPlugin from "@pothos/plugin-directives";
import ErrorsPlugin from "@pothos/plugin-errors";
import FederationPlugin from "@pothos/plugin-federation";
import { DateTimeResolver } from "graphql-scalars";
import type { UsersService } from "../users/service.js";

/** What every resolver receives. Built per request by server.ts. */
export interface GraphQLContext {
  users: UsersService;
}

export const builder = new SchemaBuilder<{
  Context: GraphQLContext;
  Scalars: { DateTime: { Input: Date; Output: Date } };
  DefaultFieldNullability: false;
}>({
  // Federation last: it reads the type and field configs the other plugins produce.
  plugins: [ErrorsPlugin, DirectivesPlugin, FederationPlugin],
  defaultFieldNullability: false,
  errors: { directResult: true },
});

builder.addScalarType("DateTime", DateTimeResolver, {
  description: "An instant in time, as an RFC 3339 string in UTC, e.g. 2026-11-25T09:00:00.000Z.",
});
