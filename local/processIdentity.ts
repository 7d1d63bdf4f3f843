import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

/**
 * Which process a PID names, beyond the number: the kernel reuses PIDs, so after a crash or a reboot
 * a pid file can name a stranger (a shell, a `sleep`, another user's program). A process is the one
 * recorded when its start time and its command line are the ones recorded: no other process has both.
 * On Linux both come from /proc (field 22 of /proc/<pid>/stat, clock ticks since boot; the
 * NUL-separated /proc/<pid>/cmdline); elsewhere from `ps` (its start time and arguments).
 */

/**
 * Whether the process runs. A zombie does not: it has exited and waits for its parent to reap it,
 * which an init that is only a shell (a container's `bash -c` as PID 1, a CI job without an init)
 * may never do, and kill(pid, 0) still succeeds on it. Linux says so in /proc/<pid>/stat's state.
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: it exists, but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
  return processState(pid) !== "Z";
}

/** The state letter of /proc/<pid>/stat (after the parenthesised command name), or null without /proc. */
export function processState(pid: number, proc = "/proc"): string | null {
  try {
    const stat = readFileSync(join(proc, String(pid), "stat"), "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) || null;
  } catch {
    return null;
  }
}

export interface ProcessIdentity {
  pid: number;
  /** When it started, as this OS tells it: exact to the clock tick on Linux. */
  startTime: string;
  /** Its arguments (on Linux exactly as exec'd; elsewhere `ps`'s one line). */
  commandLine: string[];
}

/** Reads a running process's start time and command line; null when it is gone (or a zombie). */
export type IdentityReader = (pid: number) => ProcessIdentity | null;

/** From a /proc folder: the start time after the parenthesised command name (which may hold spaces and ")"). */
export function procIdentity(pid: number, proc = "/proc"): ProcessIdentity | null {
  let stat: string;
  let cmdline: string;
  try {
    stat = readFileSync(join(proc, String(pid), "stat"), "utf8");
    cmdline = readFileSync(join(proc, String(pid), "cmdline"), "utf8");
  } catch {
    return null;
  }
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields[0] is the state (field 3); a zombie has exited, only its entry waits to be reaped.
  if (fields[0] === "Z" || fields[19] === undefined) return null;
  // NUL after each argument, the last one too.
  return { pid, startTime: fields[19], commandLine: cmdline.replace(/\0$/, "").split("\0") };
}

/**
 * From `ps` (macOS, the BSDs): `lstart` is the start to the second, `args` the command as one line.
 * `lstart` is a local time in the locale's words, so `ps` runs in UTC with the C locale: the service
 * started from a shell with one TZ or LANG is still itself to a `stop` typed in another.
 */
export function psIdentity(pid: number): ProcessIdentity | null {
  if (!processAlive(pid)) return null;
  const fixed = { ...process.env, TZ: "UTC", LC_ALL: "C" };
  const ps = (field: string) =>
    spawnSync("ps", ["-o", `${field}=`, "-p", String(pid)], { encoding: "utf8", env: fixed }).stdout?.trim() ?? "";
  const startTime = ps("lstart");
  const args = ps("args");
  return startTime === "" ? null : { pid, startTime, commandLine: [args] };
}

/** This OS's reader: /proc where there is one, else `ps`. */
export const processIdentity: IdentityReader = (pid) =>
  existsSync("/proc/self/stat") ? procIdentity(pid) : psIdentity(pid);

/**
 * Whether the process with the recorded PID is still the recorded one; `live` is what that PID
 * names now (null: nothing runs under it). Pure.
 */
export function sameProcess(recorded: ProcessIdentity, live: ProcessIdentity | null): boolean {
  return (
    live !== null &&
    live.pid === recorded.pid &&
    live.startTime === recorded.startTime &&
    live.commandLine.length === recorded.commandLine.length &&
    live.commandLine.every((arg, i) => arg === recorded.commandLine[i])
  );
}
