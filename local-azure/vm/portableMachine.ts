import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { userInfo } from "node:os";
import { join } from "node:path";
import { type Guest, type GuestOptions, guestCommandEnvironment, startGuest } from "../guest";
import { commandLine, OutputTail, type RunningScript, type ScriptJob, type ScriptResult } from "../guestScript";
import type { GuestMachine } from "./guestMachine";

/**
 * The portable guest as a machine (any OS, no root): its "disk" is the VM's work folder, a script
 * runs as a child process exactly as the portable guest runs an SSH command (the VM's environment:
 * its IMDS as AZURE_POD_IDENTITY_AUTHORITY_HOST, Local Azure's CA as CURL_CA_BUNDLE, the work folder
 * as HOME; the user is whoever runs Local Azure, so a script must not assume root here), and with a
 * public IP it has the SSH server of ../guest.ts. Without one it has no SSH server at all, and still
 * runs scripts, as a private VM on Azure does.
 */

export interface PortableMachineOptions {
  /** The VM's work folder: HOME of its commands, and the root its agent's folders are made under. */
  workDir: string;
  adminUsername: string;
  /** The VM's own endpoints, set for every command and script. */
  env: Record<string, string>;
  /** A booting VM: neither SSH nor its agent answers for this long. */
  notReadyForSeconds: number;
  /** With a public IP: the SSH server's options (its host is the public IP). Null: no SSH server. */
  ssh: Omit<GuestOptions, "adminUsername" | "env" | "workDir" | "notReadyForSeconds"> | null;
}

/** What a path inside the VM is on this machine: under the VM's work folder. */
export function portablePath(workDir: string, guestPath: string): string {
  return join(workDir, guestPath);
}

export async function startPortableMachine(
  opts: PortableMachineOptions,
): Promise<GuestMachine & { sshGuest: Guest | null }> {
  mkdirSync(opts.workDir, { recursive: true });
  const sshGuest = opts.ssh
    ? await startGuest({
        ...opts.ssh,
        adminUsername: opts.adminUsername,
        env: opts.env,
        workDir: opts.workDir,
        notReadyForSeconds: opts.notReadyForSeconds,
      })
    : null;
  const environment = guestCommandEnvironment({
    adminUsername: opts.adminUsername,
    workDir: opts.workDir,
    env: opts.env,
  });
  const children = new Set<ChildProcess>();
  let closed = false;
  let bootTimer: NodeJS.Timeout | undefined;
  let stoppedBooting: (error: Error) => void = () => undefined;
  const ready = new Promise<void>((resolve, reject) => {
    stoppedBooting = reject;
    if (opts.notReadyForSeconds > 0) bootTimer = setTimeout(resolve, opts.notReadyForSeconds * 1000);
    else resolve();
  });
  // A VM stopped while booting: whoever waits for it hears so; nobody else need.
  ready.catch(() => undefined);

  const runScript = (job: ScriptJob): RunningScript => {
    const folder = portablePath(opts.workDir, job.folder);
    mkdirSync(folder, { recursive: true, mode: 0o700 });
    chmodSync(folder, 0o700);
    const scriptPath = join(folder, "script.sh");
    writeFileSync(scriptPath, job.script, { mode: 0o700 });
    chmodSync(scriptPath, 0o500);
    const stdout = new OutputTail();
    const stderr = new OutputTail();
    // Own process group, so a kill ends what the script started in the background too.
    const child = spawn(job.shell, ["-c", commandLine(scriptPath, job.args)], {
      cwd: folder,
      env: { ...environment, ...job.env },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    children.add(child);
    let killed = false;
    let exited = false;
    child.stdout?.on("data", (chunk: Buffer) => stdout.write(chunk));
    child.stderr?.on("data", (chunk: Buffer) => stderr.write(chunk));
    const result = new Promise<ScriptResult>((resolve) => {
      child.on("error", (error) => stderr.write(Buffer.from(`${job.shell}: ${error.message}\n`)));
      child.on("close", (code, signal) => {
        exited = true;
        children.delete(child);
        const exitCode = killed || signal !== null ? -1 : (code ?? 127);
        resolve({ exitCode, stdout: stdout.bytes(), stderr: stderr.bytes() });
      });
    });
    return {
      result,
      kill: async () => {
        // Once it ended, its process group ID may be another's.
        if (!exited) {
          killed = true;
          killProcessGroup(child);
        }
        await result;
      },
    };
  };

  return {
    ready,
    ssh: sshGuest ? { host: sshGuest.host, port: sshGuest.port } : null,
    sshGuest,
    runScript,
    userExists: async (name) => [opts.adminUsername, "root", userInfo().username].includes(name),
    async close() {
      if (closed) return;
      closed = true;
      clearTimeout(bootTimer);
      stoppedBooting(new Error("the VM stopped before it booted"));
      const ended = [...children].map((child) => new Promise((resolve) => child.once("close", resolve)));
      for (const child of children) killProcessGroup(child);
      // Its scripts have ended (and said so) when the machine is closed.
      await Promise.all([...ended, sshGuest?.close()]);
    },
  };
}

function killProcessGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}
