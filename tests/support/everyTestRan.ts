import { relative } from "node:path";
import type { Reporter, TestModule } from "vitest/node";

/**
 * A vitest reporter for the tiers that must run every test (the engine, Azure CLI and real guests'
 * tiers in .ci/run and the GitHub workflow): a skipped test there hides what the tier exists to show
 * (a tool missing, an image not built, a venv that cannot be used), so each is named, with its reason
 * when it gave one, and the run fails. Added beside the default reporter:
 * `vitest run --reporter=default --reporter=./tests/support/everyTestRan.ts`.
 */

/** One line per skipped test: its file, its full name, and the note it was skipped with. */
export function skippedLines(modules: ReadonlyArray<TestModule>, root = process.cwd()): string[] {
  const lines: string[] = [];
  for (const module of modules) {
    for (const test of module.children.allTests("skipped")) {
      const result = test.result();
      const note = result.state === "skipped" && result.note ? ` (${result.note})` : "";
      lines.push(`${relative(root, module.moduleId)} > ${test.fullName}${note}`);
    }
  }
  return lines;
}

export default class EveryTestRan implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    const skipped = skippedLines(modules);
    if (skipped.length === 0) return;
    process.stderr.write(
      `\n${skipped.length} test(s) skipped in a tier that must run every test:\n${skipped.map((line) => `  skipped: ${line}\n`).join("")}`,
    );
    process.exitCode = 1;
  }
}
