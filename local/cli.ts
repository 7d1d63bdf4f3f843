/**
 * `npm run local`: deploys the stack to Local Azure (the service when one runs, else a fresh one in
 * this process) and checks access; `output [NAME] [--json]` prints the last run's outputs like `pulumi
 * stack output`; `destroy` deletes the stack; `env` prints `export` lines for a shell to eval while a
 * Local Azure runs; `start`, `status` and `stop` run Local Azure as a service.
 * Exit codes: 0 verified, 1 not verified or failed, 2 bad flags; `status`: 0 running, 3 not.
 */
import { existsSync, rmSync } from "node:fs";
import { relative, resolve } from "node:path";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import type { Faults, GuestKind } from "../local-azure/index";
import { hostFacts, realGuestsUnavailable } from "../local-azure/linuxGuest/host";
import type { VirtualClock } from "../local-azure/virtualClock";
import {
  ACCESS_CHECK_VIA,
  type AccessCheckVia,
  DEFAULT_STATE_DIR,
  DESTROY_SIGNAL,
  deployLocal,
  destroyLocal,
  type LocalRunOptions,
  type LocalRunResult,
} from "./deploy";
import { deployWithEngine, destroyWithEngine, engineMissing } from "./engineBridge";
import { backendDir, cloudDir } from "./engineStack";
import {
  parseArmThrottle,
  parseCount,
  parseDelaySeconds,
  parseImdsBurst,
  parseTimeoutSeconds,
  parseVmCount,
} from "./flags";
import { recordDestroySignal, removeKept, renderEnv } from "./kept";
import { outputsJson, outputsTable, singleOutput } from "./outputFormat";
import { launchedAt, type PhaseMark, phaseTable } from "./phases";
import { violationLine } from "./policyVerdict";
import {
  guestsInService,
  type RunningService,
  runningService,
  START_COMMAND,
  serviceStatus,
  serviceStatusText,
  startService,
  stopService,
} from "./service";
import { readOutputs, readState } from "./state";

/** When this module and everything it imports had loaded: the runner's own start-up ends here (--timings). */
const LOADED_AT = Date.now();

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Resolves when the user asks a kept Local Azure to stop (Ctrl-C). */
  waitForInterrupt?: () => Promise<void>;
  /** Replaces deployLocal (tests). */
  deploy?: (opts: LocalRunOptions) => Promise<LocalRunResult>;
  /** Replaces the check for a built CLI (tests): why --engine cannot run, or null. */
  engineMissing?: () => string | null;
  /**
   * Replaces the lookup of a running Local Azure service (tests). With `deploy` replaced and this
   * not given, there is none: a test's fake deployment never meets the developer's own service.
   */
  findService?: (stateDir: string) => RunningService | null;
  /** Replaces when `npm run local` began (tests; local/phases.ts). */
  launchedAt?: () => number;
  /** Replaces the check of this machine (tests): why --guest linux cannot run, or null. */
  realGuestsMissing?: () => string | null;
  /**
   * The clock the run's Local Azure runs on (tests: a virtual clock, local-azure/virtualClock.ts, so
   * that the probe's waits are not waited for). It joins the faults, so a running service refuses it.
   */
  clock?: VirtualClock;
}

/** The service a run uses, if one runs in its state folder. */
function serviceFor(io: CliIo, stateDir: string): RunningService | null {
  const find = io.findService ?? (io.deploy ? () => null : runningService);
  return find(stateDir);
}

/** What deployLocal and the engine need of a running service. */
export function serviceTarget(service: RunningService): NonNullable<LocalRunOptions["service"]> {
  return {
    armEndpoint: service.kept.armEndpoint,
    authorityHost: service.kept.authorityHost,
    caCertPem: service.caCertPem,
    subscriptionId: service.kept.subscriptionId,
    tenantId: service.kept.tenantId,
    location: service.location,
    sshPort: service.sshPort,
    deployer: service.deployer,
  };
}

/** Flag values as commander hands them to the root action. */
interface DeployFlags {
  identity?: "user" | "system" | "both";
  vmCount?: number;
  grant: boolean;
  timeout?: number;
  rbacDelay?: number;
  revocationDelay?: number;
  identityAttachDelay?: number;
  sshNotReady?: number;
  imdsBurst?: NonNullable<Faults["imdsBurst"]>;
  armThrottle?: Faults["armThrottle"];
  armUnauthorized?: number;
  keep?: boolean;
  stateDir?: string;
  engine?: boolean;
  guest?: GuestKind;
  checkVia?: AccessCheckVia;
  timings?: boolean;
}

function argument<T>(parse: (text: string) => T): (text: string) => T {
  return (text) => {
    try {
      return parse(text);
    } catch (error) {
      throw new InvalidArgumentError((error as Error).message);
    }
  };
}

/** deployLocal's options from the flags (pure; exported for tests). */
export function deployOptionsFromFlags(flags: DeployFlags): LocalRunOptions {
  const faults: Partial<Faults> = {};
  if (flags.rbacDelay !== undefined) faults.rbacDelaySeconds = flags.rbacDelay;
  if (flags.revocationDelay !== undefined) faults.revocationDelaySeconds = flags.revocationDelay;
  if (flags.identityAttachDelay !== undefined) faults.identityAttachDelaySeconds = flags.identityAttachDelay;
  if (flags.sshNotReady !== undefined) faults.sshNotReadySeconds = flags.sshNotReady;
  if (flags.imdsBurst !== undefined) faults.imdsBurst = flags.imdsBurst;
  if (flags.armThrottle !== undefined) faults.armThrottle = flags.armThrottle;
  if (flags.armUnauthorized !== undefined) faults.armUnauthorized = { count: flags.armUnauthorized };
  const options: LocalRunOptions = { grantAccess: flags.grant };
  if (flags.identity !== undefined) options.identity = flags.identity;
  if (flags.vmCount !== undefined) options.vmCount = flags.vmCount;
  if (flags.timeout !== undefined) options.accessCheckTimeoutSeconds = flags.timeout;
  if (Object.keys(faults).length > 0) options.faults = faults;
  if (flags.keep) options.keep = true;
  if (flags.stateDir !== undefined) options.stateDir = flags.stateDir;
  if (flags.guest === "linux") options.guest = "linux";
  if (flags.checkVia !== undefined) options.accessCheckVia = flags.checkVia;
  return options;
}

/** The tutorial's two curl commands, pointed at a kept Local Azure (the token stays a placeholder). */
export function tutorialCurlCommands(opts: {
  imdsEndpoint: string;
  armEndpoint: string;
  caCertPath: string;
  subscriptionId: string;
  resourceGroup: string;
  clientId?: string;
}): string[] {
  const resource = encodeURIComponent(`${opts.armEndpoint}/`);
  const selector = opts.clientId ? `&client_id=${opts.clientId}` : "";
  return [
    `curl -H Metadata:true '${opts.imdsEndpoint}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=${resource}${selector}'`,
    `curl --cacert '${opts.caCertPath}' '${opts.armEndpoint}/subscriptions/${opts.subscriptionId}/resourceGroups/${opts.resourceGroup}?api-version=2016-09-01' -H 'Authorization: Bearer <ACCESS_TOKEN>'`,
  ];
}

async function deployCommand(flags: DeployFlags, io: CliIo): Promise<number> {
  const options = deployOptionsFromFlags(flags);
  if (io.clock) options.faults = { ...options.faults, clock: io.clock };
  if (options.guest === "linux") {
    const missing = (io.realGuestsMissing ?? (() => realGuestsUnavailable(hostFacts())))();
    if (missing) {
      io.stderr(`error: ${missing}\n`);
      return 2;
    }
  }
  if (flags.engine) {
    const missing = (io.engineMissing ?? engineMissing)();
    if (missing) {
      io.stderr(`error: ${missing}\n`);
      return 2;
    }
  }
  const service = serviceFor(io, options.stateDir ?? DEFAULT_STATE_DIR);
  if (service) {
    const refused = useService(service, options, flags.engine === true, flags.guest);
    if (refused) {
      io.stderr(`error: ${refused}\n`);
      return 2;
    }
  }
  const deploy = io.deploy ?? (flags.engine ? deployWithEngine : deployLocal);
  io.stdout("Deploying vm-identity-access to Local Azure (offline)...\n");
  if (service) io.stdout(`Into the Local Azure service (pid ${service.pid}, ARM ${service.kept.armEndpoint}).\n`);
  const marks: PhaseMark[] = [
    { name: "this process started (node with tsx's loader)", at: performance.timeOrigin },
    { name: "runner loaded (its modules imported)", at: LOADED_AT },
    { name: "flags read, the run begins", at: Date.now() },
  ];
  const result = await deploy({
    ...options,
    onProgress: (line) => io.stdout(`${line}\n`),
    onMark: (name, at) => marks.push({ name, at }),
  });
  io.stdout(`\n${outputsTable(result.outputs)}\n`);
  const violations = result.policyViolations ?? [];
  if (violations.length > 0) {
    io.stdout(`\nPolicy violations (policy/):\n${violations.map((v) => `  ${violationLine(v)}\n`).join("")}`);
  }
  if (result.error && !result.ok) io.stderr(`error: ${result.error}\n`);
  io.stdout(`${result.verdict}\n`);
  io.stdout(`(${result.wallSeconds.toFixed(2)} s)\n`);
  if (flags.timings) {
    marks.push({ name: "verdict printed", at: Date.now() });
    io.stdout(`\n${phaseTable(marks, (io.launchedAt ?? launchedAt)())}\n`);
  }
  if (service && flags.keep) {
    printServiceKeepInstructions(result, options, service, io);
    return result.ok ? 0 : 1;
  }
  if (options.keep && result.release) {
    // Under the engine: the engine runner keeps Local Azure; the real CLI works in another shell.
    try {
      io.stdout(
        '\nThe real CLI, in another shell: eval "$(npm run -s local -- env)", then pulumi stack output accessCheck,\n' +
          "pulumi preview or pulumi destroy. Local Azure keeps running; press Ctrl-C to stop it.\n",
      );
      await (io.waitForInterrupt ?? waitForSigint)();
    } finally {
      await result.release();
    }
  }
  if (options.keep && result.azure) {
    const azure = result.azure;
    try {
      printKeepInstructions(result, options, io);
      io.stdout(
        '\nAny Azure SDK client or tool, in another shell: eval "$(npm run -s local -- env)"\n' +
          "Local Azure keeps running; press Ctrl-C to stop it (npm run local -- destroy deletes the stack in it).\n",
      );
      // `npm run local -- destroy` in another terminal asks this process to delete through its ARM.
      const onDestroy = () =>
        void destroyLocal({ stateDir: options.stateDir, onProgress: (line) => io.stdout(`${line}\n`) }).catch((error) =>
          io.stderr(`error: ${(error as Error).message}\n`),
        );
      process.on(DESTROY_SIGNAL, onDestroy);
      // Only now may `destroy` signal this process: without the handler the signal would kill it.
      recordDestroySignal(options.stateDir ?? DEFAULT_STATE_DIR, DESTROY_SIGNAL);
      try {
        await (io.waitForInterrupt ?? waitForSigint)();
      } finally {
        process.off(DESTROY_SIGNAL, onDestroy);
      }
    } finally {
      // Nothing is kept once it stops: kept.json goes first, so no client is sent to a dead endpoint.
      removeKept(options.stateDir ?? DEFAULT_STATE_DIR);
      await azure.stop();
    }
  }
  return result.ok ? 0 : 1;
}

function printKeepInstructions(result: LocalRunResult, options: LocalRunOptions, io: CliIo): void {
  const azure = result.azure;
  if (!azure) return;
  const state = readState(options.stateDir ?? DEFAULT_STATE_DIR);
  const vm = Object.values(state?.resources ?? {}).find(
    (entry) => entry.type === "azure-native:compute:VirtualMachine",
  );
  const runtime = vm ? azure.vmRuntime(vm.id) : undefined;
  const identity = result.outputs.identity as { clientId?: string } | null | undefined;
  const resourceGroup = result.outputs.resourceGroupName;
  if (!runtime || typeof resourceGroup !== "string") {
    io.stdout("\nNo VM was created, so there is no IMDS to point the tutorial's commands at.\n");
    return;
  }
  const [tokenCurl, armCurl] = tutorialCurlCommands({
    imdsEndpoint: runtime.imdsEndpoint,
    armEndpoint: azure.armEndpoint,
    caCertPath: azure.caCertPath,
    subscriptionId: azure.subscriptionId,
    resourceGroup,
    clientId: options.identity === "system" ? undefined : identity?.clientId,
  });
  io.stdout(
    `\nThe tutorial's check by hand, against ${vm?.name}'s IMDS and Local Azure's ARM:\n  ${tokenCurl}\n  ${armCurl}\n`,
  );
  const ssh = (result.outputs.vms as Array<{ sshCommand?: string }> | undefined)?.[0]?.sshCommand;
  if (ssh) io.stdout(`On the VM itself: ${ssh} (the admin key is in the local state.json, never printed)\n`);
}

/**
 * Points the run at a running service (sets options.service), or says why it cannot: fault flags set
 * a Local Azure's faults when it starts, and the service has its own. With the service, nothing needs
 * keeping: `--keep` prints where things are and returns.
 */
function useService(
  service: RunningService,
  options: LocalRunOptions,
  engine: boolean,
  askedGuests: GuestKind | undefined,
): string | null {
  if (options.faults) {
    return (
      `the Local Azure service (pid ${service.pid}) runs with the faults it was started with; fault flags apply ` +
      "to a Local Azure that starts: stop it (npm run local -- stop), then run this again, or start it with them " +
      `(${START_COMMAND} --rbac-delay 45)`
    );
  }
  // The service's guests were set when it started: the run deploys for those (no flag needed).
  const guests = guestsInService(service, askedGuests);
  if ("refused" in guests) return guests.refused;
  if (guests.guests === "linux") options.guest = "linux";
  // The engine runner finds the service itself (same state folder); the mock runner is handed it.
  if (!engine) options.service = serviceTarget(service);
  delete options.keep;
  return null;
}

/** `--keep` with a service: the tutorial's commands against it, and that it runs on. */
function printServiceKeepInstructions(
  result: LocalRunResult,
  options: LocalRunOptions,
  service: RunningService,
  io: CliIo,
): void {
  // The service lists its VMs in kept.json as they start: read it again, after the run. It may hold
  // other stacks' VMs too: this run's first VM is the one its outputs name.
  const now = runningService(options.stateDir ?? DEFAULT_STATE_DIR) ?? service;
  const vmName = (result.outputs.vms as Array<{ name?: string }> | undefined)?.[0]?.name;
  const vm = now.kept.vms.find((candidate) => candidate.name === vmName);
  const resourceGroup = result.outputs.resourceGroupName;
  if (vm && typeof resourceGroup === "string") {
    const identity = result.outputs.identity as { clientId?: string } | null | undefined;
    const [tokenCurl, armCurl] = tutorialCurlCommands({
      imdsEndpoint: vm.imdsEndpoint,
      armEndpoint: now.kept.armEndpoint,
      caCertPath: now.kept.caBundle,
      subscriptionId: now.kept.subscriptionId,
      resourceGroup,
      clientId: options.identity === "system" ? undefined : identity?.clientId,
    });
    io.stdout(
      `\nThe tutorial's check by hand, against ${vm.name}'s IMDS and Local Azure's ARM:\n  ${tokenCurl}\n  ${armCurl}\n`,
    );
  }
  io.stdout(
    `\nThe Local Azure service (pid ${now.pid}) keeps running: any client, in any shell, after ` +
      'eval "$(npm run -s local -- env)"; npm run local -- stop stops it.\n',
  );
}

function waitForSigint(): Promise<void> {
  // A pending promise alone does not keep Node running: hold the event loop open until Ctrl-C.
  const keepAlive = setInterval(() => undefined, 60_000);
  return new Promise((resolve) =>
    process.once("SIGINT", () => {
      clearInterval(keepAlive);
      resolve();
    }),
  );
}

/**
 * Deletes the stack: the mock runner's, then the engine's (real pulumi destroy when built); the kept
 * cloud is emptied, unless the service holds it (it runs on, without the stacks' resources).
 */
async function destroyCommand(stateDir: string, io: CliIo): Promise<number> {
  const say = (line: string) => io.stdout(`${line}\n`);
  const service = serviceFor(io, stateDir);
  if (service) return destroyInService(stateDir, service, say);
  await destroyLocal({ stateDir, onProgress: say });
  if (!existsSync(cloudDir(stateDir)) && !existsSync(backendDir(stateDir))) return 0;
  if (engineMissing() === null) {
    const code = await destroyWithEngine(stateDir, say);
    say(
      code === 0
        ? "Stack local is destroyed and removed; the kept cloud is empty."
        : "pulumi destroy failed; the kept cloud was emptied anyway.",
    );
    return code === 0 ? 0 : 1;
  }
  rmSync(cloudDir(stateDir), { recursive: true, force: true });
  rmSync(backendDir(stateDir), { recursive: true, force: true });
  say("Emptied the kept cloud and the engine's local state (the engine is not built, so pulumi destroy did not run).");
  return 0;
}

/** `destroy` with the service running: both stacks' resources go through its ARM; it runs on. */
async function destroyInService(
  stateDir: string,
  service: RunningService,
  say: (line: string) => void,
): Promise<number> {
  await destroyLocal({ stateDir, onProgress: say, service: serviceTarget(service) });
  if (!existsSync(backendDir(stateDir))) return 0;
  if (engineMissing() !== null) {
    say(
      `The engine is not built, so pulumi destroy cannot run: stack local's resources stay in the Local Azure service (pid ${service.pid}).`,
    );
    return 1;
  }
  const code = await destroyWithEngine(stateDir, say);
  say(
    code === 0
      ? `Stack local is destroyed and removed; the Local Azure service (pid ${service.pid}) runs on.`
      : "pulumi destroy failed (see above); the Local Azure service runs on.",
  );
  return code === 0 ? 0 : 1;
}

function outputCommand(name: string | undefined, flags: { json?: boolean; stateDir?: string }, io: CliIo): number {
  const stateDir = flags.stateDir ?? DEFAULT_STATE_DIR;
  let outputs: Record<string, unknown> | null;
  try {
    outputs = readOutputs(stateDir);
  } catch (error) {
    io.stderr(`error: ${(error as Error).message}\n`);
    return 1;
  }
  if (outputs === null) {
    io.stderr(`error: no local stack outputs in ${stateDir}: run npm run local first\n`);
    return 1;
  }
  if (name === undefined) {
    io.stdout(flags.json ? outputsJson(outputs) : outputsTable(outputs));
    return 0;
  }
  try {
    io.stdout(singleOutput(outputs, name, flags.json === true));
    return 0;
  } catch (error) {
    io.stderr(`error: ${(error as Error).message}\n`);
    return 2;
  }
}

export function buildProgram(io: CliIo, setResult: (work: Promise<number>) => void): Command {
  const program = new Command("npm run local --")
    .description("Deploy the stack to Local Azure (offline) and prove the VM's identity can read its resource group")
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .showHelpAfterError(false)
    .addOption(
      new Option("--identity <kind>", "which managed identities the VM gets").choices(["user", "system", "both"]),
    )
    .option("--vm-count <n>", "VMs sharing the user-assigned identity (1-10)", argument(parseVmCount))
    .addOption(
      new Option(
        "--check-via <transport>",
        "how the probe reaches the VM: ssh (public IP, SSH from this machine) or runCommand (Azure's Run Command: no public IP, no inbound rule)",
      ).choices(ACCESS_CHECK_VIA),
    )
    .option("--no-grant", "the negative control: grant nothing and prove denial")
    .option("--timeout <seconds>", "the probe's deadline (30-3600)", argument(parseTimeoutSeconds))
    .option(
      "--rbac-delay <seconds>",
      "fault: a new role assignment takes effect after this long",
      argument(parseDelaySeconds),
    )
    .option(
      "--revocation-delay <seconds>",
      "fault: a deleted role assignment keeps authorizing this long (default: the --rbac-delay)",
      argument(parseDelaySeconds),
    )
    .option(
      "--identity-attach-delay <seconds>",
      'fault: IMDS answers "Identity not found" this long after attach',
      argument(parseDelaySeconds),
    )
    .option(
      "--ssh-not-ready <seconds>",
      "fault: the VM refuses SSH this long after creation",
      argument(parseDelaySeconds),
    )
    .option(
      "--imds-burst <status:count>",
      "fault: the next COUNT token requests answer STATUS (404|410|429|500|503)",
      argument(parseImdsBurst),
    )
    .option(
      "--arm-throttle <count[:retryAfter]>",
      "fault: the next COUNT identity ARM requests answer 429",
      argument(parseArmThrottle),
    )
    .option(
      "--arm-unauthorized <count>",
      "fault: the next COUNT identity ARM requests answer 401",
      argument(parseCount),
    )
    .option("--keep", "leave Local Azure running (Ctrl-C stops it) and print the tutorial's curl commands")
    .option("--timings", "after the verdict, print where the run's time went, from when npm run local began")
    .option(
      "--engine",
      "the real pulumi up (built by npm run engine:build) against a Local Azure kept in .local-azure/ between runs",
    )
    .addOption(
      // No commander default: unset is the portable guest, and `start` tells flags given from flags left out.
      new Option(
        "--guest <kind>",
        "the VMs' guests: portable (the default: an SSH server in Local Azure; any OS) or linux (booted Debian guests; root, npm run guest:build)",
      ).choices(["portable", "linux"]),
    )
    .option("--state-dir <dir>", "where the local stack state lives", DEFAULT_STATE_DIR)
    .action((flags: DeployFlags) => setResult(deployCommand(flags, io)));
  program
    .command("output")
    .description("print the last run's outputs like `pulumi stack output`")
    .argument("[name]", "one output")
    .option("--json", "as JSON")
    .action((name: string | undefined, flags: { json?: boolean }) =>
      setResult(Promise.resolve(outputCommand(name, { ...flags, stateDir: program.opts().stateDir }, io))),
    );
  program
    .command("env")
    .description(
      "print export lines for a shell to eval: the running Local Azure for the Azure SDKs and the Azure CLI, and the built pulumi",
    )
    .action(() => {
      const answer = renderEnv(program.opts().stateDir);
      io.stdout(answer.stdout);
      io.stderr(answer.stderr);
      setResult(Promise.resolve(answer.code));
    });
  addServiceCommands(program, io, setResult);
  program
    .command("destroy")
    .description("delete the stack from the kept cloud (and the engine's stack), then clear the local state")
    .action(() => setResult(destroyCommand(program.opts().stateDir, io)));
  return program;
}

/** The flags `start` takes: the faults and the guests the service runs with, and the state folder. */
const START_FLAGS = [
  "rbacDelay",
  "revocationDelay",
  "identityAttachDelay",
  "sshNotReady",
  "imdsBurst",
  "armThrottle",
  "armUnauthorized",
  "guest",
  "stateDir",
];

/** `start`, `status` and `stop`: Local Azure as a background service (local/service.ts). */
function addServiceCommands(program: Command, io: CliIo, setResult: (work: Promise<number>) => void): void {
  const stateDir = () => program.opts<DeployFlags>().stateDir ?? DEFAULT_STATE_DIR;
  program
    .command("start")
    .description(
      "run Local Azure in the background (it outlives this shell) on the kept cloud in .local-azure/cloud; the fault flags set its faults",
    )
    .action(() => setResult(startCommand(program.opts<DeployFlags>(), stateDir(), io)));
  program
    .command("status")
    .description(
      "whether Local Azure runs as a service, and where it listens (exit 0 while it runs, 3 when it does not)",
    )
    .action(() => setResult(Promise.resolve(statusCommand(stateDir(), io))));
  program
    .command("stop")
    .description("stop the Local Azure service (its cloud stays in .local-azure/cloud for the next start)")
    .action(() => setResult(stopCommand(stateDir(), io)));
}

async function startCommand(flags: DeployFlags, stateDir: string, io: CliIo): Promise<number> {
  const deployOnly = Object.entries(flags)
    .filter(([name, value]) => value !== undefined && !START_FLAGS.includes(name))
    .filter(([name, value]) => !(name === "grant" && value === true))
    .map(([name]) => `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`).replace(/^grant$/, "no-grant")}`)
    .sort();
  if (deployOnly.length > 0) {
    io.stderr(
      `error: start takes only the fault flags (--rbac-delay, --revocation-delay, --identity-attach-delay, --ssh-not-ready, --imds-burst, --arm-throttle, --arm-unauthorized), --guest and --state-dir; not ${deployOnly.join(", ")}\n`,
    );
    return 2;
  }
  if (flags.guest === "linux") {
    const missing = (io.realGuestsMissing ?? (() => realGuestsUnavailable(hostFacts())))();
    if (missing) {
      io.stderr(`error: ${missing}\n`);
      return 2;
    }
  }
  const outcome = await startService(stateDir, deployOptionsFromFlags(flags).faults, flags.guest ?? "portable");
  if ("already" in outcome) {
    const guests = guestsInService(outcome.already, flags.guest);
    if ("refused" in guests) {
      io.stderr(`error: ${guests.refused}\n`);
      return 2;
    }
    io.stdout(
      `Local Azure is already running (pid ${outcome.already.pid}, ARM ${outcome.already.kept.armEndpoint}).\n`,
    );
    return 0;
  }
  io.stdout(serviceStatusText(outcome.started));
  return 0;
}

/** As `systemctl status`: 0 while it runs, 3 when it does not. */
function statusCommand(stateDir: string, io: CliIo): number {
  const lookup = serviceStatus(stateDir);
  if ("running" in lookup) {
    io.stdout(serviceStatusText(lookup.running));
    return 0;
  }
  if ("starting" in lookup) {
    io.stdout(`Local Azure is starting (pid ${lookup.starting}).\n`);
    return 3;
  }
  io.stdout(`${lookup.stopped}; start it with ${START_COMMAND}\n`);
  return 3;
}

async function stopCommand(stateDir: string, io: CliIo): Promise<number> {
  const outcome = await stopService(stateDir);
  const cloud = relative(process.cwd(), cloudDir(stateDir));
  io.stdout(
    outcome === "stopped"
      ? `Local Azure stopped; its cloud stays in ${cloud.startsWith("..") ? cloudDir(resolve(stateDir)) : cloud} for the next start (npm run local -- destroy empties it).\n`
      : outcome === "not running"
        ? "Local Azure is not running.\n"
        : `Local Azure is not running: ${outcome.stale}.\n`,
  );
  return 0;
}

/** Runs the CLI on `argv` (without node and script); resolves to the exit code. Never throws for bad flags. */
export async function runLocalCli(argv: string[], io: CliIo): Promise<number> {
  let work: Promise<number> = Promise.resolve(0);
  const program = buildProgram(io, (started) => {
    work = started;
  });
  try {
    await program.parseAsync(argv, { from: "user" });
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version are not errors.
      if (error.exitCode === 0) return 0;
      return 2;
    }
    throw error;
  }
  try {
    return await work;
  } catch (error) {
    io.stderr(`error: ${(error as Error).message}\n`);
    return 1;
  }
}

if (require.main === module) {
  runLocalCli(process.argv.slice(2), {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
  }).then((code) => {
    process.exitCode = code;
  });
}
