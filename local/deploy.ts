import type { ChildProcess } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { ArmClient } from "../local-azure/armClient";
import { ClientSecretTokenSource } from "../local-azure/entraClient";
import type { Faults, GuestKind, LocalAzure } from "../local-azure/index";
import { mappingFor } from "./armMapping";
import { cloudDir } from "./engineStack";
import { KEPT_FILE, type Keeper, readLiveKept, removeKept, removeStaleKept, writeKept } from "./kept";
import { type StateEntry, stateKey } from "./mocks";
import { hasMandatory, type PolicyViolation, policyVerdict } from "./policyVerdict";
import { deleteResources, heldInCloud } from "./stackInCloud";
import { clearState, readState, writeOutputs, writeState } from "./state";
import { progressLine, type TimelineEvent } from "./timeline";
import { revocationPending, verdictLine } from "./verdict";
import { claimWorker, workersSettled } from "./workerProcess";
import type { WorkerDone, WorkerMessage, WorkerStart } from "./workerProtocol";

export type { TimelineEvent } from "./timeline";

/**
 * deployLocal(): the Pulumi program (index.ts) in Pulumi's mock runtime, in a child process, against a
 * Local Azure running here on the cloud kept in the state folder (or the Local Azure service's), each
 * resource created, updated, replaced or left alone as `pulumi up` would do from the previous run's
 * state. Used by `npm run local`, the e2e suite, the matrix tests and the benchmark.
 */

export const REPO_ROOT = resolve(__dirname, "..");
export const DEFAULT_STATE_DIR = join(REPO_ROOT, ".local-azure");
const PROGRAM_PATH = join(REPO_ROOT, "index.ts");
const CONFIG_NAMESPACE = "vm-identity-access";

/** How the probe reaches the VM (the program's `accessCheckVia`): over SSH, or through Azure's Run Command. */
export const ACCESS_CHECK_VIA = ["ssh", "runCommand"] as const;
export type AccessCheckVia = (typeof ACCESS_CHECK_VIA)[number];

export interface LocalRunOptions {
  identity?: "user" | "system" | "both";
  vmCount?: number;
  grantAccess?: boolean;
  accessCheckTimeoutSeconds?: number;
  /** The program's `accessCheckVia`; unset, the program's default (ssh). */
  accessCheckVia?: AccessCheckVia;
  faults?: Partial<Faults>;
  /** Extra raw settings ("identity" or "vm-identity-access:identity", "azure-native:environment"); they win. */
  config?: Record<string, string>;
  /** Default <repo>/.local-azure */
  stateDir?: string;
  /**
   * The VMs' guests: "portable" (default; an SSH server in Local Azure, which the program reaches through
   * the emulator-only settings armEndpoint and sshPort) or "linux" (booted Debian guests; the program
   * runs with its production settings: ARM at https://management.azure.com, SSH on port 22, IMDS at
   * 169.254.169.254).
   */
  guest?: GuestKind;
  /** Leave Local Azure running (result.azure); the caller stops it. */
  keep?: boolean;
  /**
   * A Local Azure that runs as a service (`npm run local -- start`): deploy into it instead of starting
   * one in this process. Its cloud outlives the run, so the state lists everything the stack holds there.
   */
  service?: DeployTarget;
  /** The Pulumi program to run. Default <repo>/index.ts; tests pass a deliberately bad one. */
  programPath?: string;
  onProgress?: (line: string) => void;
  /** Told as each phase of the run ends, with its epoch ms (npm run local -- --timings: local/phases.ts). */
  onMark?: (name: string, at: number) => void;
}

export interface LocalRunResult {
  /** Deployed and accessCheck verified: the exit-0 condition. */
  ok: boolean;
  /** Exactly what `pulumi stack output --json` prints: secrets as "[secret]". */
  outputs: Record<string, unknown>;
  /** The deployment's error message (a RunError naming failed checks, a settings error…), no stack trace. */
  error: string | null;
  commandStdouts: Array<{ name: string; stdout: string }>;
  timeline: TimelineEvent[];
  wallSeconds: number;
  /** Still running only when keep. */
  azure: LocalAzure | null;
  /** Under the engine with keep: stops the Local Azure the engine runner keeps (instead of `azure`). */
  release?: () => Promise<void>;
  /** The one-line verdict `npm run local` prints (VERIFIED: … / NOT VERIFIED: … / REJECTED BY POLICY: …). */
  verdict: string;
  /** The policy pack's violations (policy/), advisory ones included; a mandatory one fails the run. */
  policyViolations?: PolicyViolation[];
}

/** Where a deployment goes and how the deployer signs in: a LocalAzure of this process, or a service's. */
export interface DeployTarget {
  armEndpoint: string;
  authorityHost: string;
  caCertPem: string;
  subscriptionId: string;
  tenantId: string;
  location: string;
  sshPort: number;
  deployer: { principalId: string; clientId: string; clientSecret: string };
}

/** The deployer's ARM client for a target, signed in with its client secret like any other client. */
export function deployerArm(target: DeployTarget): ArmClient {
  const signIn = new ClientSecretTokenSource({
    authorityHost: target.authorityHost,
    tenantId: target.tenantId,
    clientId: target.deployer.clientId,
    clientSecret: target.deployer.clientSecret,
    scope: `${target.armEndpoint}/.default`,
    caPem: target.caCertPem,
  });
  return new ArmClient(target.armEndpoint, target.caCertPem, () => signIn.token());
}

/** Kept instances of this process, by state dir, so destroyLocal can delete through their ARM. */
const keptInstances = new Map<string, { azure: LocalAzure; resources: StateEntry[] }>();

/**
 * The raw Pulumi config for a run: what the runner always sets, the options, then `config` (which
 * wins). With real guests the program needs none of the emulator's settings. Over SSH, every
 * deployment must choose sshAllowedCidr; through Run Command nothing is opened, so the runner sets
 * neither it (the program refuses it there) nor the SSH port.
 */
export function runnerConfig(
  opts: LocalRunOptions,
  azure: { armEndpoint: string; sshPort: number },
): Record<string, string> {
  const key = (name: string) => (name.includes(":") ? name : `${CONFIG_NAMESPACE}:${name}`);
  // The transport may also come as raw config (the e2e harness sets the program's settings so).
  const configured = opts.config?.accessCheckVia ?? opts.config?.[key("accessCheckVia")];
  const runCommand = (opts.accessCheckVia ?? configured) === "runCommand";
  const config: Record<string, string> = {};
  if (opts.guest !== "linux") {
    // The portable guest: the probe reaches Local Azure's ARM at its own URL, and its SSH server a port of its own.
    config[key("armEndpoint")] = azure.armEndpoint;
    if (!runCommand) config[key("sshPort")] = String(azure.sshPort);
  }
  if (!runCommand) config[key("sshAllowedCidr")] = "127.0.0.1/32";
  if (opts.accessCheckVia !== undefined) config[key("accessCheckVia")] = opts.accessCheckVia;
  if (opts.identity !== undefined) config[key("identity")] = opts.identity;
  if (opts.vmCount !== undefined) config[key("vmCount")] = String(opts.vmCount);
  if (opts.grantAccess !== undefined) config[key("grantAccess")] = String(opts.grantAccess);
  if (opts.accessCheckTimeoutSeconds !== undefined) {
    config[key("accessCheckTimeoutSeconds")] = String(opts.accessCheckTimeoutSeconds);
  }
  for (const [name, value] of Object.entries(opts.config ?? {})) config[key(name)] = value;
  return config;
}

interface Worker {
  child: ChildProcess;
  ready: Promise<void>;
  done: Promise<WorkerDone>;
  /** Hands it back for the next run of this process (only after a run it stays for: WorkerDone.reusable). */
  release: () => void;
}

function startWorker(
  onEvent: (event: TimelineEvent) => void,
  onProgress: (line: string) => void,
  onMark: (name: string, at: number) => void,
): Worker {
  // The worker npm run local forked before it loaded the runner (local/main.ts), else one an earlier
  // run of this process left (local/workerProcess.ts), else a new one.
  const worker = claimWorker();
  const child = worker.child;
  let stderr = "";
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((resolveReady) => {
    markReady = resolveReady;
  });
  const done = new Promise<WorkerDone>((resolveDone, reject) => {
    worker.listen({
      message: (message: WorkerMessage) => {
        if (message.kind === "ready") markReady();
        else if (message.kind === "event") onEvent(message.event);
        else if (message.kind === "progress") onProgress(message.line);
        else if (message.kind === "mark") onMark(message.name, message.at);
        else if (message.kind === "done") resolveDone(message);
      },
      exit: (code, signal) => {
        const tail = stderr.trim().split("\n").slice(-5).join("\n");
        reject(new Error(`the runner's worker exited early (${signal ?? `exit ${code}`})${tail ? `: ${tail}` : ""}`));
      },
      error: reject,
      stderr: (chunk) => {
        stderr = (stderr + chunk.toString()).slice(-4000);
      },
    });
  });
  if (worker.runsBefore === 0) onMark("worker forked", worker.forkedAt);
  else onMark(`worker reused (it reported ${worker.runsBefore} run(s) before)`, Date.now());
  done.catch(() => undefined);
  const loaded = done.then(() => undefined);
  // An early exit is reported through `done`; this derived promise must not be an unhandled rejection.
  loaded.catch(() => undefined);
  return { child, ready: Promise.race([ready, loaded]), done, release: () => worker.release() };
}

function identityOf(config: Record<string, string>): string {
  return config[`${CONFIG_NAMESPACE}:identity`] ?? "user";
}

export async function deployLocal(opts: LocalRunOptions = {}): Promise<LocalRunResult> {
  const runStart = Date.now();
  const stateDir = resolve(opts.stateDir ?? DEFAULT_STATE_DIR);
  const timeline: TimelineEvent[] = [];
  // A worker an earlier run of this process released is ready for this one within milliseconds, or gone.
  await workersSettled();
  const worker = startWorker(
    (event) => {
      timeline.push(event);
      opts.onProgress?.(progressLine(event));
    },
    (line) => opts.onProgress?.(line),
    (name, at) => opts.onMark?.(name, at),
  );
  const mark = (name: string) => opts.onMark?.(name, Date.now());
  let azure: LocalAzure | null = null;
  // Whether the worker stays for another run: it says so in its report, and nothing here failed since.
  let reusable = false;
  try {
    // Local Azure starts while the worker loads Pulumi and the SDKs (unless a service runs it), on the
    // cloud kept in the state folder, as a real cloud keeps what the last `pulumi up` made there.
    let target: DeployTarget;
    if (opts.service) target = opts.service;
    else {
      const { LocalAzure: LocalAzureClass } = await import("../local-azure/index");
      azure = await LocalAzureClass.start({ faults: opts.faults, guests: opts.guest, persistDir: cloudDir(stateDir) });
      target = azure;
      mark("Local Azure started (its kept cloud restored)");
    }
    const config = runnerConfig(opts, target);
    const previous = readState(stateDir)?.resources ?? {};
    const start: WorkerStart = {
      kind: "start",
      config,
      azure: {
        armEndpoint: target.armEndpoint,
        caCertPem: target.caCertPem,
        subscriptionId: target.subscriptionId,
        tenantId: target.tenantId,
        deployer: target.deployer,
        authorityHost: target.authorityHost,
        location: opts.service ? target.location : "eastus",
      },
      previous,
      runStart,
      programPath: opts.programPath ?? PROGRAM_PATH,
    };
    await worker.ready;
    mark("worker ready (Pulumi, the SDKs and the policy pack loaded)");
    worker.child.send(start);
    const done = await worker.done;
    reusable = done.reusable;
    mark("worker done");
    markChecks(done.timeline, runStart, opts.onMark);

    const accessCheck = done.outputs.accessCheck ?? done.failedAccessCheck;
    const policyViolations = done.policyViolations ?? [];
    const verified = (done.outputs.accessCheck as { verified?: unknown } | undefined)?.verified === true;
    const ok = done.error === null && verified;
    // An update that only removes a grant succeeds without proving anything yet: its verdict says so.
    const pending = done.error === null && revocationPending(done.outputs.accessCheck) !== undefined;
    const error =
      done.error ?? (ok || pending ? null : "the deployment finished without a verified accessCheck output");
    // What the stack holds now: the worker deleted what left the program after a successful run (a
    // deletion that failed left its resource listed). Null: the state stays as it was (stateToWrite).
    const held = done.resources ?? Object.values(previous);
    if (done.resources !== null) writeState(stateDir, held, target.armEndpoint);
    writeOutputs(stateDir, done.outputs);
    mark("state and outputs written");
    if (opts.keep && azure) {
      keptInstances.set(stateDir, { azure, resources: held });
      // Where any client finds this Local Azure while it runs (npm run local -- env renders it).
      const vmIds = held
        .filter((entry) => entry.type === "azure-native:compute:VirtualMachine")
        .map((entry) => entry.id);
      writeKept(stateDir, azure, vmIds);
    }
    return {
      ok,
      outputs: done.outputs,
      error,
      commandStdouts: done.commandStdouts,
      timeline: done.timeline.length >= timeline.length ? done.timeline : timeline,
      wallSeconds: (Date.now() - runStart) / 1000,
      azure: opts.keep ? azure : null,
      verdict: hasMandatory(policyViolations)
        ? policyVerdict(policyViolations)
        : verdictLine({ ok, accessCheck, error, identity: identityOf(config) }),
      policyViolations,
    };
  } catch (caught) {
    reusable = false;
    const error = caught instanceof Error ? caught.message : String(caught);
    return {
      ok: false,
      outputs: {},
      error,
      commandStdouts: [],
      timeline,
      wallSeconds: (Date.now() - runStart) / 1000,
      azure: opts.keep ? azure : null,
      verdict: verdictLine({ ok: false, accessCheck: null, error, identity: opts.identity ?? "user" }),
    };
  } finally {
    if (reusable) worker.release();
    else if (worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill("SIGKILL");
    if (!opts.keep && azure) {
      await azure.stop();
      mark("Local Azure stopped (its cloud kept)");
    }
  }
}

/** The type tokens of the resources that run the check on a VM: over SSH, and through Run Command. */
const CHECK_TYPES = new Set([
  "command:remote:Command",
  "azure-native:compute:VirtualMachineRunCommandByVirtualMachine",
]);

/** Marks where the checks ran (from the first one's start to the last one's end) and the first resource began. */
export function markChecks(timeline: TimelineEvent[], runStart: number, onMark: LocalRunOptions["onMark"]): void {
  if (!onMark || timeline.length === 0) return;
  onMark("first resource began", runStart + Math.min(...timeline.map((event) => event.startedAt)));
  const checks = timeline.filter((event) => CHECK_TYPES.has(event.type) && event.operation !== "same");
  if (checks.length === 0) return;
  onMark("check began (the probe on the first VM)", runStart + Math.min(...checks.map((event) => event.startedAt)));
  onMark("check ended (the last VM's probe judged)", runStart + Math.max(...checks.map((event) => event.finishedAt)));
}

export interface DestroyOptions {
  stateDir?: string;
  onProgress?: (line: string) => void;
  /** The Local Azure service that holds the stack's resources (`npm run local -- start`). */
  service?: DeployTarget;
}

/** What destroyLocal did: deleted through a kept Local Azure's ARM, or only cleared the local state. */
export type DestroyOutcome = "deleted" | "cleared";

/**
 * Deletes the stack through ARM in reverse dependency order: the Local Azure this process keeps
 * running, the service's, the one another process keeps (asked to), or one started here on the kept
 * cloud; when no cloud holds the stack any more, only clears the local state. Says which.
 */
export async function destroyLocal(opts: DestroyOptions = {}): Promise<DestroyOutcome> {
  const stateDir = resolve(opts.stateDir ?? DEFAULT_STATE_DIR);
  const say = opts.onProgress ?? (() => undefined);
  const kept = keptInstances.get(stateDir);
  let outcome: DestroyOutcome = "cleared";
  if (kept) {
    await deleteResources(kept.azure.arm, kept.resources, say);
    keptInstances.delete(stateDir);
    outcome = "deleted";
    say("Deleted every resource through Local Azure's ARM, dependents first; cleared the local state.");
  } else if (opts.service) {
    const resources = Object.values(readState(stateDir)?.resources ?? {});
    await deleteResources(deployerArm(opts.service), resources, say);
    outcome = "deleted";
    say(
      resources.length > 0
        ? "Deleted every resource of the stack through the Local Azure service, dependents first; cleared the local state."
        : "The local stack holds nothing in the Local Azure service; cleared the local state.",
    );
    clearState(stateDir);
    return outcome;
  } else {
    const keeper = keptElsewhere(stateDir);
    if (keeper !== null && keeper.destroySignal === undefined) {
      // Not `npm run local -- --keep` (the engine's run, or a service starting): it deletes nothing
      // when asked, and the signal would kill it. Its cloud is in use: nothing is deleted or cleared.
      throw new Error(
        `process ${keeper.pid} keeps the Local Azure of ${stateDir} and does not delete on request: stop it first (Ctrl-C), then npm run local -- destroy`,
      );
    }
    if (keeper !== null && (await askKeeperToDestroy(stateDir, keeper))) {
      say(`Deleted every resource through the Local Azure kept by process ${keeper.pid}; cleared the local state.`);
      return "deleted";
    }
    // A kept.json left by a keeper that is gone, or whose PID another program has now: never signalled.
    const stale = keeper === null ? removeStaleKept(stateDir) : null;
    if (stale !== null) say(`Removed a stale kept.json: ${stale.replace(/; start it with .*$/, "")}.`);
    if (keeper !== null) {
      say(`Local Azure kept by process ${keeper.pid} did not answer; cleared the local state (stop it with Ctrl-C).`);
    } else if (!Object.values(readState(stateDir)?.resources ?? {}).some((entry) => mappingFor(entry.type))) {
      say("The local stack holds nothing; cleared the local state.");
    } else if (await deleteInKeptCloud(stateDir, say)) {
      outcome = "deleted";
      say(
        "Deleted every resource of the stack through the kept cloud's ARM, dependents first; cleared the local state.",
      );
    } else {
      say("No Local Azure holds the stack's resources (their cloud is gone); cleared the local state.");
    }
  }
  clearState(stateDir);
  removeKept(stateDir);
  mkdirSync(stateDir, { recursive: true });
  return outcome;
}

/**
 * Deletes the local stack's resources from the cloud kept in the state folder, through a Local Azure
 * started on it for the purpose; false when that cloud does not hold them (no kept cloud, or another).
 */
async function deleteInKeptCloud(stateDir: string, say: (line: string) => void): Promise<boolean> {
  const resources = readState(stateDir)?.resources ?? {};
  const { readCloud } = await import("../local-azure/persist");
  if (!readCloud(cloudDir(stateDir))) return false;
  const { LocalAzure: LocalAzureClass } = await import("../local-azure/index");
  const azure = await LocalAzureClass.start({ persistDir: cloudDir(stateDir) });
  try {
    if (!(await heldInCloud(azure.arm, resources))) return false;
    await deleteResources(azure.arm, Object.values(resources), say);
  } finally {
    await azure.stop();
  }
  return true;
}

/** The signal a process that keeps Local Azure (`npm run local -- --keep`) answers by destroying the stack. */
export const DESTROY_SIGNAL = "SIGUSR2";

/**
 * The live keeper of this state dir's Local Azure when it is another process, or null: checked by
 * identity (readLiveKept), so a PID the kernel gave to another program is never taken for it.
 */
function keptElsewhere(stateDir: string): Keeper | null {
  const lookup = readLiveKept(stateDir);
  return "kept" in lookup && lookup.keeper.pid !== process.pid ? lookup.keeper : null;
}

/** Signals the keeper and waits (up to timeoutMs) until it has deleted the stack and removed kept.json. */
async function askKeeperToDestroy(stateDir: string, keeper: Keeper, timeoutMs = 30_000): Promise<boolean> {
  const keptFile = join(stateDir, KEPT_FILE);
  process.kill(keeper.pid, keeper.destroySignal ?? DESTROY_SIGNAL);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!existsSync(keptFile)) return true;
    await new Promise((resolveWait) => setTimeout(resolveWait, 100));
  }
  return false;
}

export { deletionOrder, settle } from "./stackInCloud";
/** For the state file's readers: the key of a resource in state.json. */
export { stateKey };
