import { spawnSync } from "node:child_process";
import type * as pulumi from "@pulumi/pulumi";
import { decodeProbeSettings, PROBE_SETTINGS_PARAMETER } from "../../components/runCommandPlan";
import { unwrapSecrets } from "../../local/secrets";
import type { ProbeResultV1 } from "../../verify/contract";

/**
 * Runs index.ts in Pulumi's mock runtime with deterministic fake Azure answers, recording every
 * registration with its exact inputs. The remote command's stdout is produced by `probe`, which
 * sees the command's inputs: the default answers as a probe would on a VM whose access works. A run
 * command runs the same fake probe, as Azure does: only when its PUT differs from the one ARM holds
 * (`azure`'s runCommands, kept across runs to play successive `pulumi up`s), its evidence read back
 * through the invoke with its instance view. Stashes keep their first value across runs as Pulumi's do.
 */

export const SUBSCRIPTION_ID = "11111111-1111-4111-8111-111111111111";
export const TENANT_ID = "22222222-2222-4222-8222-222222222222";
export const ARM = "https://management.azure.com";

export interface Registration {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
}

export interface ProgramRun {
  registrations: Registration[];
  /** Registrations (`register <type> <name>`) and invokes (`invoke <token> <name>`) in the order they happened. */
  events: string[];
  /** The stack's exports, resolved (secrets unwrapped); undefined when the program failed to load. */
  outputs?: Record<string, unknown>;
  /** Exports whose Output rejected, by name. */
  rejected: Record<string, Error>;
  /** The error the program threw while loading (bad settings). */
  loadError?: Error;
}

export type ProbeAnswer = (command: Registration, facts: FakeAzure) => string;

/** What the fake Azure assigned, so a fake probe can answer consistently. */
export interface FakeAzure {
  userIdentity?: { id: string; clientId: string; principalId: string };
  systemPrincipals: Map<string, string>; // VM name -> principal ID
  resourceGroup?: { id: string; name: string };
}

/** A run command as the fake ARM holds it, under `<vm>/<name>`. */
export interface HeldRunCommand {
  script: string;
  parameters: Array<{ name: string; value: string }>;
  instanceView: { executionState: string; exitCode: number; output: string; error: string };
  /** How many times its script ran. */
  runs: number;
}

/** What lasts from one run of the program to the next, as a stack and its cloud do. */
export interface LastingState {
  /** Stash name -> its output (the value it was created with). */
  stashes: Map<string, unknown>;
  /** `<vm>/<run command>` -> what ARM holds. */
  runCommands: Map<string, HeldRunCommand>;
}

export function lastingState(): LastingState {
  return { stashes: new Map(), runCommands: new Map() };
}

export const RUN_COMMAND_TYPE = "azure-native:compute:VirtualMachineRunCommandByVirtualMachine";
export const GET_RUN_COMMAND = "azure-native:compute:getVirtualMachineRunCommandByVirtualMachine";

/** The settings the probe received on its command line, parsed back from `VAR='value' … bash -s`. */
export function inlineProbeSettings(commandLine: string): Record<string, string> {
  const settings: Record<string, string> = {};
  const prefix = commandLine.slice(0, commandLine.indexOf(" bash -s"));
  for (const match of prefix.matchAll(/([A-Z_]+)='((?:[^']|'\\'')*)'/g))
    settings[match[1]] = match[2].replace(/'\\''/g, "'");
  return settings;
}

/** A run command's parameters by name. */
export function runCommandParameters(command: Registration): Record<string, string> {
  const parameters = (command.inputs.parameters ?? []) as Array<{ name: string; value: string }>;
  return Object.fromEntries(parameters.map((p) => [p.name, p.value]));
}

/** The probe's settings of a remote command (its command line) or a run command (its PROBE_SETTINGS). */
export function probeSettingsOf(command: Registration): Record<string, string> {
  if (command.type === RUN_COMMAND_TYPE) {
    return decodeProbeSettings(runCommandParameters(command)[PROBE_SETTINGS_PARAMETER] ?? "");
  }
  return inlineProbeSettings(String(command.inputs.create));
}

/** A probe JSON v1 that proves access (or, with denied, a 403) for the identity the command selected. */
export function fakeProbeAnswer(options: { denied?: boolean; oid?: string } = {}): ProbeAnswer {
  return (command, facts) => {
    const settings = probeSettingsOf(command);
    const user = settings.MI_CLIENT_ID !== undefined;
    const systemPrincipal =
      command.type === RUN_COMMAND_TYPE
        ? facts.systemPrincipals.get(String(command.inputs.vmName))
        : (command.inputs.triggers as string[])[1];
    const principalId = options.oid ?? (user ? (facts.userIdentity?.principalId as string) : systemPrincipal);
    const rg = facts.resourceGroup as { id: string; name: string };
    const resource = `${settings.ARM_ENDPOINT}/`;
    const probe: ProbeResultV1 = {
      probeVersion: 1,
      ok: !options.denied,
      identity: user ? { selector: "client_id", value: settings.MI_CLIENT_ID } : { selector: "system", value: null },
      target: {
        subscriptionId: settings.SUBSCRIPTION_ID,
        resourceGroup: settings.RESOURCE_GROUP,
        armEndpoint: settings.ARM_ENDPOINT,
        resource,
      },
      token: {
        status: 200,
        attempts: 1,
        expiresOn: "1900000000",
        claims: {
          aud: resource,
          iss: `https://sts.windows.net/${TENANT_ID}/`,
          oid: principalId,
          sub: principalId,
          tid: TENANT_ID,
          appid: user ? settings.MI_CLIENT_ID : "33333333-3333-4333-8333-333333333333",
          idtyp: "app",
          ...(user ? { xms_mirid: facts.userIdentity?.id } : {}),
        },
      },
      resourceGroup: options.denied
        ? {
            status: 403,
            attempts: 1,
            body: {
              error: {
                code: "AuthorizationFailed",
                message: `The client does not have authorization over scope '${rg.id}'.`,
              },
            },
          }
        : {
            status: 200,
            attempts: 1,
            body: { id: rg.id, name: rg.name, location: "westeurope", properties: { provisioningState: "Succeeded" } },
          },
      permissions: options.denied
        ? null
        : {
            status: 200,
            attempts: 1,
            body: { value: [{ actions: ["*/read"], notActions: [], dataActions: [], notDataActions: [] }] },
          },
      elapsedSeconds: 1.5,
      error: options.denied
        ? { stage: "arm", status: 403, code: "AuthorizationFailed", message: "The client does not have authorization" }
        : null,
    };
    return JSON.stringify(probe);
  };
}

/** The exit status the probe would end with for its JSON and settings (contract v1, or PROBE_EXPECT=denied). */
function fakeProbeExit(stdout: string, settings: Record<string, string>): number {
  try {
    const probe = JSON.parse(stdout) as { ok?: unknown; resourceGroup?: { status?: unknown } | null };
    if (settings.PROBE_EXPECT === "denied") return probe.resourceGroup?.status === 403 ? 0 : 1;
    return probe.ok === true ? 0 : 1;
  } catch {
    return 1;
  }
}

/**
 * What verify/runCommandPreamble.sh prints for the probe's one-line JSON `stdout`: the user it ran as,
 * and the run it was (its PROBE_RUN, PROBE_TRIGGERS and PROBE_SETTINGS), as the last members.
 */
export function preambleOutput(stdout: string, parameters: Array<{ name: string; value: string }>): string {
  if (!stdout.endsWith("}")) return stdout;
  const value = (name: string) => parameters.find((p) => p.name === name)?.value;
  const run = { probeRun: value("PROBE_RUN"), triggers: value("PROBE_TRIGGERS"), settings: value("PROBE_SETTINGS") };
  return `${stdout.slice(0, -1)},"runAs":{"user":"nobody","uid":65534},"run":${JSON.stringify(run)}}`;
}

/**
 * A run command's PUT, as ARM and the VM's agent take it: a new or changed body runs the script (the
 * fake probe, its JSON with the user it ran as, as verify/runCommandPreamble.sh adds it); an identical
 * one does not. A script that is not the probe (nothing probed) prints its echo.
 */
function putRunCommand(
  inputs: Record<string, unknown>,
  name: string,
  facts: FakeAzure,
  probe: ProbeAnswer,
  lasting: LastingState,
): HeldRunCommand {
  const key = `${inputs.vmName}/${inputs.runCommandName}`;
  const script = String((inputs.source as { script: string }).script);
  const parameters = (inputs.parameters ?? []) as Array<{ name: string; value: string }>;
  const held = lasting.runCommands.get(key);
  if (held && held.script === script && JSON.stringify(held.parameters) === JSON.stringify(parameters)) return held;
  let output: string;
  let exitCode: number;
  if (script.includes("vmia_run_probe")) {
    const stdout = probe({ type: RUN_COMMAND_TYPE, name, inputs }, facts);
    exitCode = fakeProbeExit(stdout, probeSettingsOf({ type: RUN_COMMAND_TYPE, name, inputs }));
    output = `${preambleOutput(stdout, parameters)}\n`;
  } else {
    output = `${/^echo '(.*)'$/.exec(script)?.[1] ?? ""}\n`;
    exitCode = 0;
  }
  const ran: HeldRunCommand = {
    script,
    parameters,
    instanceView: {
      executionState: exitCode === 0 ? "Succeeded" : "Failed",
      exitCode,
      output: output.length > 4096 ? output.slice(-4096) : output,
      error: "probe: arm resourceGroup attempt 1: HTTP 200\n",
    },
    runs: (held?.runs ?? 0) + 1,
  };
  lasting.runCommands.set(key, ran);
  return ran;
}

/** The probe's exit status for its JSON: 0 when it proved access, 1 otherwise (its contract). */
function probeExitStatus(stdout: string): number {
  try {
    return (JSON.parse(stdout) as { ok?: unknown }).ok === true ? 0 : 1;
  } catch {
    return 1;
  }
}

/** The command line's own exit status when the probe exits with `probeExit`: a real shell decides. */
function commandExitStatus(commandLine: string, probeExit: number): number {
  const run = spawnSync("bash", ["-c", commandLine], {
    input: `exit ${probeExit}\n`,
    stdio: ["pipe", "ignore", "ignore"],
  });
  return run.status ?? -1;
}

function fakeState(
  args: pulumi.runtime.MockResourceArgs,
  facts: FakeAzure,
  counter: () => number,
  probe: ProbeAnswer,
  lasting: LastingState,
) {
  const inputs = unwrapSecrets(args.inputs) as Record<string, unknown>;
  const n = counter();
  const rgName = facts.resourceGroup?.name ?? "rg";
  const under = (provider: string, name: string, lowerGroups = false) =>
    `/subscriptions/${SUBSCRIPTION_ID}/${lowerGroups ? "resourcegroups" : "resourceGroups"}/${rgName}/providers/${provider}/${name}`;
  switch (args.type) {
    case "azure-native:resources:ResourceGroup": {
      const name = `${args.name}0001`;
      facts.resourceGroup = { id: `/subscriptions/${SUBSCRIPTION_ID}/resourceGroups/${name}`, name };
      return { id: facts.resourceGroup.id, state: { ...inputs, name, location: "westeurope" } };
    }
    case "azure-native:managedidentity:UserAssignedIdentity": {
      const id = under("Microsoft.ManagedIdentity/userAssignedIdentities", args.name, true);
      facts.userIdentity = {
        id,
        clientId: `c1000000-0000-4000-8000-00000000000${n % 10}`,
        principalId: `p1000000-0000-4000-8000-00000000000${n % 10}`,
      };
      return {
        id,
        state: {
          ...inputs,
          name: args.name,
          clientId: facts.userIdentity.clientId,
          principalId: facts.userIdentity.principalId,
          tenantId: TENANT_ID,
        },
      };
    }
    case "azure-native:compute:VirtualMachine": {
      const identityType = String((inputs.identity as { type: string }).type);
      const principalId = `s${String(n).padStart(7, "0")}-0000-4000-8000-000000000000`;
      const system = identityType.includes("SystemAssigned");
      if (system) facts.systemPrincipals.set(args.name, principalId);
      return {
        id: under("Microsoft.Compute/virtualMachines", args.name),
        state: {
          ...inputs,
          name: args.name,
          identity: { ...(inputs.identity as object), ...(system ? { principalId, tenantId: TENANT_ID } : {}) },
        },
      };
    }
    case "azure-native:network:PublicIPAddress":
      return {
        id: under("Microsoft.Network/publicIPAddresses", args.name),
        state: { ...inputs, name: args.name, ipAddress: `203.0.113.${n}` },
      };
    case "azure-native:authorization:RoleAssignment": {
      const id = `${inputs.scope}/providers/Microsoft.Authorization/roleAssignments/${inputs.roleAssignmentName}`;
      return { id, state: { ...inputs, name: inputs.roleAssignmentName } };
    }
    case "tls:index/privateKey:PrivateKey":
      return {
        id: `${args.name}_id`,
        state: {
          ...inputs,
          privateKeyOpenssh: `-----BEGIN OPENSSH PRIVATE KEY-----\n${args.name}\n-----END OPENSSH PRIVATE KEY-----\n`,
          publicKeyOpenssh: `ssh-ed25519 AAAA${Buffer.from(args.name).toString("base64")}\n`,
        },
      };
    case "pulumi:index:Stash": {
      // Created: output = input; updated: the new input is kept, the output stays (Pulumi's builtin).
      if (!lasting.stashes.has(args.name)) lasting.stashes.set(args.name, inputs.input);
      return { id: `${args.name}_id`, state: { input: inputs.input, output: lasting.stashes.get(args.name) } };
    }
    case RUN_COMMAND_TYPE: {
      putRunCommand(inputs, args.name, facts, probe, lasting);
      const id = under(`Microsoft.Compute/virtualMachines/${inputs.vmName}/runCommands`, String(inputs.runCommandName));
      // azure-native reads it back with a plain GET: no instance view among its outputs.
      return { id, state: { ...inputs, name: inputs.runCommandName, provisioningState: "Succeeded" } };
    }
    case "command:remote:Command": {
      const stdout = probe({ type: args.type, name: args.name, inputs }, facts);
      const status = commandExitStatus(String(inputs.create), probeExitStatus(stdout));
      // As @pulumi/command 1.x reports a failed run: the exit, the command line, then stdout and stderr.
      if (status !== 0)
        throw new Error(`Process exited with status ${status}: running ${JSON.stringify(inputs.create)}:\n${stdout}`);
      return { id: `${args.name}_id`, state: { ...inputs, stdout, stderr: "" } };
    }
    default: {
      const provider = args.type.startsWith("azure-native:") ? args.type.split(":").slice(1).join("/") : args.type;
      return {
        id: args.type.startsWith("azure-native:") ? under(provider, args.name) : `${args.name}_id`,
        state: { ...inputs, name: args.name },
      };
    }
  }
}

/**
 * A resource the fake provider fails rejects every Output it has, and most are read by nobody: the
 * failure is asserted through the exports that depend on it (`rejected`). While `run` goes on (and
 * until the rejections it left have surfaced), those registration failures are not reported as
 * unhandled; every other unhandled rejection still reaches the test runner's own listeners.
 */
export async function withRegistrationFailuresExpected<T>(
  run: () => Promise<T>,
  alsoExpected: (reason: Error) => boolean = () => false,
): Promise<T> {
  const runnerListeners = process.listeners("unhandledRejection");
  process.removeAllListeners("unhandledRejection");
  const filter = (reason: unknown, promise: Promise<unknown>) => {
    if (
      reason instanceof Error &&
      (reason.message.startsWith("failed to register new resource") || alsoExpected(reason))
    )
      return;
    for (const listener of runnerListeners) listener(reason, promise);
  };
  process.on("unhandledRejection", filter);
  try {
    return await run();
  } finally {
    // Unhandled rejections are reported once the microtask queue drains: let them surface first.
    await new Promise((resolve) => setTimeout(resolve, 0));
    await new Promise((resolve) => setImmediate(resolve));
    process.off("unhandledRejection", filter);
    for (const listener of runnerListeners) process.on("unhandledRejection", listener);
  }
}

export interface ProgramOptions {
  probe?: ProbeAnswer;
  /** The stack's state and cloud from earlier runs (stashes, run commands); fresh when not given. */
  lasting?: LastingState;
  azureEnvironment?: string;
  /** ARM still holds the Reader assignment the program would grant (a stack switched from granted to denied). */
  grantRemains?: boolean;
  resetModules: () => void;
}

/** Loads a fresh copy of index.ts under mocks with the given raw settings. */
export function runProgram(settings: Record<string, string>, options: ProgramOptions): Promise<ProgramRun> {
  return withRegistrationFailuresExpected(() => loadProgram(settings, options));
}

async function loadProgram(settings: Record<string, string>, options: ProgramOptions): Promise<ProgramRun> {
  options.resetModules();
  const pulumiModule: typeof pulumi = await import("@pulumi/pulumi");
  const registrations: Registration[] = [];
  const events: string[] = [];
  const lasting = options.lasting ?? lastingState();
  const facts: FakeAzure = { systemPrincipals: new Map() };
  let count = 0;
  const probe = options.probe ?? fakeProbeAnswer();
  const config: Record<string, string> = {};
  for (const [key, value] of Object.entries(settings)) config[`vm-identity-access:${key}`] = value;
  if (options.azureEnvironment) config["azure-native:environment"] = options.azureEnvironment;
  pulumiModule.runtime.setAllConfig(config);
  await pulumiModule.runtime.setMocks(
    {
      newResource(args) {
        registrations.push({
          type: args.type,
          name: args.name,
          inputs: unwrapSecrets(args.inputs) as Record<string, unknown>,
        });
        events.push(`register ${args.type} ${args.name}`);
        if (args.type.startsWith("vm-identity-access:")) return { id: `${args.name}_id`, state: {} };
        return fakeState(args, facts, () => ++count, probe, lasting);
      },
      call(args) {
        events.push(
          `invoke ${args.token} ${String(args.inputs.runCommandName ?? args.inputs.roleAssignmentName ?? "")}`,
        );
        if (args.token === GET_RUN_COMMAND) {
          const held = lasting.runCommands.get(`${args.inputs.vmName}/${args.inputs.runCommandName}`);
          if (!held) {
            const message = `request failed /subscriptions/${SUBSCRIPTION_ID}/resourceGroups/${args.inputs.resourceGroupName}/providers/Microsoft.Compute/virtualMachines/${args.inputs.vmName}/runCommands/${args.inputs.runCommandName}: Status=404 Code="NotFound" Message="The entity was not found."`;
            throw Object.assign(new Error(message), { details: message });
          }
          return {
            name: args.inputs.runCommandName,
            source: { script: held.script },
            parameters: held.parameters,
            provisioningState: "Succeeded",
            ...(args.inputs.expand === "instanceView" ? { instanceView: held.instanceView } : {}),
          };
        }
        if (args.token === "azure-native:authorization:getClientConfig") {
          return {
            subscriptionId: SUBSCRIPTION_ID,
            tenantId: TENANT_ID,
            clientId: "deployer-client",
            objectId: "deployer-object",
          };
        }
        if (args.token === "azure-native:authorization:getRoleAssignment") {
          const id = `${args.inputs.scope}/providers/Microsoft.Authorization/roleAssignments/${args.inputs.roleAssignmentName}`;
          if (options.grantRemains) return { id, name: args.inputs.roleAssignmentName, scope: args.inputs.scope };
          // As azure-native reports ARM's 404 for an invoke; the SDK reads a failed invoke's gRPC `details`.
          const message = `request failed ${id}: Status=404 Code="RoleAssignmentNotFound" Message="The role assignment does not exist."`;
          throw Object.assign(new Error(message), { details: message });
        }
        throw new Error(`unexpected call ${args.token}`);
      },
    },
    "vm-identity-access",
    "test",
    false,
  );

  let program: Record<string, unknown>;
  try {
    program = await import("../../index");
  } catch (error) {
    return { registrations, events, rejected: {}, loadError: error as Error };
  }
  const outputs: Record<string, unknown> = {};
  const rejected: Record<string, Error> = {};
  for (const [name, value] of Object.entries(program)) {
    try {
      outputs[name] = unwrapSecrets(await resolve(pulumiModule, value));
    } catch (error) {
      rejected[name] = error as Error;
    }
  }
  return { registrations, events, outputs, rejected };
}

function resolve(pulumiModule: typeof pulumi, value: unknown): Promise<unknown> {
  return new Promise((resolvePromise, reject) => {
    const output = pulumiModule.output(value as pulumi.Input<unknown>);
    // An Output's rejection surfaces through its internal promises, not through apply; the ones this
    // harness does not read are silenced so a deliberate failure is not reported as unhandled.
    const internal = output as unknown as {
      promise(): Promise<unknown>;
      isKnown: Promise<boolean>;
      isSecret: Promise<boolean>;
    };
    internal.isKnown.catch(() => undefined);
    internal.isSecret.catch(() => undefined);
    internal.promise().then(resolvePromise, reject);
  });
}
