import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { engineMissing } from "../../local/engineBridge";
import { ENGINE_DIR, engineEnv } from "../../local/engineEnv";
import { backendDir } from "../../local/engineStack";

/** What the engine-tier tests of `npm run local -- --engine` share: a state folder and stack of their own. */

export const REPO_ROOT = join(__dirname, "..", "..");

/** True when `npm run engine:build` has put the CLI in place. */
export const engineBuilt = engineMissing(REPO_ROOT) === null;

/** True when the command provider is installed where the engine looks for it (see engine/README.md). */
export const commandProviderInstalled = existsSync(
  join(process.env.PULUMI_HOME ?? join(REPO_ROOT, ".engine", "pulumi-home"), "plugins", "resource-command-v1.2.1"),
);

/** A fresh state folder and a stack name no other test (or the user's `local` stack) uses. */
export function isolatedStack(label: string): { stateDir: string; stack: string } {
  return {
    stateDir: mkdtempSync(join(tmpdir(), `engine-tier-${label}-`)),
    stack: `engine-tier-${label}-${process.pid}`,
  };
}

/** The stack's checkpoint as the file:// backend stores it. */
export function stateFileText(stateDir: string, stack: string): string {
  return readFileSync(join(backendDir(stateDir), ".pulumi", "stacks", "vm-identity-access", `${stack}.json`), "utf8");
}

/** A throwaway Pulumi project for the built CLI, with a state folder and a PULUMI_HOME of its own. */
export interface ThrowawayProject {
  /** Holds the project, its state and anything else the test writes; removed by `remove`. */
  tmp: string;
  /** PULUMI_HOME under .engine/ (never ~/.pulumi), one per run so runs do not share plugins. */
  home: string;
  project: string;
  /** The environment for the built CLI: PATH, PULUMI_HOME, file:// backend, passphrase. */
  env: NodeJS.ProcessEnv;
  remove(): void;
}

/**
 * A JavaScript Pulumi project named `name` in a temporary folder, resolving this repository's
 * node_modules, with `program` as its index.js when given.
 */
export function throwawayProject(name: string, passphrase: string, program?: string): ThrowawayProject {
  const tmp = mkdtempSync(join(tmpdir(), `${name}-`));
  mkdirSync(join(REPO_ROOT, ENGINE_DIR, "test-homes"), { recursive: true });
  const home = mkdtempSync(join(REPO_ROOT, ENGINE_DIR, "test-homes", `${name}-`));
  const project = join(tmp, "project");
  const stateDir = join(tmp, "state");
  mkdirSync(project);
  mkdirSync(stateDir);
  symlinkSync(join(REPO_ROOT, "node_modules"), join(project, "node_modules"));
  writeFileSync(
    join(project, "Pulumi.yaml"),
    `name: ${name}\nruntime:\n  name: nodejs\n  options:\n    typescript: false\n`,
  );
  writeFileSync(join(project, "package.json"), `{ "name": "${name}", "main": "index.js" }\n`);
  if (program !== undefined) writeFileSync(join(project, "index.js"), program);
  const env = {
    ...process.env,
    ...engineEnv({ repoRoot: REPO_ROOT, stateDir, passphrase, basePath: process.env.PATH, pulumiHome: home }),
  };
  return {
    tmp,
    home,
    project,
    env,
    remove: () => {
      for (const dir of [tmp, home]) rmSync(dir, { recursive: true, force: true });
    },
  };
}
