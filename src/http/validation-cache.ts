import type { DocumentNode, GraphQLError, GraphQLSchema } from "graphql";
import type { Plugin } from "graphql-yoga";

/**
 * Validation results cached per schema and parsed document (yoga's parse cache hands the same
 * document object back for the same query text), in place of yoga's own validation cache
 * (`parserAndValidationCache: { validationCache: false }`).
 *
 * yoga keys its cache by the names of the request's validation rules, computed on every request:
 * `rules.map((rule) => rule.name).join(",")` over some 30 rules, each `name` a native accessor, about
 * 3% of a cached lookup's CPU. GraphQL Armor and our cost rule add new rule closures on every request,
 * so nothing about the rule list itself can be remembered. Here the rule set is fixed for the life of
 * the server (it depends only on configuration read at start), so the document and schema are key
 * enough. A plugin whose rules depend on the request must not be used with this cache.
 */
export interface ValidationCache {
  /** The yoga plugin: answers validation from the cache, and fills it. */
  plugin: Plugin;
  /**
   * Whether `document` validated against `schema` without errors before: the plugin would answer
   * "valid" from its cache. The fast lane uses it to skip envelop's validation step for such a
   * document (see `FastLaneOptions.knownValid`).
   */
  knownValid(schema: GraphQLSchema, document: DocumentNode): boolean;
}

export function createValidationCache(): ValidationCache {
  const bySchema = new WeakMap<GraphQLSchema, WeakMap<DocumentNode, readonly GraphQLError[]>>();
  const plugin: Plugin = {
    onValidate({ params: { schema, documentAST }, setResult }) {
      if (schema == null) return;
      let byDocument = bySchema.get(schema);
      if (!byDocument) bySchema.set(schema, (byDocument = new WeakMap()));
      const cached = byDocument.get(documentAST);
      if (cached) {
        setResult(cached);
        return;
      }
      const results = byDocument;
      return ({ result }) => {
        if (result != null) results.set(documentAST, result as readonly GraphQLError[]);
      };
    },
  };
  return { plugin, knownValid: (schema, document) => bySchema.get(schema)?.get(document)?.length === 0 };
}

/** The plugin alone (createValidationCache().plugin). */
export function validationCache(): Plugin {
  return createValidationCache().plugin;
}
