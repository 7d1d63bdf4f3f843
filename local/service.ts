import { fork } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import type { Faults, GuestKind } from "../local-azure/index";
import { readCloud } from "../local-azure/persist";
import { cloudDir } from "./engineStack";
import { type KeptLocalAzure, readLiveKept, removeKept, removeStaleKept, START_COMMAND } from "./kept";
import { type IdentityReader, type ProcessIdentity, processIdentity, sameProcess } from "./processIdentity";

/**
 * Local Azure as a service: `npm run local -- start` runs it in the background, in a process of its
 * own that outlives the shell (its own session), until `npm run local -- stop`. It keeps its cloud in
 * `.local-azure/cloud/` (the cloud `--engine` keeps between runs), writes `kept.json` for any client
 * (and keeps its VM list current), its identity to `local-azure.pid` (PID, start time and command line:
 * `stop` signals that process only, never a stranger that got its PID later) and every request it answers to
 * `local-azure.log`, and what its VMs' guests are to `local-azure.guests` (`npm run local -- start
 * --guest linux`: booted Debian guests). `npm run local`, `--engine`, `--keep`, `env` and the stand-in
 * plugins use it.
 */

export const SERVICE_PID_FILE = "local-azure.pid";
export const SERVICE_LOG_FILE = "local-azure.log";
/** The service's guest kind, one word: `portable` or `linux`. Written before it serves, removed when it stops. */
export const SERVICE_GUESTS_FILE = "local-azure.guests";
export { START_COMMAND };

/** The service's own process (local/serviceMain.ts), run by path. */
const SERVICE_MAIN = join(__dirname, "serviceMain.ts");

export function servicePidFile(stateDir: string): string {
  return join(stateDir, SERVICE_PID_FILE);
}

export function serviceLogFile(stateDir: string): string {
  return join(stateDir, SERVICE_LOG_FILE);
}

export function serviceGuestsFile(stateDir: string): string {
  return join(stateDir, SERVICE_GUESTS_FILE);
}

/** The service's guests; a service started before the file existed runs portable ones. */
function readGuests(stateDir: string): GuestKind {
  const file = serviceGuestsFile(stateDir);
  return existsSync(file) && readFileSync(file, "utf8").trim() === "linux" ? "linux" : "portable";
}

/** A running service: kept.json's endpoints, and from its kept cloud what kept.json does not say. */
export interface RunningService {
  pid: number;
  kept: KeptLocalAzure;
  caCertPem: string;
  sshPort: number;
  location: string;
  /** The deployer service principal (Owner on the subscription), with its principal ID for getClientConfig. */
  deployer: { principalId: string; clientId: string; clientSecret: string };
  logFile: string;
  /** Its VMs' guests, set when it started: portable, or booted Debian guests (`start --guest linux`). */
  guests: GuestKind;
}

export type ServiceLookup =
  | { running: RunningService }
  /** Its process is up but not serving yet (or kept.json is not its own yet). */
  | { starting: number }
  | { stopped: string };

/**
 * The pid file's content: the service's identity as JSON, written by the service itself when it
 * starts (local/serviceMain.ts).
 */
export function pidFileText(identity: ProcessIdentity): string {
  return `${JSON.stringify(identity)}\n`;
}

/**
 * What the pid file records: the identity, or (a file of an older version, or one written by hand)
 * only a PID. Null when there is no file or it says nothing usable.
 */
export function parsePidFile(text: string): { pid: number; identity: ProcessIdentity | null } | null {
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) > 0 ? { pid: Number(trimmed), identity: null } : null;
  try {
    const parsed = JSON.parse(trimmed) as Partial<ProcessIdentity>;
    const { pid, startTime, commandLine } = parsed;
    if (
      Number.isInteger(pid) &&
      (pid as number) > 0 &&
      typeof startTime === "string" &&
      Array.isArray(commandLine) &&
      commandLine.every((arg) => typeof arg === "string")
    ) {
      return { pid: pid as number, identity: { pid: pid as number, startTime, commandLine } };
    }
  } catch {
    // Not JSON: nothing usable.
  }
  return null;
}

/** Whether a PID names this state folder's service, the process the pid file recorded; or what it names instead. */
export type PidFileLookup =
  | { none: true }
  | { service: ProcessIdentity }
  | { gone: number }
  /** A live process that is not the recorded one: the kernel gave the PID to another program. */
  | { stranger: ProcessIdentity };

/**
 * The process the pid file names, checked by identity: its start time and command line must be the
 * recorded ones. A pid file with only a PID (an older version's) names the service only when that
 * process runs this state folder's service (local/serviceMain.ts with this folder).
 */
export function lookUpPidFile(stateDir: string, identify: IdentityReader = processIdentity): PidFileLookup {
  const file = servicePidFile(stateDir);
  const record = existsSync(file) ? parsePidFile(readFileSync(file, "utf8")) : null;
  if (record === null) return { none: true };
  const live = identify(record.pid);
  if (live === null) return { gone: record.pid };
  const ours =
    record.identity !== null
      ? sameProcess(record.identity, live)
      : live.commandLine.join(" ").includes(`${SERVICE_MAIN} ${resolve(stateDir)} `);
  return ours ? { service: live } : { stranger: live };
}

/** What a PID that names no service names: nothing, or another program (its command, shortened). */
function notTheService(lookup: { gone: number } | { stranger: ProcessIdentity }): string {
  if ("gone" in lookup) return `process ${lookup.gone}, which is gone`;
  const command = lookup.stranger.commandLine.join(" ");
  const shown = command.length > 80 ? `${command.slice(0, 77)}...` : command;
  return `process ${lookup.stranger.pid}, which is another program now (${shown})`;
}

/** Whether the service of this state folder runs, and where; or why it does not (one sentence). */
export function serviceStatus(stateDir: string, identify: IdentityReader = processIdentity): ServiceLookup {
  const pidFile = servicePidFile(stateDir);
  const named = lookUpPidFile(stateDir, identify);
  if ("none" in named) return { stopped: `Local Azure is not running (no ${pidFile})` };
  if (!("service" in named))
    return { stopped: `Local Azure is not running (${pidFile} names ${notTheService(named)})` };
  const pid = named.service.pid;
  const lookup = readLiveKept(stateDir, identify);
  if ("none" in lookup || lookup.kept.pid !== pid) return { starting: pid };
  const cloud = readCloud(cloudDir(stateDir));
  if (!cloud || !existsSync(lookup.kept.caBundle)) return { starting: pid };
  return {
    running: {
      pid,
      kept: lookup.kept,
      caCertPem: readFileSync(lookup.kept.caBundle, "utf8"),
      sshPort: cloud.identity.sshPort,
      location: cloud.identity.location,
      deployer: cloud.identity.deployer,
      logFile: serviceLogFile(stateDir),
      guests: readGuests(stateDir),
    },
  };
}

const GUEST_WORDS: Record<GuestKind, string> = {
  portable: "portable guests",
  linux: "real guests (--guest linux)",
};

/**
 * The guests a run into the service gets: the service's own, since a Local Azure's guests are set
 * when it starts; a run that asks for the other kind is refused, saying how to get it. Pure.
 */
export function guestsInService(
  service: Pick<RunningService, "pid" | "guests">,
  asked: GuestKind | undefined,
): { guests: GuestKind } | { refused: string } {
  if (asked === undefined || asked === service.guests) return { guests: service.guests };
  const restart = asked === "linux" ? `${START_COMMAND} --guest linux` : START_COMMAND;
  return {
    refused: `the Local Azure service (pid ${service.pid}) runs ${GUEST_WORDS[service.guests]}: stop it (npm run local -- stop), then ${restart} for ${GUEST_WORDS[asked]}`,
  };
}

/** The running service of this state folder, or null. */
export function runningService(stateDir: string): RunningService | null {
  const lookup = serviceStatus(stateDir);
  return "running" in lookup ? lookup.running : null;
}

/** From the service's process to `start`, once it serves (or why it could not). */
export type ServiceMessage = { kind: "ready" } | { kind: "failed"; error: string };

/** What `start` did. */
export type StartOutcome = { started: RunningService } | { already: RunningService };

function logTail(file: string, lines = 8): string {
  if (!existsSync(file)) return "";
  return readFileSync(file, "utf8").trim().split("\n").slice(-lines).join("\n");
}

/**
 * Starts the service in the background and resolves once it serves; a running one is left as it is.
 * Refuses while another process keeps a Local Azure in this state folder (`--keep`, or `--engine`
 * mid-run: its cloud is the one the service would load).
 */
export async function startService(
  stateDir: string,
  faults?: Partial<Faults>,
  guests: GuestKind = "portable",
): Promise<StartOutcome> {
  const dir = resolve(stateDir);
  const lookup = serviceStatus(dir);
  if ("running" in lookup) return { already: lookup.running };
  if ("starting" in lookup) {
    throw new Error(`Local Azure is starting (process ${lookup.starting}); npm run local -- status says when it runs`);
  }
  const kept = readLiveKept(dir);
  if ("kept" in kept) {
    throw new Error(
      `process ${kept.kept.pid} keeps a Local Azure in ${dir} (npm run local -- --keep or --engine): stop it first (Ctrl-C), then ${START_COMMAND}`,
    );
  }
  mkdirSync(dir, { recursive: true });
  // A pid file or kept.json that names no live service or keeper (its process killed with SIGKILL, or
  // the machine restarted, and the PID maybe another program's now) is stale.
  rmSync(servicePidFile(dir), { force: true });
  removeStaleKept(dir);
  const logFile = serviceLogFile(dir);
  const log = openSync(logFile, "a", 0o600);
  const child = fork(SERVICE_MAIN, [dir, JSON.stringify(faults ?? {}), guests], {
    cwd: resolve(__dirname, ".."),
    execArgv: ["--import", "tsx"],
    // Its own session: the shell's hang-up and Ctrl-C do not reach it.
    detached: true,
    stdio: ["ignore", log, log, "ipc"],
  });
  closeSync(log);
  const outcome = await new Promise<ServiceMessage>((done) => {
    child.once("message", (message: ServiceMessage) => done(message));
    child.once("exit", (code, signal) =>
      done({ kind: "failed", error: `it exited (${signal ?? `exit ${code}`}) before serving` }),
    );
    child.once("error", (error) => done({ kind: "failed", error: error.message }));
  });
  if (outcome.kind === "failed") {
    const tail = logTail(logFile);
    throw new Error(`Local Azure did not start: ${outcome.error}${tail ? `\n${tail}` : ""}`);
  }
  // Let go of it: this process may exit, the service runs on.
  child.disconnect();
  child.unref();
  const started = serviceStatus(dir);
  if (!("running" in started)) throw new Error(`Local Azure said it serves, but ${JSON.stringify(started)}`);
  return { started: started.running };
}

const STOP_WAIT_MS = 30_000;

/** What `stop` did: stopped the service, found none, or removed a pid file that named no service (why). */
export type StopOutcome = "stopped" | "not running" | { stale: string };

/**
 * Stops the service (SIGTERM: it removes kept.json, saves its cloud and exits) and resolves once its
 * process is gone. The cloud stays in `.local-azure/cloud/` for the next start. Only the process the
 * pid file recorded is signalled: a pid file whose PID is gone or another program's now is removed,
 * and that program left alone.
 */
export async function stopService(stateDir: string, identify: IdentityReader = processIdentity): Promise<StopOutcome> {
  const dir = resolve(stateDir);
  const pidFile = servicePidFile(dir);
  const named = lookUpPidFile(dir, identify);
  if (!("service" in named)) {
    rmSync(pidFile, { force: true });
    if ("none" in named) return "not running";
    const leftAlone = "stranger" in named ? ", left alone" : "";
    return { stale: `removed the stale ${pidFile} (it named ${notTheService(named)}${leftAlone})` };
  }
  const service = named.service;
  const stillIt = () => sameProcess(service, identify(service.pid));
  process.kill(service.pid, "SIGTERM");
  // Not this process's child: nothing tells it when that process ends, so ask until it is gone.
  const deadline = Date.now() + STOP_WAIT_MS;
  while (stillIt()) {
    if (Date.now() > deadline) {
      process.kill(service.pid, "SIGKILL");
      removeKept(dir);
      rmSync(serviceGuestsFile(dir), { force: true });
      break;
    }
    await new Promise((wake) => setTimeout(wake, 50));
  }
  rmSync(pidFile, { force: true });
  return "stopped";
}

/** `status`'s text for a running service: where each part listens, and how to use it. */
export function serviceStatusText(service: RunningService, cwd = process.cwd()): string {
  const { kept } = service;
  const shown = (path: string) => (relative(cwd, path).startsWith("..") ? path : relative(cwd, path));
  const lines = [
    `Local Azure is running (pid ${service.pid}).`,
    `  ARM           ${kept.armEndpoint}`,
    `  Entra         ${kept.authorityHost}  tenant ${kept.tenantId}`,
    `  subscription  ${kept.subscriptionId}`,
    `  CA            ${shown(kept.caBundle)}`,
    ...(service.guests === "linux"
      ? ["  guests        linux: a booted Debian per VM, SSH on port 22 of its public IP"]
      : []),
    ...kept.vms.map((vm) => `  VM ${vm.name}  IMDS ${vm.imdsEndpoint}  SSH ${vm.host}:${vm.sshPort}`),
    `  log           ${shown(service.logFile)}`,
    `Any client, in any shell: eval "$(npm run -s local -- env)"; stop it with npm run local -- stop.`,
  ];
  return `${lines.join("\n")}\n`;
}
