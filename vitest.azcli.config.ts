import { defineConfig } from "vitest/config";

// The Azure CLI tier: Microsoft's azure-cli (Python, installed by tests/azcli/install.sh into a cached
// venv) against Local Azure run as the service. `npm run test:azcli`; npm test never runs it
// (vitest.config.ts excludes the folder). One file, its steps in order (each builds on the last).
export default defineConfig({
  test: {
    include: ["tests/azcli/**/*.test.ts"],
    pool: "forks",
    poolOptions: { forks: { maxForks: 1, minForks: 1 } },
    // Each az command starts a Python interpreter that loads azure-cli: seconds each on 2 cores.
    testTimeout: 180_000,
    hookTimeout: 1_800_000,
  },
});
