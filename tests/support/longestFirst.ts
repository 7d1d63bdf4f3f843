import { relative } from "node:path";
import { BaseSequencer, type TestSpecification } from "vitest/node";

/**
 * npm test's files that take longest, longest first: each waits on deploys, RBAC delay or probe
 * backoff for 12–41 s (vitest's own durations, node_modules/.vite/vitest/). Without that cache, on a
 * fresh clone as in CI, vitest starts the largest files first, and the longest ones started last: 88 s
 * for the whole run in .ci/run's fresh clone against 66 s with the cache (2026-12-06, 92ee4ec). Only
 * files that run side by side are listed: the OWN_PROCESS files of vitest.config.ts run in pools of their own.
 */
export const LONGEST_FIRST = [
  "tests/local-runner/workerReuse.test.ts",
  "tests/probe.test.ts",
  "tests/local-runner/runCommandRunner.test.ts",
  "tests/local-runner/revocation.test.ts",
  "tests/e2e/e2e.test.ts",
  "tests/local-runner/service.test.ts",
  "tests/matrix/endToEnd.test.ts",
  "tests/policy/localRunner.test.ts",
  "tests/local-runner/deployLocal.test.ts",
];

/** Vitest's order (failed first, then longest by its cache, else largest), with `files` first, in their order. */
export function longestFirst(files: string[]): typeof BaseSequencer {
  return class LongestFirst extends BaseSequencer {
    async sort(specs: TestSpecification[]): Promise<TestSpecification[]> {
      const root = this.ctx.config.root;
      const rank = (spec: TestSpecification) => {
        const index = files.indexOf(relative(root, spec.moduleId));
        return index === -1 ? files.length : index;
      };
      return (await super.sort(specs)).sort((a, b) => rank(a) - rank(b));
    }
  };
}
