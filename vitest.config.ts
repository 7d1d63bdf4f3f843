import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts", "components/**/*.test.ts", "verify/**/*.test.ts", "local-azure/**/*.test.ts", "local/**/*.test.ts"],
    // Whole-program tests share Pulumi's process-wide mock runtime, so each file runs in its own fork.
    pool: "forks",
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
