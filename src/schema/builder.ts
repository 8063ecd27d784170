import SchemaBuilder from "@pothos/core";
import ErrorsPlugin from "@pothos/plugin-errors";
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
  plugins: [ErrorsPlugin],
  defaultFieldNullability: false,
  errors: { directResult: true },
});

builder.addScalarType("DateTime", DateTimeResolver, {
  description: "An instant in time, as an RFC 3339 string in UTC, e.g. 2026-11-25T09:00:00.000Z.",
});
