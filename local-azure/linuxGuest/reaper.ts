import { type ChildProcess, execFile, spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { CGROUP_FOLDER, type CgroupRoots, GUEST_RUNTIME_ROOT, NSPAWN_RUNTIME_ROOT, processStartTime } from "./host";
import { NFT_TABLE_PREFIX } from "./sshRedirect";

/**
 * Nothing a real guest starts outlives it: reap.sh removes a guest's processes, cgroups and folder.
 * A Local Azure that stops removes its guests itself; one that dies any other way (Ctrl-C, SIGTERM,
 * a crash) is cleaned up after by its watcher, a small process in a session of its own that waits for
 * the owner's end of a pipe to close; and whatever even that missed (both killed at once) is swept by
 * the next Local Azure that starts real guests, from each guest's owner file.
 */

const REAP_SCRIPT = join(__dirname, "reap.sh");

export function reapEnvironment(
  cgroups: CgroupRoots,
  runtimeRoot = GUEST_RUNTIME_ROOT,
  nspawnRoot = NSPAWN_RUNTIME_ROOT,
): NodeJS.ProcessEnv {
  const cgroupFolders = [cgroups.unified, ...cgroups.mirrors].map((root) => join(root, CGROUP_FOLDER));
  return {
    PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin",
    GUEST_RUNTIME_ROOT: runtimeRoot,
    GUEST_CGROUPS: cgroupFolders.join(" "),
    NSPAWN_PROPAGATE: join(nspawnRoot, "propagate"),
    // The runtime root's parent is the project's folder in /run, made with it (mkdir -p).
    GUEST_SHARED_FOLDERS: [...cgroupFolders, runtimeRoot, dirname(runtimeRoot)].join(" "),
    GUEST_NFT_TABLE_PREFIX: NFT_TABLE_PREFIX,
  };
}

/** "PID START": who owns a guest, as its owner file records it (a reused PID has another start time). */
export function ownerStamp(pid = process.pid): string {
  const start = processStartTime(pid);
  if (start === null) throw new Error(`process ${pid} has no /proc/${pid}/stat`);
  return `${pid} ${start}`;
}

function runReap(args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile("sh", [REAP_SCRIPT, ...args], { env }, (error, _stdout, stderr) => {
      if (error) reject(new Error(`reap.sh ${args[0]} failed: ${stderr.trim() || error.message}`));
      else resolve();
    });
  });
}

/** Removes these guests now. */
export function reapGuests(ids: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return ids.length === 0 ? Promise.resolve() : runReap(["guest", ...ids], env);
}

/** Removes every guest whose owner process is gone. */
export function sweepLeftovers(env: NodeJS.ProcessEnv): Promise<void> {
  return runReap(["sweep"], env);
}

let watcher: ChildProcess | null = null;

/** Starts this process's watcher, once while it runs (it exits by itself after this process does). */
export function ensureWatcher(env: NodeJS.ProcessEnv): void {
  if (watcher !== null && watcher.exitCode === null && watcher.signalCode === null) return;
  const [pid, start] = ownerStamp().split(" ");
  watcher = spawn("sh", [REAP_SCRIPT, "watch", pid, start], {
    env,
    // A session of its own: the terminal's Ctrl-C, meant for this process, must not reach it.
    detached: true,
    stdio: ["pipe", "ignore", "inherit"],
  });
  // Neither the watcher nor its pipe keeps this process alive; the pipe closes when this process ends.
  watcher.unref();
  (watcher.stdin as unknown as { unref?: () => void } | null)?.unref?.();
}
