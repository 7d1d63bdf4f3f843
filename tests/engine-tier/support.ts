import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { backendDir } from "../../local/engineStack";

/** What the engine-tier tests of `npm run local -- --engine` share: a state folder and stack of their own. */

export const REPO_ROOT = join(__dirname, "..", "..");

/** True when `npm run engine:build` has put the CLI in place. */
export const engineBuilt = existsSync(join(REPO_ROOT, ".engine", "bin", "pulumi"));

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
