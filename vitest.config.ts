import { configDefaults, defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: [
      "tests/**/*.test.ts",
      "components/**/*.test.ts",
      "verify/**/*.test.ts",
      "local-azure/**/*.test.ts",
      "local/**/*.test.ts",
    ],
    // The engine tier needs the CLI built with Go: npm run test:engine (vitest.engine.config.ts) runs it.
    exclude: [...configDefaults.exclude, "tests/engine-tier/**", "tests/policy/engine.test.ts"],
    // Whole-program tests share Pulumi's process-wide mock runtime, so each file runs in its own fork.
    pool: "forks",
    // Most end-to-end time is spent waiting (LROs, RBAC delay, probe backoff), not computing, so a
    // third fork on a 2-core machine shortens the run instead of crowding it.
    poolOptions: { forks: { maxForks: 3, minForks: 1 } },
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
