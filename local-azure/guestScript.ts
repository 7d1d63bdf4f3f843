/**
 * A script run inside a VM, whichever guest runs it (the portable one, ./vm/portableMachine.ts, or a
 * real one, ./linuxGuest/runScript.ts): what is asked, how it ended, and the pure pieces both build it
 * from as Azure's Linux agents do (Azure/run-command-handler-linux internal/exec/exec.go and
 * internal/cmds/cmds.go; both agents keep the last 4 KiB of each stream, `maxTailLen = 4 * 1024`).
 */

/** A script to run inside the VM as its agent runs one: as root (or `runAsUser`), in a folder of its own. */
export interface ScriptJob {
  /**
   * The folder inside the VM that holds it, as Azure's agent lays it out: e.g.
   * /var/lib/waagent/run-command-handler/download/{runCommand}/{sequence}. Made root-only (0700).
   */
  folder: string;
  /** The script's text, written to `{folder}/script.sh` (mode 0500), never passed on a command line. */
  script: string;
  /** What runs `{folder}/script.sh {args}`: /bin/bash for managed run commands, /bin/sh for the action. */
  shell: "/bin/bash" | "/bin/sh";
  /** Named parameters: environment variables of the script. */
  env: Record<string, string>;
  /** Unnamed parameters, joined to the command line as the handler joins them (one space each, unquoted). */
  args: string[];
  /** Run as this user of the VM instead of root (through sudo, as the handler does); undefined: root. */
  runAsUser?: string;
}

/** How a script ended: its exit code (-1 when a signal ended it, as Go's ExitStatus reports it) and output. */
export interface ScriptResult {
  exitCode: number;
  stdout: Buffer;
  stderr: Buffer;
}

export interface RunningScript {
  /** Settles when the script has ended (never rejects: a failure to start is exit code 127 with a message on stderr). */
  readonly result: Promise<ScriptResult>;
  /** Ends it and everything it started (SIGKILL); its result then reports exit code -1. */
  kill(): Promise<void>;
}

/** Bytes of stdout and of stderr that reach ARM: the last 4,096 of each. */
export const OUTPUT_LIMIT = 4096;

/** Keeps the last OUTPUT_LIMIT bytes written to it, as the handlers' tailFile reads them. */
export class OutputTail {
  private chunks: Buffer[] = [];
  private size = 0;

  write(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    // Keep memory bounded however much a script writes.
    if (this.size > 4 * OUTPUT_LIMIT) {
      this.chunks = [this.bytes()];
      this.size = this.chunks[0].length;
    }
  }

  bytes(): Buffer {
    const all = Buffer.concat(this.chunks);
    return all.subarray(Math.max(0, all.length - OUTPUT_LIMIT));
  }
}

/** A stream's tail as ARM shows it (a UTF-8 character cut at the 4 KiB edge becomes U+FFFD, as Go's JSON encoder makes it). */
export function tailText(bytes: Buffer): string {
  return bytes.subarray(Math.max(0, bytes.length - OUTPUT_LIMIT)).toString("utf8");
}

/**
 * The command the handler runs with `/bin/bash -c`: the script's path, then each unnamed parameter
 * after one space, unquoted (exec.go: `cmd = cmd + commandArgs`), so the shell splits and expands them.
 */
export function commandLine(scriptPath: string, args: readonly string[]): string {
  return [scriptPath, ...args].join(" ");
}

/** Quotes a word for a POSIX shell. */
export function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * The launcher a real guest's systemd runs (`/bin/bash {folder}/launch.sh`), in the folder the
 * handler uses. It removes itself first (bash keeps reading it through its open descriptor), so the
 * parameters' values live only in the script's environment, as the handler's os.Setenv leaves them;
 * then it runs the command as exec.go does: `{shell} -c "{script} {args}"`, or for runAsUser the
 * script copied to /home/{user}/waagent/run-command-handler-runas/…, owned by the user, mode 0550, and
 * run through sudo (whose env_reset drops the named parameters there too).
 */
export function launcherScript(job: {
  folder: string;
  shell: string;
  env: Record<string, string>;
  args: readonly string[];
  runAsUser?: string;
  runAsFolder?: string;
}): string {
  const lines = ['rm -f -- "$0"', `cd -- ${shellQuote(job.folder)} || exit 1`];
  let command = commandLine(`${job.folder}/script.sh`, job.args);
  if (job.runAsUser !== undefined && job.runAsFolder !== undefined) {
    const runAs = `${job.runAsFolder}/script.sh`;
    lines.push(
      `mkdir -p -- ${shellQuote(job.runAsFolder)} || exit 1`,
      `cp -- script.sh ${shellQuote(runAs)} || exit 1`,
      `chown -- ${shellQuote(job.runAsUser)} ${shellQuote(runAs)} || exit 1`,
      `chmod 0550 ${shellQuote(runAs)} || exit 1`,
    );
    // The name quoted: it reaches a root shell's command line (the getent check before only vouches
    // that such a user exists).
    command = `sudo -u ${shellQuote(job.runAsUser)} ${commandLine(runAs, job.args)}`;
  }
  const env = Object.entries(job.env).map(([name, value]) => shellQuote(`${name}=${value}`));
  lines.push(`exec env -- ${[...env, job.shell, "-c", shellQuote(command)].join(" ")}`);
  return `${lines.join("\n")}\n`;
}
