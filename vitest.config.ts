import { configDefaults, defineConfig } from "vitest/config";
import { TEST_TIMEOUT_MS } from "./tests/support/hangGuard";
import { LONGEST_FIRST, longestFirst } from "./tests/support/longestFirst";

export const INCLUDE = [
  "tests/**/*.test.ts",
  "components/**/*.test.ts",
  "verify/**/*.test.ts",
  "local-azure/**/*.test.ts",
  "local/**/*.test.ts",
];
// The engine tier needs the CLI built with Go: npm run test:engine (vitest.engine.config.ts) runs it.
// The Azure CLI tier needs Python: npm run test:azcli (vitest.azcli.config.ts) runs it.
// The real guests' tier needs Linux and root: npm run test:guest (vitest.guest.config.ts) runs it.
export const EXCLUDE = [
  ...configDefaults.exclude,
  "tests/engine-tier/**",
  "tests/policy/engine.test.ts",
  "tests/azcli/**",
  "tests/guest/**",
];

/**
 * Files that share one worker process and its module cache, one after another. Most of a small file's
 * cost is loading Pulumi, the SDKs and Local Azure; a process per file spent about 25 s of this
 * 2-core machine's CPU on loading alone. A file may be listed only if it leaves nothing behind for
 * the next one: nothing it imports runs the Pulumi program (Pulumi's mock runtime is process-global),
 * sets process.env, fakes timers or globals, changes directory or adds a process-wide handler.
 * tests/testPools.test.ts checks that.
 * Every other file, and any new one, runs in a process of its own.
 *
 * A process, not a worker thread: Node's fetch (undici) can hang for good in a worker thread
 * (vitest-dev/vitest#3077, nodejs/undici#2026), and one CI run of this suite stopped in the thread for
 * good, with no CPU and no socket, public-audiences.test.ts (which calls fetch) among the files still
 * to run; no test timeout fires there (docs/testing.md).
 */
export const SHARED_THREAD = [
  "tests/{judge,layers,probeCommand,roleAssignment,settings,ssh-exec,tls-keys,verify-cli,yamlExample}.test.ts",
  "tests/conformance/{arm-auth,arm-deployer,arm-reader,discovery,entra,graph,newest-sdks,openssh,public-audiences}.test.ts",
  "tests/engine/*.test.ts",
  "tests/harness/*.test.ts",
  "tests/local-azure/{arm,armClient,imds,nsg,persist}.test.ts",
  "tests/local-runner/{armMapping,cli,deployOptions,mocks}.test.ts",
  "tests/matrix/{authz,badSettings,malformed}.test.ts",
  "tests/policy/{analyzer,publicIp,readerRoleAssignment,remoteCommand,sshFromInternet,sshKeysOnly,trustedLaunch,vmCount}.test.ts",
];

export default defineConfig({
  test: {
    testTimeout: TEST_TIMEOUT_MS,
    hookTimeout: TEST_TIMEOUT_MS,
    poolOptions: {
      // The files in their own processes mostly wait (LROs, RBAC delay, probe backoff, deploy workers),
      // so three at once beside the shared process shorten the run on 2 cores instead of crowding it.
      forks: { maxForks: 3, minForks: 1 },
    },
    projects: [
      {
        extends: true,
        test: {
          name: "shared",
          include: SHARED_THREAD,
          exclude: EXCLUDE,
          pool: "forks",
          poolOptions: { forks: { isolate: false, singleFork: true } },
        },
      },
      { extends: true, test: { name: "own-process", include: INCLUDE, exclude: [...EXCLUDE, ...SHARED_THREAD] } },
    ],
    pool: "forks",
    sequence: { sequencer: longestFirst(LONGEST_FIRST) },
  },
});
