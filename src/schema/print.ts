/**
 * `npm run schema:print`: writes the subgraph SDL (federation directives included; what `_service { sdl }`
 * returns) to `schema.graphql` at the repository root. The file is the schema's contract: a test fails
 * when it and the code differ, and `npm run schema:check` compares the code against it.
 */
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { printSchemaSDL } from "./index.js";

export const SCHEMA_FILE = fileURLToPath(new URL("../../schema.graphql", import.meta.url));

writeFileSync(SCHEMA_FILE, `${printSchemaSDL()}\n`);
console.log(`wrote ${SCHEMA_FILE}`);
