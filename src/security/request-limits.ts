import { EnvelopArmorPlugin } from "@escape.tech/graphql-armor";
import { GraphQLError, NoSchemaIntrospectionCustomRule, type ValidationContext } from "graphql";
import type { Plugin } from "graphql-yoga";
import type { SecurityConfig } from "../config.js";

/**
 * Static limits on the operation, checked while it is parsed (tokens) and validated (depth,
 * aliases, directives, cost): an abusive document is refused with 400 before any resolver runs.
 *
 * GraphQL Armor rather than Pothos' complexity plugin: Armor needs no per-field annotations, also
 * counts tokens during lexing (so a huge document stops being parsed at the limit), and covers
 * aliases and directives, which a complexity score does not see.
 */
export function requestLimits(security: SecurityConfig): Plugin {
  // Armor's own errors carry no code or HTTP status (clients would get 200); ours are 400s with
  // the standard code. Validation-time ones are reported so every problem is listed at once;
  // the token one is thrown, which stops the lexer at the limit.
  const onReject = [
    (ctx: ValidationContext | null, error: GraphQLError) => {
      const refused = new GraphQLError(error.message.replace(/^Syntax Error: /, ""), {
        extensions: { code: "GRAPHQL_VALIDATION_FAILED", http: { status: 400 } },
      });
      if (ctx) ctx.reportError(refused);
      else throw refused;
    },
  ];
  const common = { onReject, propagateOnRejection: false, exposeLimits: true };
  return EnvelopArmorPlugin({
    maxTokens: { ...common, n: security.maxTokens },
    maxDepth: { ...common, n: security.maxDepth, flattenFragments: true },
    maxAliases: { ...common, n: security.maxAliases },
    maxDirectives: { ...common, n: security.maxDirectives },
    costLimit: { ...common, maxCost: security.maxCost },
    blockFieldSuggestion: { enabled: true },
  }) as Plugin;
}

/** Refuses `__schema` / `__type` (not `__typename`) during validation. */
export function disableIntrospection(): Plugin {
  return {
    onValidate({ addValidationRule }) {
      addValidationRule(NoSchemaIntrospectionCustomRule);
    },
  };
}
