import { CriticalityLevel, diff, type Change } from "@graphql-inspector/core";
import { buildASTSchema, parse, type GraphQLSchema } from "graphql";

export interface SchemaChanges {
  breaking: Change[];
  dangerous: Change[];
  safe: Change[];
}

/**
 * A subgraph SDL as a schema to compare. The federation directives it uses are imported by `@link`,
 * not defined in it, so it is built without SDL validation; directive usages are still compared.
 */
export function schemaFromSubgraphSDL(sdl: string): GraphQLSchema {
  return buildASTSchema(parse(sdl), { assumeValidSDL: true });
}

/** What changes from `before` to `after`, by how it affects clients (per @graphql-inspector/core's rules). */
export async function diffSubgraphSDL(before: string, after: string): Promise<SchemaChanges> {
  const changes = await diff(schemaFromSubgraphSDL(before), schemaFromSubgraphSDL(after));
  return {
    breaking: changes.filter((c) => c.criticality.level === CriticalityLevel.Breaking),
    dangerous: changes.filter((c) => c.criticality.level === CriticalityLevel.Dangerous),
    safe: changes.filter((c) => c.criticality.level === CriticalityLevel.NonBreaking),
  };
}

/** One line per change, for a terminal or a CI log. */
export function formatChanges(changes: SchemaChanges): string {
  const lines: string[] = [];
  const section = (title: string, list: Change[]) => {
    if (list.length === 0) return;
    lines.push(`${title} (${list.length}):`);
    for (const c of list) lines.push(`  - ${c.message}${c.criticality.reason ? ` (${c.criticality.reason})` : ""}`);
  };
  section("Breaking changes", changes.breaking);
  section("Dangerous changes", changes.dangerous);
  section("Safe changes", changes.safe);
  return lines.length === 0 ? "No changes." : lines.join("\n");
}
