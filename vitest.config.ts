import { createRequire } from "node:module";
import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: {
    // graphql 16 ships CJS (`main`) and ESM (`module`) builds without an `exports` map. Node (and so
    // production, and every dependency vitest leaves to Node) loads the CJS one; vite would pick the
    // ESM one for our sources, and `instanceof GraphQLError` would then fail across the two copies.
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
