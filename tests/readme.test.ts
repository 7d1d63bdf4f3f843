import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

/**
 * What a newcomer meets first (issue 24, point 6): the README's two offline commands on its first
 * screen, a key recipe that never leaves the key readable to others, git ignoring that key, and docs
 * that name no path of one machine (a pyenv in root's home, npm's log folder…), which mean nothing
 * anywhere else.
 */

const REPO = join(__dirname, "..");
const readme = readFileSync(join(REPO, "README.md"), "utf8");
const lines = readme.split("\n");

/** README.md, docs/*.md and every folder's README.md. */
function docs(): string[] {
  const top = readdirSync(REPO, { withFileTypes: true });
  return [
    "README.md",
    ...readdirSync(join(REPO, "docs"))
      .filter((name) => name.endsWith(".md"))
      .map((name) => `docs/${name}`),
    ...top
      .filter((entry) => entry.isDirectory() && !entry.name.startsWith(".") && entry.name !== "node_modules")
      .flatMap((entry) =>
        readdirSync(join(REPO, entry.name)).includes("README.md") ? [`${entry.name}/README.md`] : [],
      ),
  ];
}

describe("the README", () => {
  it("shows the two offline commands on its first screen, before the diagram, and stays under 200 lines", () => {
    const install = lines.findIndex((line) => line.startsWith("npm ci && npm run local"));
    const test = lines.findIndex((line) => line.startsWith("npm test "));
    const diagram = lines.indexOf("```mermaid");
    expect(install).toBeGreaterThan(0);
    expect(test).toBe(install + 1);
    expect(install).toBeLessThan(diagram);
    // A terminal's first screen: 24 lines.
    expect(test).toBeLessThan(24);
    expect(readme.trimEnd().split("\n").length).toBeLessThan(200);
  });

  it("saves the VM's key owner-only from the start, and git ignores it", () => {
    expect(readme).toContain("(umask 077; pulumi stack output --show-secrets sshPrivateKey > vm-key)");
    expect(readme).not.toMatch(/> vm-key && chmod/);
    const ignored = spawnSync("git", ["check-ignore", "--no-index", "vm-key"], { cwd: REPO, encoding: "utf8" });
    expect(ignored.stdout).toBe("vm-key\n");
  });
});

describe("the docs", () => {
  it("name no path of one machine: a home folder's own files, a pyenv installation, npm's log folder", () => {
    const oneMachine = /\/root\/\.|\/home\/[a-z]|\.pyenv\/versions|\.npm\/_logs|\/work\/wt\//;
    const found = docs().flatMap((file) =>
      readFileSync(join(REPO, file), "utf8")
        .split("\n")
        .flatMap((line, i) => (oneMachine.test(line) ? [`${file}:${i + 1}: ${line.trim()}`] : [])),
    );
    expect(found).toEqual([]);
  });
});
