import { readFileSync } from "node:fs";
import * as pulumi from "@pulumi/pulumi";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { PROBE_SCRIPT_PATH } from "../components/accessCheck";
import { REVOCATION_PENDING_COMMAND } from "../components/probeCommand";
import { roleAssignmentName } from "../components/roleAssignment";
import { encodeProbeSettings, PREAMBLE_PATH, runCommandScript, triggersDigest } from "../components/runCommandPlan";
import { type NamedCheck, VmAccessCheck, type VmAccessCheckArgs } from "../components/vmAccessCheck";
import { unwrapSecrets } from "../local/secrets";
import type { ProbeResultV1 } from "../verify/contract";
import {
  GET_RUN_COMMAND,
  type HeldRunCommand,
  preambleOutput,
  probeSettingsOf,
  RUN_COMMAND_TYPE,
  withRegistrationFailuresExpected,
} from "./support/programMocks";

/**
 * The public component under Pulumi's mocks, constructed directly as a user's program would: the exact
 * inputs of its remote commands, its outputs, its verdicts and its error texts. Each command's stdout
 * comes from `answer`, which sees the command's inputs, as a probe on the VM would.
 */

const SUB = "11111111-1111-4111-8111-111111111111";
const RG = `/subscriptions/${SUB}/resourceGroups/app-rg`;
const OTHER_RG = `/subscriptions/${SUB}/resourceGroups/other-rg`;
const ARM = "https://management.azure.com";
const TENANT = "22222222-2222-4222-8222-222222222222";
const PRINCIPAL = "p1000000-0000-4000-8000-000000000001";
const CLIENT = "c1000000-0000-4000-8000-000000000001";
const HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGmC4V8kqHnqRZx7S8p7OwPZyNQlzvZpP0tM2hGv3d5n";
const PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\ncheck\n-----END OPENSSH PRIVATE KEY-----\n";

interface Registered {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
}

/**
 * What the VM's probe answers: `denied` where ARM refuses, else access; `oid` to forge another principal.
 * The rest lasts from one update to the next, as a stack's state and its cloud do: the role assignments
 * ARM holds (by ID), the stashes (name -> first value) and the run commands (name -> what ARM holds).
 */
interface World {
  refused: string[];
  oid?: string;
  grants?: Set<string>;
  /** When ARM made each grant (its createdOn): a grant deleted and made again under its name is another instance. */
  grantsCreatedOn?: Map<string, string>;
  stashes?: Map<string, unknown>;
  runCommands?: Map<string, HeldRunCommand>;
  /** Rewrites a run command's output before it is held (evidence cut short, say). */
  output?: (output: string) => string;
  /** The VM's agent runs nothing: ARM takes a run command's PUT, and its instance view stays the last run's. */
  agentDown?: boolean;
}

/** Registrations and invokes in order: `register <type> <name>`, `invoke <token> <name>`. */
let events: string[] = [];

function probeJson(command: Registered, world: World): { stdout: string; exit: number } {
  const settings = probeSettingsOf(command);
  const scope = `/subscriptions/${settings.SUBSCRIPTION_ID}/resourceGroups/${settings.RESOURCE_GROUP}`;
  const refused = world.refused.includes(scope);
  const selector = settings.MI_CLIENT_ID
    ? { selector: "client_id" as const, value: settings.MI_CLIENT_ID }
    : { selector: "system" as const, value: null };
  const probe: ProbeResultV1 = {
    probeVersion: 1,
    ok: !refused,
    identity: selector,
    target: {
      subscriptionId: settings.SUBSCRIPTION_ID,
      resourceGroup: settings.RESOURCE_GROUP,
      armEndpoint: settings.ARM_ENDPOINT,
      resource: `${settings.ARM_ENDPOINT}/`,
    },
    token: {
      status: 200,
      attempts: 1,
      expiresOn: "1900000000",
      claims: { aud: `${settings.ARM_ENDPOINT}/`, oid: world.oid ?? PRINCIPAL, tid: TENANT, appid: CLIENT },
    },
    resourceGroup: refused
      ? { status: 403, attempts: 1, body: { error: { code: "AuthorizationFailed", message: "no" } } }
      : { status: 200, attempts: 1, body: { id: scope, properties: { provisioningState: "Succeeded" } } },
    permissions: refused ? null : { status: 200, body: { value: [{ actions: ["*/read"], notActions: [] }] } },
    elapsedSeconds: 1,
    error: refused ? { stage: "arm", status: 403, code: "AuthorizationFailed", message: "no" } : null,
  };
  const expectsRefusal = settings.PROBE_EXPECT === "denied";
  // The probe's exit status (contract v1, or PROBE_EXPECT=denied where 0 means the refusal was proven).
  const exit = expectsRefusal ? (refused ? 0 : 1) : refused ? 1 : 0;
  return { stdout: JSON.stringify(probe), exit };
}

let registered: Registered[] = [];

/** A run command's PUT: a new or changed body runs the (fake) probe; an identical one does not (Azure's rule). */
function putRunCommand(name: string, inputs: Record<string, unknown>, world: World): void {
  const runCommands = world.runCommands ?? new Map<string, HeldRunCommand>();
  world.runCommands = runCommands;
  const script = String((inputs.source as { script: string }).script);
  const parameters = (inputs.parameters ?? []) as Array<{ name: string; value: string }>;
  const held = runCommands.get(name);
  if (held && held.script === script && JSON.stringify(held.parameters) === JSON.stringify(parameters)) return;
  if (world.agentDown) {
    const view = held?.instanceView ?? { executionState: "Pending", exitCode: 0, output: "", error: "" };
    runCommands.set(name, { script, parameters, instanceView: view, runs: held?.runs ?? 0 });
    return;
  }
  const probes = script.includes("vmia_run_probe");
  const { stdout, exit } = probes
    ? probeJson({ type: RUN_COMMAND_TYPE, name, inputs }, world)
    : { stdout: "revocation pending", exit: 0 };
  // The preamble names the run in the evidence (verify/runCommandPreamble.sh).
  const reported = probes ? preambleOutput(stdout, parameters) : stdout;
  const output = world.output ? world.output(`${reported}\n`) : `${reported}\n`;
  runCommands.set(name, {
    script,
    parameters,
    instanceView: { executionState: exit === 0 ? "Succeeded" : "Failed", exitCode: exit, output, error: "" },
    runs: (held?.runs ?? 0) + 1,
  });
}

async function useMocks(world: World, preview = false): Promise<void> {
  registered = [];
  events = [];
  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        const inputs = unwrapSecrets(args.inputs) as Record<string, unknown>;
        registered.push({ type: args.type, name: args.name, inputs });
        events.push(`register ${args.type} ${args.name}`);
        if (args.type === "pulumi:index:Stash") {
          const stashes = world.stashes ?? new Map<string, unknown>();
          world.stashes = stashes;
          // Pulumi's builtin: created, output = input; updated, the output stays.
          if (!stashes.has(args.name)) stashes.set(args.name, inputs.input);
          return { id: `${args.name}_id`, state: { input: inputs.input, output: stashes.get(args.name) } };
        }
        if (args.type === RUN_COMMAND_TYPE) {
          if (!preview) putRunCommand(args.name, inputs, world);
          return { id: `${args.name}_id`, state: { ...inputs, provisioningState: "Succeeded" } };
        }
        if (args.type !== "command:remote:Command") return { id: `${args.name}_id`, state: {} };
        if (inputs.create === REVOCATION_PENDING_COMMAND) {
          return { id: `${args.name}_id`, state: { ...inputs, stdout: "revocation pending", stderr: "" } };
        }
        const { stdout, exit } = probeJson({ type: args.type, name: args.name, inputs }, world);
        // The denied form of contract v1 turns the probe's exit 1 into success (see probeCommandLine).
        const legacyDenied = String(inputs.create).endsWith('|| exit "$rc"');
        if (exit !== 0 && !(legacyDenied && exit === 1)) {
          throw new Error(`Process exited with status ${exit}: running ${JSON.stringify(inputs.create)}:\n${stdout}`);
        }
        return { id: `${args.name}_id`, state: { ...inputs, stdout, stderr: "" } };
      },
      call: (args) => {
        events.push(`invoke ${args.token} ${String(args.inputs.runCommandName ?? args.inputs.roleAssignmentName)}`);
        const notFound = (id: string) => {
          const message = `request failed ${id}: Status=404 Code="NotFound" Message="not found"`;
          return Object.assign(new Error(message), { details: message });
        };
        if (args.token === "azure-native:authorization:getRoleAssignment") {
          const id = `${args.inputs.scope}/providers/Microsoft.Authorization/roleAssignments/${args.inputs.roleAssignmentName}`;
          if (!world.grants?.has(id)) throw notFound(id);
          const createdOn = world.grantsCreatedOn?.get(id);
          return {
            id,
            name: args.inputs.roleAssignmentName,
            scope: args.inputs.scope,
            ...(createdOn ? { createdOn } : {}),
          };
        }
        if (args.token === GET_RUN_COMMAND) {
          const held = world.runCommands?.get(String(args.inputs.runCommandName));
          if (!held) throw notFound(String(args.inputs.runCommandName));
          return {
            parameters: held.parameters,
            source: { script: held.script },
            provisioningState: "Succeeded",
            ...(args.inputs.expand === "instanceView" ? { instanceView: held.instanceView } : {}),
          };
        }
        throw new Error(`unexpected call ${args.token}`);
      },
    },
    "checks",
    "test",
    preview,
  );
}

function settle<T>(output: pulumi.Output<T>): Promise<T> {
  const internal = output as unknown as { promise(): Promise<T>; isKnown: Promise<boolean> };
  internal.isKnown.catch(() => undefined);
  return internal.promise();
}

/**
 * A test whose check fails on purpose: its outputs reject, and so do the registrations and serializations
 * that read them; those are expected, and every other unhandled rejection still reaches the runner.
 */
const failing = (body: () => Promise<void>) => () =>
  withRegistrationFailuresExpected(
    body,
    (reason) => reason.message.startsWith("error serializing property") || pulumi.RunError.isInstance(reason),
  );

const commands = () => registered.filter((r) => r.type === "command:remote:Command");

function args(overrides: Partial<VmAccessCheckArgs> = {}): VmAccessCheckArgs {
  return {
    vmName: "app-vm",
    ssh: { host: "203.0.113.9", privateKey: pulumi.secret(PRIVATE_KEY), hostKey: HOST_KEY },
    identity: { type: "UserAssigned", principalId: PRINCIPAL, tenantId: TENANT, clientId: CLIENT },
    readableScopes: [RG],
    failOnMismatch: false,
    ...overrides,
  };
}

describe("VmAccessCheck", () => {
  beforeEach(() => useMocks({ refused: [OTHER_RG] }));

  it("runs one remote command named after the check: pinned host key, secret key, the probe on stdin", async () => {
    const check = new VmAccessCheck("app-check", args({ triggers: ["vm-id"], failOnMismatch: true }));
    expect(await settle(check.verified)).toBe(true);
    const [command] = commands();
    expect(command.name).toBe("app-check");
    expect(command.inputs).toMatchObject({
      connection: {
        host: "203.0.113.9",
        port: 22,
        user: "azureuser",
        privateKey: PRIVATE_KEY,
        hostKey: HOST_KEY,
        dialErrorLimit: 60,
        perDialTimeout: 20,
      },
      create: `ARM_ENDPOINT='${ARM}' MI_CLIENT_ID='${CLIENT}' SUBSCRIPTION_ID='${SUB}' RESOURCE_GROUP='app-rg' PROBE_DEADLINE_SECONDS='600' bash -s`,
      triggers: ["vm-id"],
      addPreviousOutputInEnv: false,
      logging: "stderr",
    });
    expect(command.inputs).not.toHaveProperty("update");
    expect(String(command.inputs.stdin)).toContain("probeVersion");
  });

  it("outputs the verdict, the named checks with their scope, the typed evidence and the contract's results", async () => {
    const check = new VmAccessCheck("app-check", args());
    const [checks, evidence, results] = await Promise.all([
      settle(check.checks),
      settle(check.evidence),
      settle(check.results),
    ]);
    expect(checks.map((c) => [c.scope, c.name, c.ok])).toEqual([
      [RG, "probe-output", true],
      [RG, "token-obtained", true],
      [RG, "token-audience", true],
      [RG, "token-principal", true],
      [RG, "token-tenant", true],
      [RG, "token-client-id", true],
      [RG, "identity-selector", true],
      [RG, "target-resource-group", true],
      [RG, "resource-group-read", true],
      [RG, "permissions-read-only", true],
    ]);
    expect(evidence).toEqual([
      {
        scope: RG,
        expectation: "granted",
        verified: true,
        selector: "client_id",
        tokenStatus: 200,
        claims: { aud: `${ARM}/`, oid: PRINCIPAL, tid: TENANT, appid: CLIENT },
        readStatus: 200,
        readAttempts: 1,
        actions: ["*/read"],
        notActions: [],
        elapsedSeconds: 1,
      },
    ]);
    expect(Object.keys(results[0])).toEqual(["vm", "identity", "expected", "probe", "checks", "verified"]);
    expect(results[0]).toMatchObject({ vm: "app-vm", identity: "user", verified: true });
  });

  it("probes each scope in a command of its own: readable ones read, refused ones wait for ARM's 403", async () => {
    const check = new VmAccessCheck("app-check", args({ refusedScopes: [OTHER_RG], deadlineSeconds: 120 }));
    expect(await settle(check.verified)).toBe(true);
    expect(commands().map((c) => c.name)).toEqual(["app-check-1", "app-check-2"]);
    expect(commands()[1].inputs.create).toBe(
      `ARM_ENDPOINT='${ARM}' MI_CLIENT_ID='${CLIENT}' SUBSCRIPTION_ID='${SUB}' RESOURCE_GROUP='other-rg' PROBE_DEADLINE_SECONDS='120' PROBE_EXPECT='denied' bash -s`,
    );
    expect((await settle(check.evidence)).map((e) => [e.scope, e.expectation, e.readStatus])).toEqual([
      [RG, "granted", 200],
      [OTHER_RG, "denied", 403],
    ]);
  });

  it("while a revocation is pending, probes nothing, says so and does not fail", async () => {
    const check = new VmAccessCheck(
      "app-check",
      args({ readableScopes: [], refusedScopes: [RG], revocationPending: true, failOnMismatch: true }),
    );
    expect(await settle(check.verified)).toBe(false);
    expect(await settle(check.checks)).toEqual([
      {
        scope: RG,
        name: "revocation-pending",
        ok: false,
        detail: `the grant on ${RG} is removed at the end of this update, after the check: run pulumi up again to prove the denial`,
      },
    ]);
    const [command] = commands();
    expect(command.inputs.create).toBe(REVOCATION_PENDING_COMMAND);
    expect(command.inputs).not.toHaveProperty("stdin");
    expect(String(command.inputs.update)).toMatch(/PROBE_EXPECT='denied' bash -s$/);
  });

  it(
    "fails, naming each failed check, when the token is another principal's",
    failing(async () => {
      await useMocks({ refused: [], oid: "99999999-9999-4999-8999-999999999999" });
      const check = new VmAccessCheck("app-check", args({ failOnMismatch: true }));
      await expect(settle(check.verified)).rejects.toThrow(
        "VmAccessCheck app-check did not verify what it had to:\n" +
          `  app-vm (user): token-principal: the token principal (oid) should be "${PRINCIPAL}", was "99999999-9999-4999-8999-999999999999"`,
      );
      const reported = new VmAccessCheck("reported", args());
      expect(await settle(reported.verified)).toBe(false);
    }),
  );

  it(
    "fails the command itself when expected access was not proven, so the next pulumi up probes again",
    failing(async () => {
      await useMocks({ refused: [RG] });
      const check = new VmAccessCheck("app-check", args());
      await expect(settle(check.results)).rejects.toThrow(
        /\[command:remote:Command\]: Process exited with status 1: running ".* bash -s":\n/,
      );
    }),
  );

  it("rejects a check with nothing to probe, and a scope list that is itself an output", () => {
    expect(() => new VmAccessCheck("empty", args({ readableScopes: [] }))).toThrow(
      "VmAccessCheck empty: readableScopes and refusedScopes are both empty: list at least one resource group ID to probe",
    );
    const asOutput = pulumi.output([RG]) as unknown as string[];
    expect(() => new VmAccessCheck("late", args({ readableScopes: asOutput }))).toThrow(
      "VmAccessCheck late: readableScopes must be a list written out in the program (its length decides how many probe runs there are); each item may be an output, the list itself may not",
    );
  });

  it(
    "reports a bad argument known only later through its outputs, naming it",
    failing(async () => {
      const check = new VmAccessCheck(
        "app-check",
        args({
          identity: pulumi.output({
            type: "UserAssigned",
            principalId: PRINCIPAL,
            tenantId: TENANT,
            selectBy: "clientId",
          }),
        }),
      );
      await expect(settle(check.verified)).rejects.toThrow(
        'VmAccessCheck app-check: identity.selectBy = "clientId" needs identity.clientId',
      );
    }),
  );
});

const VM_ID = `/subscriptions/${SUB}/resourceGroups/app-rg/providers/Microsoft.Compute/virtualMachines/app-vm`;
const SCRIPT = runCommandScript(readFileSync(PREAMBLE_PATH, "utf8"), readFileSync(PROBE_SCRIPT_PATH, "utf8"));
const runCommands = () => registered.filter((r) => r.type === RUN_COMMAND_TYPE);
/** The options each child resource was registered with (deleteBeforeReplace, dependsOn). */
let childOptions: Map<string, pulumi.CustomResourceOptions>;
const capture: pulumi.ResourceTransformation = (child) => {
  childOptions.set(child.name, child.opts as pulumi.CustomResourceOptions);
  return undefined;
};

function viaRunCommand(overrides: Partial<VmAccessCheckArgs> = {}): VmAccessCheckArgs {
  const { ssh: _ssh, ...rest } = args(overrides);
  return { ...rest, runCommand: { vmId: VM_ID, location: "westeurope" } };
}

describe("VmAccessCheck's transport", () => {
  beforeEach(() => useMocks({ refused: [] }));

  it("takes exactly one of ssh and runCommand", () => {
    const both = { ...args(), runCommand: { vmId: VM_ID, location: "westeurope" } };
    expect(() => new VmAccessCheck("both", both)).toThrow(
      "VmAccessCheck both: ssh and runCommand are both given: give exactly one way to the VM, ssh (its address, key and host key) or runCommand (its resource ID and location)",
    );
    const { ssh: _ssh, ...neither } = args();
    expect(() => new VmAccessCheck("neither", neither)).toThrow(
      "VmAccessCheck neither: ssh or runCommand is required: ssh (the VM's address, key and host key) or runCommand (its resource ID and location, for a VM nothing can reach)",
    );
    expect(registered).toEqual([]);
  });

  it(
    "rejects a runCommand.vmId that is not a VM's, known only later, naming it",
    failing(async () => {
      const check = new VmAccessCheck("app-check", {
        ...viaRunCommand(),
        runCommand: { vmId: pulumi.output("app-vm"), location: "westeurope" },
      });
      await expect(settle(check.verified)).rejects.toThrow(
        'VmAccessCheck app-check: runCommand.vmId = "app-vm" must be the VM\'s ARM resource ID',
      );
    }),
  );
});

describe("VmAccessCheck through Run Command", () => {
  let world: World;
  beforeEach(async () => {
    world = { refused: [OTHER_RG] };
    childOptions = new Map();
    await useMocks(world);
  });

  it("declares one managed run command per scope: the probe behind its preamble, its settings as named parameters", async () => {
    const check = new VmAccessCheck("app-check", viaRunCommand({ triggers: ["vm-id"], failOnMismatch: true }), {
      transformations: [capture],
    });
    expect(await settle(check.verified)).toBe(true);
    expect(commands()).toEqual([]);
    const [runCommand] = runCommands();
    expect(runCommand.name).toBe("app-check");
    expect(runCommand.inputs).toEqual({
      resourceGroupName: "app-rg",
      vmName: "app-vm",
      runCommandName: "app-check",
      location: "westeurope",
      source: { script: SCRIPT },
      parameters: [
        {
          name: "PROBE_SETTINGS",
          value: encodeProbeSettings([
            ["ARM_ENDPOINT", ARM],
            ["MI_CLIENT_ID", CLIENT],
            ["SUBSCRIPTION_ID", SUB],
            ["RESOURCE_GROUP", "app-rg"],
            ["PROBE_DEADLINE_SECONDS", "600"],
            ["PROBE_MAX_TEXT_BYTES", "256"],
          ]),
        },
        { name: "PROBE_TRIGGERS", value: triggersDigest(["vm-id"]) },
        { name: "PROBE_RUN", value: "1" },
      ],
      asyncExecution: false,
      treatFailureAsDeploymentFailure: false,
      timeoutInSeconds: 660,
    });
    // `pulumi up --replace` deletes it before creating it again under its one name: a fresh run.
    expect(childOptions.get("app-check")?.deleteBeforeReplace).toBe(true);
  });

  it("waits for the run command as long as its timeout allows, said to azure-native, not left to its 2-hour default", async () => {
    const check = new VmAccessCheck("app-check", viaRunCommand({ deadlineSeconds: 5340 }), {
      transformations: [capture],
    });
    expect(await settle(check.verified)).toBe(true);
    expect(runCommands()[0].inputs.timeoutInSeconds).toBe(5400);
    expect(childOptions.get("app-check")?.customTimeouts).toEqual({ create: "100m", update: "100m" });
  });

  it(
    "refuses a deadline longer than a run command may take, naming it and what is allowed",
    failing(async () => {
      const check = new VmAccessCheck("app-check", viaRunCommand({ deadlineSeconds: 5341, failOnMismatch: true }));
      await expect(settle(check.verified)).rejects.toThrow(
        "VmAccessCheck app-check: deadlineSeconds = 5341 is longer than a check through Run Command may take: at most 5340 (the run command's timeout is the deadline plus 60 s, and 90 minutes is the one limit Azure documents for a run command)",
      );
      expect(runCommands()).toEqual([]);
    }),
  );

  it("reads the run command before declaring it, and its instance view after it ran", async () => {
    const check = new VmAccessCheck("app-check", viaRunCommand());
    await settle(check.results);
    expect(events.filter((event) => !event.includes("VmAccessCheck"))).toEqual([
      `invoke ${GET_RUN_COMMAND} app-check`,
      `register ${RUN_COMMAND_TYPE} app-check`,
      `invoke ${GET_RUN_COMMAND} app-check`,
    ]);
  });

  it("outputs the same verdict, checks and evidence as over SSH, with the user the probe ran as", async () => {
    const check = new VmAccessCheck("app-check", viaRunCommand({ refusedScopes: [OTHER_RG] }));
    const [verified, checks, results] = await Promise.all([
      settle(check.verified),
      settle(check.checks),
      settle(check.results),
    ]);
    expect(verified).toBe(true);
    expect(checks.map((c) => [c.scope, c.name, c.ok])).toContainEqual([OTHER_RG, "access-denied", true]);
    expect(checks.every((c) => c.ok)).toBe(true);
    expect(results.map((r) => Object.keys(r))).toEqual([
      ["vm", "identity", "expected", "probe", "checks", "verified"],
      ["vm", "identity", "expected", "probe", "checks", "verified"],
    ]);
    expect(runCommands().map((r) => r.name)).toEqual(["app-check-1", "app-check-2"]);
  });

  it("runs one VM's scopes one after the other: each run command depends on the one before", async () => {
    class Vm extends pulumi.CustomResource {
      constructor(name: string) {
        super("test:index:Vm", name, {});
      }
    }
    const vm = new Vm("app-vm");
    const check = new VmAccessCheck("app-check", viaRunCommand({ refusedScopes: [OTHER_RG] }), {
      dependsOn: [vm],
      transformations: [capture],
    });
    await settle(check.results);
    expect(childOptions.get("app-check-1")?.dependsOn).toEqual([vm]);
    const second = childOptions.get("app-check-2")?.dependsOn as pulumi.Resource[];
    expect(second).toHaveLength(2);
    expect(second[0]).toBe(vm);
    expect(pulumi.CustomResource.isInstance(second[1])).toBe(true);
    // A single resource given as dependsOn, the same.
    childOptions = new Map();
    await settle(
      new VmAccessCheck("single", viaRunCommand({ refusedScopes: [OTHER_RG] }), {
        dependsOn: vm,
        transformations: [capture],
      }).results,
    );
    expect(childOptions.get("single-2")?.dependsOn).toEqual([vm, expect.anything()]);
  });

  it(
    "fails naming each failed check when the evidence does not verify, the resource itself recorded cleanly",
    failing(async () => {
      await useMocks({ refused: [RG] });
      const check = new VmAccessCheck("app-check", viaRunCommand({ failOnMismatch: true }));
      await expect(settle(check.verified)).rejects.toThrow(
        "VmAccessCheck app-check did not verify what it had to:\n" +
          "  app-vm (user): probe-output: the probe should report ok true, reported ok false with error " +
          '{"stage":"arm","status":403,"code":"AuthorizationFailed","message":"no"}\n' +
          '  app-vm (user): resource-group-read: reading the resource group answered 403 "AuthorizationFailed"\n' +
          "  app-vm (user): permissions-read-only: the effective permissions were not read (status nothing)",
      );
    }),
  );

  it(
    "says evidence cut short is cut short, never a parse failure",
    failing(async () => {
      await useMocks({ refused: [], output: (output) => output.slice(-4096).padStart(4096, "x").slice(20) });
      const check = new VmAccessCheck("app-check", viaRunCommand({ failOnMismatch: true }));
      await expect(settle(check.verified)).rejects.toThrow(
        /app-vm \(user\): probe-output: the evidence was cut short: Azure keeps only the last 4,096 bytes of a run command's output, and the probe's report was longer/,
      );
    }),
  );

  describe("over successive updates (the run commands ARM holds last from one to the next)", () => {
    const update = async (overrides: Partial<VmAccessCheckArgs> = {}, preview = false) => {
      await useMocks(world, preview);
      const check = new VmAccessCheck("app-check", viaRunCommand(overrides));
      return { verified: await settle(check.verified), runCommand: runCommands()[0] };
    };
    const probeRun = (registration: Registered) =>
      (registration.inputs.parameters as Array<{ name: string; value: string }>).find((p) => p.name === "PROBE_RUN")
        ?.value;

    it("an unchanged, verified check declares the same run command again, and Azure runs nothing", async () => {
      const first = await update();
      const second = await update();
      expect(second.verified).toBe(true);
      expect(second.runCommand.inputs).toEqual(first.runCommand.inputs);
      expect(world.runCommands?.get("app-check")?.runs).toBe(1);
      // Its preview judges the evidence the update will judge, and changes nothing.
      expect((await update({}, true)).verified).toBe(true);
    });

    it("a failed check heals on the next update: PROBE_RUN goes up, so Azure runs the probe again", async () => {
      world.refused = [RG];
      const failed = await update();
      expect(failed.verified).toBe(false);
      expect(probeRun(failed.runCommand)).toBe("1");
      world.refused = [];
      const healed = await update();
      expect(healed.verified).toBe(true);
      expect(probeRun(healed.runCommand)).toBe("2");
      expect(world.runCommands?.get("app-check")?.runs).toBe(2);
    });

    it(
      "a run ARM took and the VM's agent never ran fails naming whose evidence the instance view holds, and the next update runs it",
      failing(async () => {
        await update({ triggers: ["assignment-1"] });
        world.agentDown = true;
        await useMocks(world);
        const check = new VmAccessCheck(
          "app-check",
          viaRunCommand({ triggers: ["assignment-2"], failOnMismatch: true }),
        );
        await expect(settle(check.verified)).rejects.toThrow(
          /app-vm \(user\): probe-output: the instance view holds the evidence of another run \(PROBE_RUN 1, PROBE_TRIGGERS [0-9a-f]{16}\) than the one this update sent \(PROBE_RUN 2, PROBE_TRIGGERS [0-9a-f]{16}\): the VM's agent has not run it/,
        );
        world.agentDown = false;
        const healed = await update({ triggers: ["assignment-2"] });
        expect(healed.verified).toBe(true);
        expect(probeRun(healed.runCommand)).toBe("3");
        expect(world.runCommands?.get("app-check")?.runs).toBe(2);
      }),
    );

    it("a run whose evidence is from other inputs runs again (a trigger changed)", async () => {
      await update({ triggers: ["assignment-1"] });
      const changed = await update({ triggers: ["assignment-2"] });
      expect(probeRun(changed.runCommand)).toBe("2");
      expect(world.runCommands?.get("app-check")?.runs).toBe(2);
    });

    it("a preview after a probe upgrade leaves the verdict unknown: the update runs the new script", async () => {
      await update();
      const held = world.runCommands?.get("app-check") as HeldRunCommand;
      world.runCommands?.set("app-check", { ...held, script: `${held.script}# the probe before the upgrade\n` });
      await useMocks(world, true);
      const check = new VmAccessCheck("app-check", viaRunCommand());
      expect(await (check.verified as unknown as { isKnown: Promise<boolean> }).isKnown).toBe(false);
      expect(world.runCommands?.get("app-check")?.runs).toBe(1);
    });

    it("a preview of a run that must be repeated leaves its verdict unknown: the update decides", async () => {
      world.refused = [RG];
      await update();
      world.refused = [];
      await useMocks(world, true);
      const check = new VmAccessCheck("app-check", viaRunCommand());
      const internal = check.verified as unknown as { isKnown: Promise<boolean> };
      expect(await internal.isKnown).toBe(false);
      expect(world.runCommands?.get("app-check")?.runs).toBe(1);
    });
  });
});

describe("VmAccessCheck watching the grant its refused scopes wait for", () => {
  const GRANT = `${RG}/providers/Microsoft.Authorization/roleAssignments/4b5c6d7e-0000-4000-8000-000000000001`;
  let world: World;
  const update = async (overrides: Partial<VmAccessCheckArgs> = {}) => {
    await useMocks(world);
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    try {
      const check = new VmAccessCheck(
        "app-check",
        args({
          readableScopes: [],
          refusedScopes: [RG],
          grant: { roleAssignmentId: GRANT },
          failOnMismatch: true,
          ...overrides,
        }),
      );
      const outcome = await settle(check.checks).then(
        (checks) => ({ checks, error: undefined as string | undefined }),
        (error: Error) => ({ checks: [] as NamedCheck[], error: error.message }),
      );
      return {
        ...outcome,
        warnings: warn.mock.calls.map((call) => String(call[0])),
        stashes: registered.filter((r) => r.type === "pulumi:index:Stash").map((r) => r.name),
        command: commands()[0],
      };
    } finally {
      warn.mockRestore();
    }
  };

  beforeEach(() => {
    world = { refused: [], grants: new Set([GRANT]) };
  });

  it(
    "still there in the update that removes it: probes nothing, says the next update proves the denial, and remembers it",
    failing(async () => {
      const first = await update();
      expect(first.error).toBeUndefined();
      expect(first.checks).toEqual([
        {
          scope: RG,
          name: "revocation-pending",
          ok: false,
          detail: `the grant on ${RG} is removed at the end of this update, after the check: run pulumi up again to prove the denial`,
        },
      ]);
      expect(first.warnings).toEqual([
        `warning: [runtime] Access to ${RG} is revoked at the end of this update (Pulumi deletes removed role assignments last): run pulumi up again to prove the denial.`,
      ]);
      expect(first.stashes).toEqual(["app-check-grant-seen"]);
      expect(first.command.inputs.create).toBe(REVOCATION_PENDING_COMMAND);
      expect(first.command.inputs).not.toHaveProperty("stdin");
    }),
  );

  it(
    "gone in the next update (Pulumi deleted it at the end of the first): the refusal is probed in place, and the stash is left out",
    failing(async () => {
      const pending = await update();
      world.grants = new Set();
      world.refused = [RG];
      const proven = await update();
      expect(proven.error).toBeUndefined();
      expect(proven.checks.map((c) => [c.name, c.ok])).toContainEqual(["access-denied", true]);
      expect(proven.stashes).toEqual([]);
      // The same triggers, another create line: Pulumi updates the command in place and runs its update line.
      expect(proven.command.inputs.triggers).toEqual(pending.command.inputs.triggers);
      expect(pending.command.inputs.create).toBe(REVOCATION_PENDING_COMMAND);
      expect(proven.command.inputs.create).toMatch(/PROBE_EXPECT='denied' bash -s$/);
    }),
  );

  it(
    "still there in a second update (the first may have failed before Pulumi's deletes): not stuck, the benefit of the doubt once more",
    failing(async () => {
      await update();
      const second = await update();
      expect(second.error).toBeUndefined();
      expect(second.stashes).toEqual(["app-check-grant-seen", "app-check-grant-seen-again"]);
      expect(second.checks).toEqual([
        {
          scope: RG,
          name: "revocation-pending",
          ok: false,
          detail: `the grant ${GRANT} on ${RG} is still there after the update that should have removed it (that update may have failed before Pulumi's deletes): run pulumi up again to prove the denial; if the grant is still there then, it is not going away and the check fails`,
        },
      ]);
      expect(second.warnings).toEqual([`warning: [runtime] Revocation: ${second.checks[0].detail}.`]);
      // That update deletes it: the third proves the denial.
      world.grants = new Set();
      world.refused = [RG];
      const third = await update();
      expect(third.error).toBeUndefined();
      expect(third.checks.map((c) => [c.name, c.ok])).toContainEqual(["access-denied", true]);
    }),
  );

  it(
    "still there in a third update: it is not going away, and the check fails naming it",
    failing(async () => {
      await update();
      await update();
      const third = await update();
      expect(third.error).toMatch(
        new RegExp(
          `^VmAccessCheck app-check did not verify what it had to:\\n  app-vm \\(user\\): grant-removed: the role assignment ${GRANT} still grants access to ${RG}, two updates after the first that should have removed it \\(\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z\\): it is not going away \\(kept by retainOnDelete, made outside this stack, or dropped from its state\\)\\. Delete it \\(az role assignment delete --ids ${GRANT}\\), or stop refusing ${RG}$`,
        ),
      );
      // And in every later update, until it is gone.
      expect((await update()).error).toContain("grant-removed");
      world.grants = new Set();
      world.refused = [RG];
      expect((await update()).error).toBeUndefined();
    }),
  );

  it(
    "a grant made again after an earlier revocation left its stashes starts over at pending, even under the same name",
    failing(async () => {
      // A revocation reached its second update, and every update after it failed (its stashes were never
      // deleted); the grant went, and was made again under its one GUID name: another instance.
      world.grantsCreatedOn = new Map([[GRANT, "2026-11-02T08:15:00.0000000Z"]]);
      await update();
      const again = await update();
      expect(again.checks.map((c) => c.name)).toEqual(["revocation-pending"]);
      world.grantsCreatedOn = new Map([[GRANT, "2026-12-06T09:30:00.0000000Z"]]);
      const revokedAgain = await update();
      expect(revokedAgain.error).toBeUndefined();
      expect(revokedAgain.checks).toEqual([
        {
          scope: RG,
          name: "revocation-pending",
          ok: false,
          detail: `the grant on ${RG} is removed at the end of this update, after the check: run pulumi up again to prove the denial`,
        },
      ]);
      // Its own stash, named for this instance; the earlier instance's are no longer registered (Pulumi deletes them).
      expect(revokedAgain.stashes).toHaveLength(1);
      expect(revokedAgain.stashes[0]).toMatch(/^app-check-grant-seen-[0-9a-f]{8}$/);
      expect(again.stashes.every((stash) => !revokedAgain.stashes.includes(stash))).toBe(true);
      // And it still reaches "not going away" if this instance stays.
      await update();
      expect((await update()).error).toContain("grant-removed");
    }),
  );

  it(
    "gone from the start: the refusal is probed at once and no stash is made",
    failing(async () => {
      world.grants = new Set();
      world.refused = [RG];
      const first = await update();
      expect(first.error).toBeUndefined();
      expect(first.stashes).toEqual([]);
      expect(first.command.inputs.create).toMatch(/PROBE_EXPECT='denied' bash -s$/);
    }),
  );

  it(
    "names the grant by scope and role as this project does (the GUID from scope, principal and role)",
    failing(async () => {
      const reader = `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7`;
      const id = `${RG}/providers/Microsoft.Authorization/roleAssignments/${roleAssignmentName(RG, PRINCIPAL, reader)}`;
      world.grants = new Set([id]);
      const pending = await update({ grant: { scope: RG, roleDefinitionId: reader } });
      expect(pending.checks.map((c) => c.name)).toEqual(["revocation-pending"]);
      expect(events).toContain(
        `invoke azure-native:authorization:getRoleAssignment ${roleAssignmentName(RG, PRINCIPAL, reader)}`,
      );
    }),
  );

  it(
    "through Run Command: the pending update runs the echo, and the next one the refusal with PROBE_RUN 1",
    failing(async () => {
      await useMocks(world);
      const pending = new VmAccessCheck(
        "app-check",
        viaRunCommand({ readableScopes: [], refusedScopes: [RG], grant: { roleAssignmentId: GRANT } }),
      );
      expect((await settle(pending.checks)).map((c) => c.name)).toEqual(["revocation-pending"]);
      expect(runCommands()[0].inputs).toMatchObject({ source: { script: REVOCATION_PENDING_COMMAND }, parameters: [] });
      world.grants = new Set();
      world.refused = [RG];
      await useMocks(world);
      const proven = new VmAccessCheck(
        "app-check",
        viaRunCommand({ readableScopes: [], refusedScopes: [RG], grant: { roleAssignmentId: GRANT } }),
      );
      expect(await settle(proven.verified)).toBe(true);
      expect(probeSettingsOf(runCommands()[0]).PROBE_EXPECT).toBe("denied");
      expect(runCommands()[0].inputs.parameters).toContainEqual({ name: "PROBE_RUN", value: "1" });
    }),
  );

  it(
    "says which Pulumi CLI it needs when the engine has no builtin Stash, before registering one",
    failing(async () => {
      await useMocks(world);
      // An engine before v3.208.0 answers no for the resource option that release brought with Stash.
      const monitor = pulumi.runtime.getMonitor() as unknown as {
        supportsFeature(request: { getId(): string }, done: (error: null, answer: object) => void): void;
      };
      const supportsFeature = vi
        .spyOn(monitor, "supportsFeature")
        .mockImplementation((request, done) =>
          done(null, { getHassupport: () => request.getId() !== "replacementTrigger" }),
        );
      try {
        const check = new VmAccessCheck(
          "app-check",
          args({ readableScopes: [], refusedScopes: [RG], grant: { roleAssignmentId: GRANT }, failOnMismatch: true }),
        );
        await expect(settle(check.checks)).rejects.toThrow(
          `VmAccessCheck app-check: the role assignment ${GRANT} is still there, and proving its revocation needs Pulumi's builtin Stash resource (pulumi:index:Stash), which the Pulumi CLI has from v3.208.0 on; the engine running this update has not (it would fail with "unrecognized resource type 'pulumi:index:Stash'" before Pulumi's deletes, in every update): upgrade the Pulumi CLI (pulumi version shows yours)`,
        );
        expect(registered.filter((r) => r.type === "pulumi:index:Stash")).toEqual([]);
      } finally {
        supportsFeature.mockRestore();
      }
    }),
  );

  it("rejects a grant with nothing to refuse, a grant beside revocationPending, and a malformed one", async () => {
    expect(() => new VmAccessCheck("c", args({ grant: { roleAssignmentId: GRANT } }))).toThrow(
      "VmAccessCheck c: grant names the role assignment refusedScopes wait for, and refusedScopes is empty: list the scopes it must stop opening, or remove grant",
    );
    expect(
      () =>
        new VmAccessCheck(
          "c",
          args({
            readableScopes: [],
            refusedScopes: [RG],
            grant: { roleAssignmentId: GRANT },
            revocationPending: false,
          }),
        ),
    ).toThrow(
      "VmAccessCheck c: grant and revocationPending are both given: with grant the check tells by itself whether this update removes it; remove revocationPending",
    );
    await useMocks(world);
    await withRegistrationFailuresExpected(
      async () => {
        const check = new VmAccessCheck(
          "c",
          args({ readableScopes: [], refusedScopes: [RG], grant: { roleAssignmentId: `${RG}/roleAssignments/x` } }),
        );
        await expect(settle(check.checks)).rejects.toThrow(
          `VmAccessCheck c: grant.roleAssignmentId = "${RG}/roleAssignments/x" must be a role assignment's ARM ID: <scope>/providers/Microsoft.Authorization/roleAssignments/<name>`,
        );
      },
      (reason) => reason.message.startsWith("error serializing property") || pulumi.RunError.isInstance(reason),
    );
  });
});
