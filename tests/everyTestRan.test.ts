import { execFile } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { HANG_GUARD_MS } from "./support/hangGuard";

/**
 * The reporter .ci/run adds to the tiers that must run every test (tests/support/everyTestRan.ts): on
 * a file with each kind of skip, vitest passes by itself and fails with it, naming every skipped test.
 */

const REPO = join(__dirname, "..");

function vitest(...reporters: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const args = ["vitest", "run", "--config", "tests/fixtures/skips/vitest.config.ts", ...reporters];
  return new Promise((resolve) =>
    execFile("npx", args, { cwd: REPO, timeout: HANG_GUARD_MS }, (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code ?? -1) : 0, stdout, stderr }),
    ),
  );
}

describe("a tier that must run every test", () => {
  it("fails on skipped tests, naming each with its reason (vitest alone passes them)", async () => {
    expect((await vitest()).code).toBe(0);
    const run = await vitest("--reporter=default", "--reporter=./tests/support/everyTestRan.ts");
    expect(run.code).toBe(1);
    const file = "tests/fixtures/skips/skips.fixture.ts";
    expect(run.stderr).toContain(
      [
        "3 test(s) skipped in a tier that must run every test:",
        `  skipped: ${file} > a suite > is skipped where it is declared`,
        `  skipped: ${file} > a suite > skips itself with a reason (needs frobnicate, not installed)`,
        `  skipped: ${file} > a skipped suite > is skipped with its suite`,
        "",
      ].join("\n"),
    );
  });
});
