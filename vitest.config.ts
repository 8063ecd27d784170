import { createRequire } from "node:module";
import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: {
    // One graphql for everything: Node resolves `graphql` (no "exports") to its CommonJS build, which
    // packages like @apollo/subgraph and @graphql-inspector/core get; Vite would hand our sources the
    // ESM build, and graphql refuses types from "another module or realm".
    alias: [{ find: /^graphql$/, replacement: createRequire(import.meta.url).resolve("graphql") }],
  },
  test: {
    include: ["test/**/*.test.ts"],
    // One PostgreSQL per run; every test file gets its own database cloned from a migrated template.
    globalSetup: ["test/support/global-setup.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Files are isolated (own database, own emulator, port 0), so they run in parallel.
    fileParallelism: true,
  },
});
