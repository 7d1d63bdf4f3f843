import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  launcherScript,
  OutputTail,
  type RunningScript,
  type ScriptJob,
  type ScriptResult,
  shellQuote,
} from "../guestScript";

/**
 * A script run inside a real guest as Azure's Linux agent runs one (DESIGN.md, "Two ways to the VM"):
 * in the guest's own namespaces (`nsenter -t {the guest's PID 1} -a`), with a clean environment, by
 * the guest's systemd as a transient unit in azure.slice/azure-vmextensions.slice, where the agent
 * puts extensions (`systemd-run --wait --pipe --collect`), so its processes are the guest's, counted
 * in the guest's cgroup, with IMDS at 169.254.169.254 and ARM at management.azure.com as anything
 * else in the guest has them. Never on the host.
 *
 * Nothing of the job but its folder and unit name is on a host command line: the script and the
 * launcher (which holds the parameters' values) reach the guest on nsenter's stdin, base64-encoded, and
 * are written there root-only by a shell in the guest, which then hands over to systemd-run.
 */

/** The PATH of the guest's tools; the host's must not leak in (env -i). */
const GUEST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** Starts a host process in the guest's cgroup (so reaping the guest ends it), its stdio piped. */
export type StartInGuestCgroup = (argv: string[]) => ChildProcess;

/**
 * The capabilities systemd-nspawn leaves a guest (systemd-nspawn(1), --capability: those it retains by
 * default; CAP_NET_ADMIN only with its own --private-network, which these guests do not use: their
 * network namespace is unshare's). What enters the guest gets no more: the guest's own /bin/sh,
 * base64 and systemd-run run with host root's privileges otherwise (CAP_SYS_MODULE among them), which
 * a guest root that replaced them would get.
 */
export const GUEST_CAPABILITIES = [
  "audit_control",
  "audit_write",
  "chown",
  "dac_override",
  "dac_read_search",
  "fowner",
  "fsetid",
  "ipc_owner",
  "kill",
  "lease",
  "linux_immutable",
  "mknod",
  "net_bind_service",
  "net_broadcast",
  "net_raw",
  "setfcap",
  "setgid",
  "setpcap",
  "setuid",
  "sys_admin",
  "sys_boot",
  "sys_chroot",
  "sys_nice",
  "sys_ptrace",
  "sys_resource",
  "sys_tty_config",
] as const;

/**
 * `nsenter` into every namespace of the guest whose PID 1 the host sees as `leader`, with a clean
 * environment and the guest's capability bounding set (setpriv, before nsenter: nsenter itself needs
 * CAP_SYS_ADMIN and CAP_SYS_CHROOT, both in it).
 */
export function inGuest(leader: number, argv: string[]): string[] {
  return [
    "setpriv",
    `--bounding-set=-all,${GUEST_CAPABILITIES.map((name) => `+${name}`).join(",")}`,
    "nsenter",
    "-t",
    String(leader),
    "-a",
    "env",
    "-i",
    `PATH=${GUEST_PATH}`,
    ...argv,
  ];
}

/** The unit's name: unique, so a kill names this run only. */
export function scriptUnitName(): string {
  return `azure-run-command-${randomBytes(6).toString("hex")}`;
}

/**
 * What the shell in the guest reads on stdin: make the folder root-only, write script.sh and
 * launch.sh (mode 0500) from base64, and hand over to the guest's systemd, which runs the launcher as
 * the unit; systemd-run's exit code is the script's.
 */
export function installerScript(job: ScriptJob, unit: string): string {
  const folder = shellQuote(job.folder);
  const runAsFolder =
    job.runAsUser === undefined
      ? undefined
      : `/home/${job.runAsUser}/waagent/run-command-handler-runas${job.folder.replace(/^\/var\/lib\/waagent\/run-command-handler/, "")}`;
  const write = (name: string, text: string) =>
    [
      `base64 -d > ${folder}/${name} <<'EOF'`,
      Buffer.from(text)
        .toString("base64")
        .replace(/(.{76})/g, "$1\n"),
      "EOF",
      `chmod 0500 ${folder}/${name}`,
    ].join("\n");
  return [
    "set -e",
    "umask 077",
    `mkdir -p -- ${folder}`,
    `chmod 0700 ${folder}`,
    write("script.sh", job.script),
    write("launch.sh", launcherScript({ ...job, runAsFolder })),
    `exec systemd-run --wait --pipe --collect --quiet --slice=azure-vmextensions.slice --unit=${unit} --working-directory=${folder} /bin/bash ${folder}/launch.sh < /dev/null`,
    "",
  ].join("\n");
}

/**
 * What stops a run in the guest, whatever it got to: the launcher removed (a unit systemd starts from
 * now on runs nothing), then the unit killed and stopped (a start job still queued is cancelled with it).
 * Arguments: the launcher's path, the unit.
 */
export const STOP_IN_GUEST =
  'rm -f -- "$1"; systemctl kill --signal=SIGKILL -- "$2" 2>/dev/null; systemctl stop -- "$2" 2>/dev/null; exit 0';

/** Runs `job` in the guest whose PID 1 is `leader`. */
export function runInGuest(start: StartInGuestCgroup, leader: number, job: ScriptJob): RunningScript {
  const unit = scriptUnitName();
  const stdout = new OutputTail();
  const stderr = new OutputTail();
  let killed = false;
  let ended = false;
  let resolveResult: (result: ScriptResult) => void = () => undefined;
  const result = new Promise<ScriptResult>((resolve) => {
    resolveResult = resolve;
  });
  const end = (exitCode: number) => {
    if (ended) return;
    ended = true;
    resolveResult({ exitCode, stdout: stdout.bytes(), stderr: stderr.bytes() });
  };
  const child = start(inGuest(leader, ["/bin/sh", "-s"]));
  child.stdin?.on("error", () => undefined);
  child.stdin?.end(installerScript(job, unit));
  child.stdout?.on("data", (chunk: Buffer) => stdout.write(chunk));
  child.stderr?.on("data", (chunk: Buffer) => stderr.write(chunk));
  child.on("error", (error) => stderr.write(Buffer.from(`nsenter: ${error.message}\n`)));
  child.on("close", (code, signal) => end(killed || signal !== null ? -1 : (code ?? 127)));
  return {
    result,
    async kill() {
      if (ended) return;
      killed = true;
      // The host's side is a process group of its own (started detached): nsenter, the child it forks
      // to enter the guest's PID namespace (which outlives a killed nsenter), the guest's shell and
      // systemd-run's client. Killing the group leaves nothing of it to start the unit afterwards.
      try {
        if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
      } catch {
        // Already gone.
      }
      // Once systemd-run asked for the unit, the unit is the guest's: its systemd ends it.
      const stop = start(
        inGuest(leader, ["/bin/sh", "-c", STOP_IN_GUEST, "stop", `${job.folder}/launch.sh`, `${unit}.service`]),
      );
      stop.stdin?.end();
      await new Promise((resolve) => {
        stop.on("error", resolve);
        stop.on("close", resolve);
      });
      // Ended, whatever still holds the output pipe: never waits for the script.
      end(-1);
    },
  };
}

/**
 * Whether the guest has a user of that name, as the handler's user.Lookup (Go's os/user) finds one:
 * by name only. getent also answers a numeric UID ("0" is root's), so its first field must be the name.
 */
export function userInGuest(start: StartInGuestCgroup, leader: number, name: string): Promise<boolean> {
  const child = start(inGuest(leader, ["getent", "passwd", "--", name]));
  child.stdin?.end();
  let found = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    found += chunk.toString();
  });
  return new Promise((resolve) => {
    child.on("error", () => resolve(false));
    child.on("close", (code) => resolve(code === 0 && found.split("\n")[0].split(":")[0] === name));
  });
}
