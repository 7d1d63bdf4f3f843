import { defineConfig } from "vitest/config";
import { TEST_TIMEOUT_MS } from "./tests/support/hangGuard";
import { longestFirst } from "./tests/support/longestFirst";

// The real guests' tier: booted Debian guests (systemd-nspawn, cloud-init, OpenSSH) behind Local
// Azure, which needs Linux, root and the guest image. Run with `npm run test:guest` (it builds the
// image first, once per machine); `npm test` never runs them (vitest.config.ts excludes this folder).
export default defineConfig({
  test: {
    include: ["tests/guest/**/*.test.ts"],
    pool: "forks",
    // Each file boots guests and runs whole deployments: two at a time keep a 2-core machine responsive.
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    // The files that run whole deployments (35–60 s each in .ci/run on 2026-12-06) start first: on a
    // fresh clone vitest, without its duration cache, ordered them by size and started two of them last.
    // service.test.ts comes third: it takes turns at the project's `local` stack with the engine tier's
    // byHand.test.ts, which .ci/run starts at the same moment, and the engine tier is the longer one.
    sequence: {
      sequencer: longestFirst([
        "tests/guest/engine.test.ts",
        "tests/guest/runner.test.ts",
        "tests/guest/service.test.ts",
      ]),
    },
    testTimeout: TEST_TIMEOUT_MS,
    hookTimeout: TEST_TIMEOUT_MS,
  },
});
