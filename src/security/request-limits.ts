import { EnvelopArmorPlugin } from "@escape.tech/graphql-armor";
import { costLimitRule } from "@escape.tech/graphql-armor-cost-limit";
import { type ASTNode, GraphQLError, NoSchemaIntrospectionCustomRule, type OperationDefinitionNode, type ValidationContext, visit } from "graphql";
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
  const armor = EnvelopArmorPlugin({
    maxTokens: { ...common, n: security.maxTokens },
    maxDepth: { ...common, n: security.maxDepth, flattenFragments: true },
    maxAliases: { ...common, n: security.maxAliases },
    maxDirectives: { ...common, n: security.maxDirectives },
    // Armor's cost rule, run below without its page-size multiplier.
    costLimit: { enabled: false },
    blockFieldSuggestion: { enabled: true },
  }) as Plugin;
  const costRule = costLimitRule({ ...common, maxCost: security.maxCost });
  return { onPluginInit: ({ addPlugin }) => addPlugin(armor), onValidate: ({ addValidationRule }) => addValidationRule((context: ValidationContext) => pageSizeBlind(costRule, context)) };
}

/**
 * Armor's cost rule multiplies a field's cost by a literal `first`/`last` argument (`first: 500`
 * costs 500 times its selection) but not by a variable's value. `classroomUsers` bounds `first` itself
 * (1 to 500, else its ValidationError member), so the multiplier only refused valid pages written
 * as literals (GraphiQL) while the same page through a variable passed. The rule sees the operation
 * and fragments without those arguments: a page costs its selection, however it is written.
 */
function pageSizeBlind(rule: ReturnType<typeof costLimitRule>, context: ValidationContext) {
  const strip = <T extends ASTNode>(node: T): T =>
    visit(node, { Argument: (arg) => (arg.name.value === "first" || arg.name.value === "last" ? null : undefined) });
  const view: ValidationContext = Object.create(context);
  view.getFragment = (name) => {
    const fragment = context.getFragment(name);
    return fragment && strip(fragment);
  };
  const visitor = rule(view);
  return { OperationDefinition: { enter: (node: OperationDefinitionNode) => visitor.OperationDefinition.enter(strip(node)) } };
}

/** Refuses `__schema` / `__type` (not `__typename`) during validation. */
export function disableIntrospection(): Plugin {
  return {
    onValidate({ addValidationRule }) {
      addValidationRule(NoSchemaIntrospectionCustomRule);
    },
  };
}
