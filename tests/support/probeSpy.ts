/**
 * Wrappers that record the command line of every external command the probe runs (what `ps` would
 * show to any user of the VM), then exec the real command with stdin, stdout and stderr untouched.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

const SPIED = ["curl", "awk", "head", "tr", "base64", "date", "sleep", "cat", "sed", "grep"];

export interface CommandSpy {
  /** Prepend to PATH. */
  pathPrefix: string;
  /** Every recorded command line, argv joined by spaces. */
  commandLines(): string[];
  remove(): void;
}

export function startCommandSpy(): CommandSpy {
  const dir = mkdtempSync(path.join(tmpdir(), "probe-spy-"));
  const log = path.join(dir, "argv.log");
  writeFileSync(log, "");
  for (const name of SPIED) {
    const real = ["/usr/bin", "/bin"].map((bin) => path.join(bin, name)).find((candidate) => existsSync(candidate));
    if (real === undefined) continue;
    writeFileSync(path.join(dir, name), `#!/bin/bash\nprintf '%s\\n' "${name} $*" >> '${log}'\nexec '${real}' "$@"\n`, {
      mode: 0o755,
    });
  }
  return {
    pathPrefix: `${dir}:`,
    commandLines: () =>
      readFileSync(log, "utf8")
        .split("\n")
        .filter((line) => line !== ""),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
