import { basename } from "node:path";
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
 * The files that must not share their JavaScript state, each for what it leaves behind
 * (tests/testPools.test.ts finds that hazard in it or in what it imports, tests/support/testPools.ts).
 * Each runs alone in a fresh worker thread, one at a time beside the shared processes: a thread has
 * globals, a module cache and a copy of process.env of its own, which is all their hazards touch (Pulumi's
 * mock runtime lives on `global`, MSAL's caches in its modules). Those that call Node's fetch
 * (IN_OWN_FORK) run in a fresh process instead, after the shared files (why, below).
 */
export const OWN_PROCESS = [
  // Run the program or the component under Pulumi's mock runtime, which is process-global and has
  // no documented reset (setMocks, setAllConfig; tests/support/programMocks.ts).
  "tests/policy/stack.test.ts",
  "tests/program.test.ts",
  "tests/conformance/cloudInit.test.ts",
  "tests/vmAccessCheck.test.ts",
  "tests/local-runner/mockOptions.test.ts",
  "tests/policy/privateForm.test.ts",
  // Microsoft's ManagedIdentityCredential: MSAL keeps its IMDS source and token cache process-wide.
  "tests/conformance/imds.test.ts",
  // Its table of hazards is source text the check reads as hazards.
  "tests/testPools.test.ts",
];

/**
 * Every other file, and any new one, shares its worker process and module cache with the files
 * before and after it: most of a small file's cost is loading Pulumi, the SDKs and Local Azure, about
 * 1 s of CPU for each process that loads them. Three such processes at once (poolOptions below) run
 * the shared files; a file may be shared only if it leaves nothing behind: nothing it imports runs the
 * Pulumi program (Pulumi's mock runtime is process-global), sets process.env, fakes timers or globals
 * without undoing it when the file ends, changes directory or adds a process-wide handler.
 * tests/testPools.test.ts checks that.
 *
 * Processes, not worker threads: Node's fetch (undici) can hang for good in a worker thread
 * (vitest-dev/vitest#3077, nodejs/undici#2026), and one CI run of this suite stopped in the thread for
 * good, with no CPU and no socket, public-audiences.test.ts (which calls fetch) among the files still
 * to run; no test timeout fires there (docs/testing.md).
 */
export const SHARED = "shared";
/** The project of the OWN_PROCESS files that run in threads (threads isolated: a fresh one for each). */
export const OWN_THREAD = "own-thread";
/** OWN_PROCESS files that call Node's fetch, which can hang in a worker thread. */
export const IN_OWN_FORK = ["tests/conformance/imds.test.ts"];

/** A project of its own for each IN_OWN_FORK file: vitest starts a fresh process for each singleFork project. */
export function ownProcessProject(file: string) {
  return `own-process ${basename(file, ".test.ts")}`;
}

export default defineConfig({
  test: {
    testTimeout: TEST_TIMEOUT_MS,
    hookTimeout: TEST_TIMEOUT_MS,
    pool: "forks",
    poolOptions: {
      // Not isolated: a worker process runs one shared file after another with its modules loaded. The
      // shared files mostly wait (LROs, RBAC delay, probe backoff, deploy workers), so three processes
      // at once shorten the run on 2 cores instead of crowding it. minForks is maxForks: with fewer,
      // the pool ends a worker the moment it has nothing to do, and without isolation that ending
      // rejects unhandled ("Terminating worker thread") and the run stops with files not run
      // (tinypool's idleTimeout 0; vitest-dev/vitest#8133).
      forks: { isolate: false, maxForks: 3, minForks: 3 },
      // The OWN_PROCESS files' pool: each file in a thread of its own, one at a time beside the three.
      threads: { isolate: true, maxThreads: 1, minThreads: 1 },
    },
    projects: [
      { extends: true, test: { name: SHARED, include: INCLUDE, exclude: [...EXCLUDE, ...OWN_PROCESS] } },
      {
        extends: true,
        test: {
          name: OWN_THREAD,
          include: OWN_PROCESS.filter((file) => !IN_OWN_FORK.includes(file)),
          exclude: EXCLUDE,
          pool: "threads",
        },
      },
      // Vitest runs the singleFork projects after the others, one at a time, each in a process it
      // starts afresh (its pool recycles every worker before each one).
      ...IN_OWN_FORK.map((file) => ({
        extends: true as const,
        test: {
          name: ownProcessProject(file),
          include: [file],
          exclude: EXCLUDE,
          poolOptions: { forks: { singleFork: true } },
        },
      })),
    ],
    sequence: { sequencer: longestFirst(LONGEST_FIRST) },
  },
});
