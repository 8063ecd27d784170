import SchemaBuilder from "@pothos/core";
import DirectivesPlugin from "@pothos/plugin-directives";
import ErrorsPlugin from "@pothos/plugin-errors";
import FederationPlugin from "@pothos/plugin-federation";
import ScopeAuthPlugin from "@pothos/plugin-scope-auth";
import { GraphQLError } from "graphql";
import { DateTimeResolver } from "graphql-scalars";
import type { Principal } from "../auth/jwt.js";
import { canDelete, canManage, canRead, canRegister, type ReadTarget, type RegisterTarget, type RuleConfig } from "../auth/rules.js";
import type { RegistrationLimiter } from "../limits/registration-limiter.js";
import type { BulkRegistration } from "../users/bulk-registration.js";
import type { UsersService } from "../users/service.js";

/** What every resolver receives. Built per request by server.ts. */
export interface GraphQLContext {
  users: UsersService;
  /** `registerClassroomUsers`. */
  bulkRegistration: BulkRegistration;
  /** The authenticated caller (in AUTH_MODE=none: the anonymous principal holding every scope). */
  principal: Principal;
  /** Scope names and the default application the rules compare with. */
  auth: RuleConfig;
  /** Who is counted by the registration rate limit: `sub:<subject>` or `ip:<address>`. */
  clientKey: string;
  registrationLimiter: RegistrationLimiter;
}

export const builder = new SchemaBuilder<{
  Context: GraphQLContext;
  Scalars: { DateTime: { Input: Date; Output: Date } };
  DefaultFieldNullability: false;
  AuthScopes: {
    /** May register the user with this originId (the register scope, or self-service). */
    register: RegisterTarget;
    /** May read the user identified so (the read scope, or self-service). */
    read: ReadTarget;
    /** May read every user, e.g. list them (the read scope only). */
    readAny: boolean;
    /** May change the user identified so or take a token for them (the register scope, or self-service). */
    manage: ReadTarget;
    /** May delete users (the delete scope only). */
    delete: boolean;
  };
}>({
  // scope-auth first: its check must run before the errors plugin's wrapper and the resolver.
  // Federation last: it reads the type and field configs the other plugins produce.
  plugins: [ScopeAuthPlugin, ErrorsPlugin, DirectivesPlugin, FederationPlugin],
  defaultFieldNullability: false,
  errors: { directResult: true },
  scopeAuth: {
    // A failed check is an error of the operation, never a member of the result unions.
    unauthorizedError: () => forbidden(),
    // A scope loader that throws (e.g. the database is down) fails the field with a masked error.
    treatErrorsAsUnauthorized: false,
    authScopes: (ctx) => ({
      register: (target) => canRegister(ctx.principal, target, ctx.auth),
      read: (target) => canRead(ctx.principal, target, ctx.auth),
      readAny: () => ctx.principal.scopes.has(ctx.auth.scopes.read),
      manage: (target) => canManage(ctx.principal, target, ctx.auth),
      delete: () => canDelete(ctx.principal, ctx.auth),
    }),
  },
});

/** The one refusal clients see for authorization: no detail about which rule failed or what exists. */
export function forbidden(): GraphQLError {
  return new GraphQLError("Not authorized to perform this operation", { extensions: { code: "FORBIDDEN" } });
}

// The root types; each operation group adds its fields from its own file (register.ts, lookup.ts ...).
builder.queryType({});
builder.mutationType({});

builder.addScalarType("DateTime", DateTimeResolver, {
  description: "An instant in time, as an RFC 3339 string in UTC, e.g. 2026-11-25T09:00:00.000Z.",
});
