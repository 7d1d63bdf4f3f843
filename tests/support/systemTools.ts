import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeEach, type TestContext } from "vitest";

/**
 * The system tools some tests run for real (curl, OpenSSH, cloud-init, Python), as listed in
 * scripts/systemTools.tsv. `npm test` installs what is missing first when it can (scripts/systemTools.sh,
 * as root with apt); where it could not, the tests that need a tool skip, each saying which tool is
 * missing and the command that installs it, so a bare machine reports a gap instead of a failure and
 * never hides one.
 */

export interface SystemTool {
  command: string;
  /** The Debian package that provides it. */
  debianPackage: string;
  /** What runs it, for the reader of the list. */
  usedBy: string;
}

const TOOL_LIST = join(__dirname, "..", "..", "scripts", "systemTools.tsv");

/** The tab-separated list: `command<TAB>package<TAB>what runs it`; `#` starts a comment line. */
export function parseToolList(text: string): SystemTool[] {
  return text
    .split("\n")
    .filter((line) => line.trim() !== "" && !line.startsWith("#"))
    .map((line) => {
      const [command, debianPackage, usedBy, ...rest] = line.split("\t");
      if (!command || !debianPackage || !usedBy || rest.length > 0) {
        throw new Error(
          `scripts/systemTools.tsv: expected "command<TAB>package<TAB>what runs it"; got ${JSON.stringify(line)}`,
        );
      }
      return { command, debianPackage, usedBy };
    });
}

export const SYSTEM_TOOLS: readonly SystemTool[] = parseToolList(readFileSync(TOOL_LIST, "utf8"));

function toolNamed(command: string, tools: readonly SystemTool[]): SystemTool {
  const tool = tools.find((t) => t.command === command);
  if (tool === undefined) {
    throw new Error(
      `${command} is not listed in scripts/systemTools.tsv (listed: ${tools.map((t) => t.command).join(", ")})`,
    );
  }
  return tool;
}

/** The path of a command on `searchPath` (default: this process's PATH), or undefined. */
export function whichTool(command: string, searchPath = process.env.PATH ?? ""): string | undefined {
  const found = spawnSync("/bin/sh", ["-c", 'command -v "$1"', "sh", command], {
    encoding: "utf8",
    env: { PATH: searchPath },
  });
  const path = found.stdout.trim();
  return found.status === 0 && path.startsWith("/") ? path : undefined;
}

/**
 * The Debian command that installs the packages of these tools, as scripts/systemTools.sh prints and
 * runs it; cloud-init is disabled first, so that it never configures the machine it is installed on.
 */
export function installCommand(commands: readonly string[], tools: readonly SystemTool[] = SYSTEM_TOOLS): string {
  const packages = [...new Set(commands.map((command) => toolNamed(command, tools).debianPackage))];
  const prepare = packages.includes("cloud-init")
    ? "mkdir -p /etc/cloud && touch /etc/cloud/cloud-init.disabled && "
    : "";
  return `${prepare}apt-get install -y --no-install-recommends ${packages.join(" ")}`;
}

/** Why a test that needs these (missing) tools is skipped, and how to have them. */
export function missingToolsNote(missing: readonly string[], tools: readonly SystemTool[] = SYSTEM_TOOLS): string {
  return (
    `needs ${missing.join(", ")}, not installed (npm test installs it when run as root); ` +
    `to install it: ${installCommand(missing, tools)}`
  );
}

/** The commands among these that are not on `searchPath`. */
export function missingTools(commands: readonly string[], searchPath?: string): string[] {
  for (const command of commands) toolNamed(command, SYSTEM_TOOLS);
  return commands.filter((command) => whichTool(command, searchPath) === undefined);
}

/** The path of a tool this test file has made sure of with needsTools; throws the skip note if missing. */
export function requireTool(command: string, searchPath?: string): string {
  const path = whichTool(command, searchPath);
  if (path === undefined) throw new Error(missingToolsNote([command]));
  return path;
}

/** Skips the running test, naming what is missing, unless every one of these tools is installed. */
export function skipWithoutTools(context: TestContext, ...commands: string[]): void {
  const missing = missingTools(commands);
  if (missing.length > 0) context.skip(missingToolsNote(missing));
}

/**
 * Declares that every test of this file needs these tools: each is skipped with the note when one is
 * missing. Returns whether they are all installed, for the file's beforeAll/afterAll to do nothing
 * when they are not (a hook cannot skip).
 */
export function needsTools(...commands: string[]): boolean {
  const missing = missingTools(commands);
  if (missing.length > 0) beforeEach((context) => context.skip(missingToolsNote(missing)));
  return missing.length === 0;
}
