import { configDefaults, defineConfig } from "vitest/config";
import { TEST_TIMEOUT_MS } from "./tests/support/hangGuard";
import { longestFirst } from "./tests/support/longestFirst";

// The engine tier: tests that drive the Pulumi CLI built by `npm run engine:build` (Go needed). Run
// with `npm run test:engine`; `npm test` never runs them (vitest.config.ts excludes this folder).
/**
 * Files that run alone, after the others (ENGINE_TIER_ALONE=1, the second half of npm run test:engine):
 * byHand.test.ts types `pulumi preview`, `up`… without --stack, as a user does, so it relies on the
 * project's selected stack, which Pulumi keeps per project in PULUMI_HOME/workspaces: shared by every
 * engine-tier file, each of which selects a stack of its own.
 */
const ALONE = ["tests/engine-tier/byHand.test.ts"];
const alone = process.env.ENGINE_TIER_ALONE === "1";

export default defineConfig({
  test: {
    include: alone ? ALONE : ["tests/engine-tier/**/*.test.ts", "tests/policy/engine.test.ts"],
    exclude: alone ? configDefaults.exclude : [...configDefaults.exclude, ...ALONE],
    pool: "forks",
    // Each file drives whole pulumi commands (a Go CLI, a language host and node processes), so two at
    // a time on a 2-core machine. The files that mostly wait (the RBAC delays of heal and revocation)
    // and the longest (stack; killed, waiting for the update to start) start first: vitest, without its
    // cache (a fresh clone, as in CI), would order them by size and start one of them last. The
    // host-key refusal no longer waits out 60 dials (sshDialErrorLimit 2), so it need not lead.
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    sequence: {
      sequencer: longestFirst([
        "tests/engine-tier/heal.test.ts",
        "tests/engine-tier/revocation.test.ts",
        "tests/engine-tier/stack.test.ts",
        "tests/engine-tier/killed.test.ts",
      ]),
    },
    testTimeout: TEST_TIMEOUT_MS,
    hookTimeout: TEST_TIMEOUT_MS,
  },
});
