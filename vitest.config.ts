import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { defineConfig } from "vitest/config";

/** Tests that start several server processes and measure timing: they run alone, after the rest. */
const SOLO = ["test/exactly-once/multi-process.test.ts"];

/** Files whose requests go over HTTP through the server: run on both paths. */
const HTTP_SUITES = ["test/subgraph/**/*.test.ts", "test/security/**/*.test.ts", "test/auth/**/*.test.ts", "test/entities.test.ts", "test/supergraph.test.ts"];

export default defineConfig({
  resolve: {
    // One graphql for everything: Node resolves `graphql` (no "exports") to its CommonJS build, which
    // packages like @apollo/subgraph and @graphql-inspector/core get; Vite would hand our sources the
    // ESM build, and graphql refuses types from "another module or realm".
    alias: [{ find: /^graphql$/, replacement: createRequire(import.meta.url).resolve("graphql") }],
  },
  test: {
    // One PostgreSQL per run; every test file gets its own database cloned from a migrated template.
    globalSetup: ["test/support/global-setup.ts"],
    // Vitest's default is one worker fewer than the CPUs: on 2 cores, one file at a time. Much of a
    // file's time is waiting (servers, timers, LCIC pacing), so one more than the CPUs run side by side;
    // at most 8 (each file holds up to ~20 PostgreSQL connections at a time; the test cluster allows 300).
    maxWorkers: Math.min(8, availableParallelism() + 1),
    // A worker keeps the modules it loaded from one file to the next (importing them again for every
    // file was ~270 s of the run, summed over workers; ~50 s so). Every file sets up its own state
    // (database, emulator, servers on port 0), and no module keeps per-test state: a server builds its
    // own schema instance (src/server.ts), so one file's plugins cannot wrap another's resolvers.
    isolate: false,
    // V8's allocation-site pretenuring off in the workers: its per-process decision to allocate request
    // objects in the old generation made the promotion measurements (test/support/promotion.ts) fail in
    // about half of the Node 22 processes, whatever served the requests (test/http/young-generation.test.ts).
    execArgv: ["--no-allocation-site-pretenuring"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    projects: [
      {
        extends: true,
        // Files are isolated (own database, own emulator, port 0), so they run in parallel.
        test: { name: "suite", include: ["test/**/*.test.ts"], exclude: SOLO, fileParallelism: true, sequence: { groupOrder: 0 } },
      },
      {
        extends: true,
        // The HTTP-level suites again with HTTP_FAST_LANE=false: the lane (src/http/fast-lane.ts, on by
        // default) and yoga's own path must both keep every guarantee (test/support/lane.ts hands the flag on).
        test: {
          name: "yoga-path",
          include: HTTP_SUITES,
          // Starts whole processes (a data directory, an embedded PostgreSQL): start-up, not HTTP semantics.
          exclude: ["**/node_modules/**", "test/subgraph/zero-config.test.ts"],
          env: { HTTP_FAST_LANE: "false" },
          fileParallelism: true,
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        // Three server processes on two cores: sharing the CPU with other files would skew its timing.
        test: { name: "multi-process", include: SOLO, fileParallelism: false, sequence: { groupOrder: 1 } },
      },
    ],
  },
});
