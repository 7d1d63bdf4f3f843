import { defineConfig } from "vitest/config";

// The engine tier: tests that drive the Pulumi CLI built by `npm run engine:build` (Go needed). Run
// with `npm run test:engine`; `npm test` never runs them (vitest.config.ts excludes this folder).
export default defineConfig({
  test: {
    include: ["tests/engine-tier/**/*.test.ts", "tests/policy/engine.test.ts"],
    pool: "forks",
    // Each file drives whole pulumi commands (a Go CLI, a language host and node processes): one at a
    // time keeps them from crowding a 2-core machine.
    poolOptions: { forks: { maxForks: 1, minForks: 1 } },
    testTimeout: 180_000,
    hookTimeout: 120_000,
  },
});
