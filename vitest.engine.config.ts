import { defineConfig } from "vitest/config";
import { longestFirst } from "./tests/support/longestFirst";

// The engine tier: tests that drive the Pulumi CLI built by `npm run engine:build` (Go needed). Run
// with `npm run test:engine`; `npm test` never runs them (vitest.config.ts excludes this folder).
export default defineConfig({
  test: {
    include: ["tests/engine-tier/**/*.test.ts", "tests/policy/engine.test.ts"],
    pool: "forks",
    // Each file drives whole pulumi commands (a Go CLI, a language host and node processes), so one
    // at a time would keep them from crowding a 2-core machine; but hostKey.test.ts mostly waits, for
    // the minutes of its 60 refused dials, so it starts first and the other files run beside it. The
    // heal file (42 s, mostly RBAC delay) is small, and vitest, without its cache, would start it last.
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    sequence: { sequencer: longestFirst(["tests/engine-tier/hostKey.test.ts", "tests/engine-tier/heal.test.ts"]) },
    testTimeout: 180_000,
    hookTimeout: 120_000,
  },
});
