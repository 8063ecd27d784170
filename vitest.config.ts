import { defineConfig } from "vitest/config";

export default defineConfig({
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
