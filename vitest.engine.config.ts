import { defineConfig } from "vitest/config";
import { longestFirst } from "./tests/support/longestFirst";

// The engine tier: tests that drive the Pulumi CLI built by `npm run engine:build` (Go needed). Run
// with `npm run test:engine`; `npm test` never runs them (vitest.config.ts excludes this folder).
export default defineConfig({
  test: {
    include: ["tests/engine-tier/**/*.test.ts", "tests/policy/engine.test.ts"],
    pool: "forks",
    // Each file drives whole pulumi commands (a Go CLI, a language host and node processes), so one
    // at a time would keep them from crowding a 2-core machine; two at a time, the files that mostly
    // wait (the host-key refusal's dials, the RBAC delays of heal and revocation) start first.
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    sequence: { sequencer: longestFirst(["tests/engine-tier/hostKey.test.ts", "tests/engine-tier/heal.test.ts"]) },
    testTimeout: 180_000,
    hookTimeout: 120_000,
  },
});
