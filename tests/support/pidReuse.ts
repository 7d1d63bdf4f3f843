import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "vitest";
import { runLocalCli } from "../../local/cli";
import { type ProcessIdentity, processIdentity } from "../../local/processIdentity";

/**
 * What the tests of a reused PID need (keeperIdentity.test.ts, serviceIdentity.test.ts): state folders
 * of their own, strangers (programs that are not Local Azure, holding a PID a record may name) and the
 * CLI run in a folder. Call it once at the top of a file: what it made is gone when the file ends.
 */
export function pidReuseFixtures(prefix: string) {
  const dirs: string[] = [];
  const strangers: ChildProcess[] = [];
  afterAll(() => {
    for (const child of strangers) child.kill("SIGKILL");
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
  return {
    /** A new folder (a state folder unless another prefix is given), removed when the file ends. */
    stateDir(ownPrefix = prefix): string {
      const dir = mkdtempSync(join(tmpdir(), ownPrefix));
      dirs.push(dir);
      return dir;
    },
    /** A process the test started, killed when the file ends if it still runs. */
    own(child: ChildProcess): ChildProcess {
      strangers.push(child);
      return child;
    },
    /** A program that is not Local Azure, running until the file ends. */
    stranger(): ProcessIdentity {
      const child = spawn("sleep", ["1000"], { stdio: "ignore" });
      strangers.push(child);
      const identity = processIdentity(child.pid as number);
      if (identity === null) throw new Error("the stranger is not running");
      return identity;
    },
    /** `npm run local -- --state-dir DIR ARGV…`, its exit code and output. */
    cli(dir: string, ...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
      let stdout = "";
      let stderr = "";
      const io = {
        stdout: (text: string) => {
          stdout += text;
        },
        stderr: (text: string) => {
          stderr += text;
        },
      };
      return runLocalCli(["--state-dir", dir, ...argv], io).then((code) => ({ code, stdout, stderr }));
    },
  };
}
