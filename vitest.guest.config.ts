import { defineConfig } from "vitest/config";

// The real guests' tier: booted Debian guests (systemd-nspawn, cloud-init, OpenSSH) behind Local
// Azure, which needs Linux, root and the guest image. Run with `npm run test:guest` (it builds the
// image first, once per machine); `npm test` never runs them (vitest.config.ts excludes this folder).
export default defineConfig({
  test: {
    include: ["tests/guest/**/*.test.ts"],
    pool: "forks",
    // Each file boots guests and runs whole deployments: two at a time keep a 2-core machine responsive.
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    testTimeout: 180_000,
    hookTimeout: 120_000,
  },
});
