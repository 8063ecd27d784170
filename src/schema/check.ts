/**
 * `npm run schema:check [file]`: compares the code's subgraph schema with the committed `schema.graphql`
 * (or `file`, e.g. one taken from the main branch: `git show main:schema.graphql > /tmp/main.graphql`).
 * Prints breaking, dangerous and safe changes; exits 1 on any breaking change, and 2 when the file is
 * out of date without breaking anything (run `npm run schema:print` and commit).
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { diffSubgraphSDL, formatChanges } from "./contract.js";
import { printSchemaSDL } from "./index.js";

const file = process.argv[2] ?? fileURLToPath(new URL("../../schema.graphql", import.meta.url));
const committed = readFileSync(file, "utf8");
const current = `${printSchemaSDL()}\n`;
const changes = await diffSubgraphSDL(committed, current);

console.log(`Schema in code compared with ${file}:`);
console.log(formatChanges(changes));
if (changes.breaking.length > 0) {
  console.error(`\n${changes.breaking.length} breaking change(s): clients of the supergraph may fail. Keep the old fields (deprecate them) or agree on the break.`);
  process.exit(1);
}
if (committed !== current) {
  console.error("\nschema.graphql is out of date: run `npm run schema:print` and commit it.");
  process.exit(2);
}
