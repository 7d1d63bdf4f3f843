import { defineConfig } from "vitest/config";
import { TEST_TIMEOUT_MS } from "./tests/support/hangGuard";
import { longestFirst } from "./tests/support/longestFirst";

// The engine tier: tests that drive the Pulumi CLI built by `npm run engine:build` (Go needed). Run
// with `npm run test:engine`; `npm test` never runs them (vitest.config.ts excludes this folder).
export default defineConfig({
  test: {
    include: ["tests/engine-tier/**/*.test.ts", "tests/policy/engine.test.ts"],
    pool: "forks",
    // Each file drives whole pulumi commands (a Go CLI, a language host and node processes), so one
    // at a time would keep them from crowding a 2-core machine; two at a time, the longest files start
    // first (the program's stack with its failing and healing ups, the revocations over both transports,
    // the Run Command stack, the by-hand sequence, the YAML example), so that no long file starts last.
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    sequence: {
      sequencer: longestFirst([
        "tests/engine-tier/stack.test.ts",
        "tests/engine-tier/revocation.test.ts",
        "tests/engine-tier/revocationDelay.test.ts",
        "tests/engine-tier/runCommandStack.test.ts",
        "tests/engine-tier/byHand.test.ts",
        "tests/engine-tier/yaml.test.ts",
        "tests/engine-tier/killed.test.ts",
      ]),
    },
    testTimeout: TEST_TIMEOUT_MS,
    hookTimeout: TEST_TIMEOUT_MS,
  },
});
