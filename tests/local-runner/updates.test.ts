import { describe, expect, it } from "vitest";
import { mappingFor } from "../../local/armMapping";
import { LocalAzureMocks, type LocalMocksOptions, type StateEntry, stateKey } from "../../local/mocks";
import {
  armOperation,
  commandOperation,
  comparableInputs,
  plannedStep,
  stashOperation,
  storedComparableInputs,
  storedInputs,
} from "../../local/resourcePlan";
import { wrapSecret } from "../../local/secrets";
import { RemoteCommandError, type RunRemoteCommandOptions } from "../../local/sshExec";
import { callsOf, type FakeArm, fakeArm } from "./fakeArm";

/**
 * `npm run local` runs each resource as `pulumi up` would, decided from the previous run's state: a
 * command's `create` on a new resource, its `update` when its inputs changed, nothing when they did not,
 * `create` again on a replacement (a changed trigger); an azure-native resource PUT when new or changed,
 * left alone when not, updated after a partial create; a Stash keeping its first output.
 */

const SUB = "00000000-0000-4000-8000-000000000001";
const COMMAND = "command:remote:Command";

/** One run of the mocks, with the state the previous run left (as local/state.ts would hand it over). */
function run(previous: StateEntry[] = [], overrides: Partial<LocalMocksOptions> = {}, arm: FakeArm = fakeArm()) {
  const commands: RunRemoteCommandOptions[] = [];
  const mocks = new LocalAzureMocks({
    arm,
    subscriptionId: SUB,
    tenantId: "t",
    deployer: { principalId: "d", clientId: "c" },
    defaultLocation: "eastus",
    runStart: 0,
    previous: Object.fromEntries(previous.map((entry) => [stateKey(entry.type, entry.name), entry])),
    previousLive: true,
    runRemoteCommand: async (opts) => {
      commands.push(opts);
      return { stdout: `ran: ${opts.command}`, stderr: "", exitCode: 0, dials: 1 };
    },
    generatePrivateKey: () => {
      throw new Error("no keys here");
    },
    ...overrides,
  });
  return { mocks, commands, arm };
}

const connection = wrapSecret({ host: "127.77.0.2", port: 22, user: "azureuser", privateKey: "KEY-1" });
const probe = (create: string, update: string | undefined, triggers: string[]) => ({
  connection,
  create,
  ...(update !== undefined ? { update } : {}),
  triggers,
  addPreviousOutputInEnv: false,
});

describe("remote.Command across runs: create, update, unchanged, replace", () => {
  it("runs create, then update when an input changes, nothing when none does, create when a trigger changes", async () => {
    // Run 1: a new stack, the check's command created.
    const first = run();
    const created = await first.mocks.newResource({
      type: COMMAND,
      name: "check",
      inputs: probe("echo pending", "echo refusal-600", ["vm1", "no-grant"]),
    });
    expect(first.commands.map((c) => c.command)).toEqual(["echo pending"]);
    expect(created.id).toMatch(/^check[0-9a-f]{8}$/);
    expect(first.mocks.timeline[0].operation).toBeUndefined();

    // Run 2: the same triggers, another create line (the quick probe), the same update line: an update,
    // which runs `update`, in place (same ID).
    const second = run(first.mocks.resources);
    const updated = await second.mocks.newResource({
      type: COMMAND,
      name: "check",
      inputs: probe("echo quick-10", "echo refusal-600", ["vm1", "no-grant"]),
    });
    expect(second.commands.map((c) => c.command)).toEqual(["echo refusal-600"]);
    expect(updated.id).toBe(created.id);
    expect(updated.state.stdout).toBe("ran: echo refusal-600");
    expect(second.mocks.timeline[0].operation).toBe("update");

    // Run 3: nothing changed: nothing runs, the outputs are the previous run's.
    const third = run(second.mocks.resources);
    const same = await third.mocks.newResource({
      type: COMMAND,
      name: "check",
      inputs: probe("echo quick-10", "echo refusal-600", ["vm1", "no-grant"]),
    });
    expect(third.commands).toEqual([]);
    expect(same).toEqual({ id: created.id, state: expect.objectContaining({ stdout: "ran: echo refusal-600" }) });
    expect(third.mocks.timeline[0].operation).toBe("same");
    expect(third.mocks.commandStdouts).toEqual([{ name: "check", stdout: "ran: echo refusal-600" }]);

    // Run 4: a trigger changed (a new grant): replaced, so `create` runs on a new command.
    const fourth = run(third.mocks.resources);
    const replaced = await fourth.mocks.newResource({
      type: COMMAND,
      name: "check",
      inputs: probe("echo quick-10", "echo refusal-600", ["vm1", "/grant/2"]),
    });
    expect(fourth.commands.map((c) => c.command)).toEqual(["echo quick-10"]);
    expect(replaced.id).not.toBe(created.id);
    expect(fourth.mocks.timeline[0].operation).toBe("replace");
  });

  it("update without an update line runs create; a changed secret (the connection's key) is a change", async () => {
    const first = run();
    await first.mocks.newResource({ type: COMMAND, name: "c", inputs: probe("echo one", undefined, []) });
    const second = run(first.mocks.resources);
    const rekeyed = {
      ...probe("echo one", undefined, []),
      connection: wrapSecret({ host: "127.77.0.2", privateKey: "KEY-2" }),
    };
    await second.mocks.newResource({ type: COMMAND, name: "c", inputs: rekeyed });
    expect(second.commands.map((c) => c.command)).toEqual(["echo one"]);
    expect(second.mocks.timeline[0].operation).toBe("update");
    // The state keeps a fingerprint of the secret, never the secret.
    expect(JSON.stringify(second.mocks.resources)).not.toContain("KEY-2");
  });

  it("hands an update the previous output, unless addPreviousOutputInEnv is false", async () => {
    const first = run();
    const inputs = { connection, create: "echo a", update: "echo b" };
    await first.mocks.newResource({ type: COMMAND, name: "c", inputs });
    const second = run(first.mocks.resources);
    await second.mocks.newResource({ type: COMMAND, name: "c", inputs: { ...inputs, update: "echo c" } });
    expect(second.commands[0].environment).toEqual({ PULUMI_COMMAND_STDOUT: "ran: echo a" });
  });

  it("a failed update keeps the previous state, so the next run updates again; a failed create keeps nothing", async () => {
    const failing = {
      runRemoteCommand: async () => {
        throw new RemoteCommandError("Process exited with status 1: still allowed", {
          stdout: "{}",
          stderr: "",
          exitCode: 1,
        });
      },
    };
    const first = run();
    await first.mocks.newResource({ type: COMMAND, name: "c", inputs: probe("echo a", "echo b", ["t"]) });
    const failedUpdate = run(first.mocks.resources, failing);
    await expect(
      failedUpdate.mocks.newResource({ type: COMMAND, name: "c", inputs: probe("echo a2", "echo b", ["t"]) }),
    ).rejects.toThrow("command:remote:Command c: Process exited with status 1: still allowed");
    expect(failedUpdate.mocks.resources).toEqual(first.mocks.resources);

    const again = run(failedUpdate.mocks.resources);
    await again.mocks.newResource({ type: COMMAND, name: "c", inputs: probe("echo a2", "echo b", ["t"]) });
    expect(again.commands.map((c) => c.command)).toEqual(["echo b"]);

    const failedCreate = run([], failing);
    await expect(
      failedCreate.mocks.newResource({ type: COMMAND, name: "c", inputs: probe("echo a", "echo b", ["t"]) }),
    ).rejects.toThrow();
    expect(failedCreate.mocks.resources).toEqual([]);
  });

  it("creates everything anew when the previous run's resources are not in this cloud (only names and keys carry over)", async () => {
    const first = run();
    await first.mocks.newResource({ type: COMMAND, name: "c", inputs: probe("echo a", "echo b", ["t"]) });
    const elsewhere = run(first.mocks.resources, { previousLive: false });
    await elsewhere.mocks.newResource({ type: COMMAND, name: "c", inputs: probe("echo a", "echo b", ["t"]) });
    expect(elsewhere.commands.map((c) => c.command)).toEqual(["echo a"]);
  });
});

describe("azure-native resources across runs", () => {
  const RG = "azure-native:resources:ResourceGroup";
  const rgPath = `/subscriptions/${SUB}/resourcegroups/vmia-rg0f1e2d3c?api-version=2024-03-01`;
  const random = () => "0f1e2d3c-4b5a-4697-8877-665544332211";

  it("PUTs a new or changed resource and leaves an unchanged one alone", async () => {
    const first = run([], { random });
    await first.mocks.newResource({ type: RG, name: "vmia-rg", inputs: {} });
    expect(callsOf(first.arm, "PUT")).toEqual([`PUT ${rgPath}`]);

    const unchanged = run(first.mocks.resources, { random });
    const same = await unchanged.mocks.newResource({ type: RG, name: "vmia-rg", inputs: {} });
    expect(unchanged.arm.calls).toEqual([]);
    expect(same.id).toBe(first.mocks.resources[0].id);
    expect(unchanged.mocks.timeline[0].operation).toBe("same");

    const tagged = run(first.mocks.resources, { random });
    await tagged.mocks.newResource({ type: RG, name: "vmia-rg", inputs: { tags: { a: "1" } } });
    expect(callsOf(tagged.arm, "PUT")).toEqual([`PUT ${rgPath}`]);
    expect(tagged.mocks.timeline[0].operation).toBe("update");
  });

  it("replaces a VM whose cloud-init changed, deleting it first (same name)", async () => {
    const VM = "azure-native:compute:VirtualMachine";
    const vm = (customData: string) => ({
      resourceGroupName: "rg",
      vmName: "vm0",
      osProfile: { adminUsername: "azureuser", customData: wrapSecret(customData) },
    });
    const first = run();
    await first.mocks.newResource({ type: VM, name: "vm0", inputs: vm("b25l") });
    const second = run(first.mocks.resources);
    await second.mocks.newResource({ type: VM, name: "vm0", inputs: vm("dHdv") });
    const path = `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm0`;
    expect(callsOf(second.arm).filter((call) => !call.startsWith("GET"))).toEqual([
      `DELETE ${path}?api-version=2024-11-01`,
      `PUT ${path}?api-version=2024-11-01`,
    ]);
    expect(second.mocks.timeline[0].operation).toBe("replace");
  });

  it("records a create that ARM accepted and whose operation failed as partial, and updates it on the next run", async () => {
    const RUN_COMMAND = "azure-native:compute:VirtualMachineRunCommandByVirtualMachine";
    const path = `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm0/runCommands/probe`;
    const inputs = {
      resourceGroupName: "rg",
      vmName: "vm0",
      runCommandName: "probe",
      location: "eastus",
      source: { script: "exit 3" },
      treatFailureAsDeploymentFailure: true,
    };
    const arm = fakeArm();
    arm.failOperation.set(path, { code: "VMExtensionProvisioningError", message: "exit status=3" });
    const first = run([], {}, arm);
    await expect(first.mocks.newResource({ type: RUN_COMMAND, name: "probe", inputs })).rejects.toThrow(
      `creating ${RUN_COMMAND} probe: Status=200 Code="VMExtensionProvisioningError" Message="exit status=3"`,
    );
    // The state holds it, with its inputs, what ARM holds (read with a plain GET: no $expand), and the error.
    expect(first.mocks.resources).toEqual([
      expect.objectContaining({
        type: RUN_COMMAND,
        id: path,
        inputs,
        outputs: expect.objectContaining({ provisioningState: "Failed", source: { script: "exit 3" } }),
        initErrors: [
          `creating ${RUN_COMMAND} probe: Status=200 Code="VMExtensionProvisioningError" Message="exit status=3"`,
        ],
      }),
    ]);
    expect(callsOf(arm, "GET").filter((call) => call.includes("/runCommands/"))).toEqual([
      `GET ${path}?api-version=2024-11-01`,
    ]);

    // The next run: the same inputs, and yet an update (the same PUT again), as the engine updates a
    // resource with initialization errors; it succeeds now, so the errors are gone.
    arm.failOperation.clear();
    const second = run(first.mocks.resources, {}, arm);
    await second.mocks.newResource({ type: RUN_COMMAND, name: "probe", inputs });
    expect(second.mocks.timeline[0].operation).toBe("update");
    expect(callsOf(arm, "PUT")).toEqual([`PUT ${path}?api-version=2024-11-01`, `PUT ${path}?api-version=2024-11-01`]);
    expect(second.mocks.resources[0].initErrors).toBeUndefined();
  });

  it("keeps a resource as it was when ARM refuses its update", async () => {
    const first = run([], { random });
    await first.mocks.newResource({ type: RG, name: "vmia-rg", inputs: {} });
    const arm = fakeArm();
    arm.refuse.set(rgPath.split("?")[0], { code: "InvalidTag", message: "no" });
    const second = run(first.mocks.resources, { random }, arm);
    await expect(second.mocks.newResource({ type: RG, name: "vmia-rg", inputs: { tags: { a: "1" } } })).rejects.toThrow(
      'updating azure-native:resources:ResourceGroup vmia-rg: Status=400 Code="InvalidTag" Message="no"',
    );
    expect(second.mocks.resources).toEqual(first.mocks.resources);
  });
});

describe("pulumi:index:Stash across runs, as the engine's builtin", () => {
  it("outputs its first input, then keeps that output while the input changes", async () => {
    const first = run();
    const created = await first.mocks.newResource({ type: "pulumi:index:Stash", name: "s", inputs: { input: "one" } });
    expect(created.state).toEqual({ input: "one", output: "one" });
    const second = run(first.mocks.resources);
    const updated = await second.mocks.newResource({ type: "pulumi:index:Stash", name: "s", inputs: { input: "two" } });
    expect(updated).toEqual({ id: created.id, state: { input: "two", output: "one" } });
    expect(second.mocks.timeline[0].operation).toBe("update");
    const third = run(second.mocks.resources);
    const same = await third.mocks.newResource({ type: "pulumi:index:Stash", name: "s", inputs: { input: "two" } });
    expect(same.state).toEqual({ input: "two", output: "one" });
    expect(third.mocks.timeline[0].operation).toBe("same");
  });

  it("refuses to carry over a stashed secret, which the local state never keeps", async () => {
    const first = run();
    await first.mocks.newResource({ type: "pulumi:index:Stash", name: "s", inputs: { input: wrapSecret("x") } });
    const second = run(first.mocks.resources);
    await expect(
      second.mocks.newResource({ type: "pulumi:index:Stash", name: "s", inputs: { input: wrapSecret("x") } }),
    ).rejects.toThrow("pulumi:index:Stash s holds a secret, which the local state never keeps");
  });
});

describe("resourcePlan (pure)", () => {
  it("compares secrets by fingerprint: the stored and the new form agree when the value is the same", () => {
    const inputs = { a: 1, s: wrapSecret({ k: "v" }), list: [wrapSecret("x")] };
    const stored = storedInputs(inputs);
    expect(stored.inputs).toEqual({ a: 1, s: "[secret]", list: ["[secret]"] });
    expect(storedComparableInputs(stored)).toEqual(comparableInputs(inputs));
    expect(storedComparableInputs(stored)).not.toEqual(comparableInputs({ ...inputs, s: wrapSecret({ k: "w" }) }));
  });

  it("decides a command's, a resource's and a stash's step", () => {
    const previous = storedInputs({ create: "a", triggers: ["1"] });
    expect(commandOperation(undefined, { create: "a" })).toBe("create");
    expect(commandOperation(previous, { create: "a", triggers: ["1"] })).toBe("same");
    expect(commandOperation(previous, { create: "b", triggers: ["1"] })).toBe("update");
    expect(commandOperation(previous, { create: "a", triggers: ["1", "2"] })).toBe("replace");
    expect(commandOperation(previous, { create: "a" })).toBe("replace");
    const rg = mappingFor("azure-native:resources:ResourceGroup");
    if (!rg) throw new Error("no mapping");
    const stored = storedInputs({ location: "eastus" });
    expect(armOperation(rg, stored, { location: "East US" }, "rg1")).toEqual({
      operation: "same",
      deleteBeforeReplace: false,
    });
    expect(armOperation(rg, { ...stored, initErrors: ["failed"] }, { location: "eastus" }, "rg1").operation).toBe(
      "update",
    );
    expect(armOperation(rg, stored, { location: "westus" }, "rg1")).toEqual({
      operation: "replace",
      deleteBeforeReplace: true,
    });
    expect(stashOperation(storedInputs({ input: 1 }), { input: 1 })).toBe("same");
    expect(stashOperation(storedInputs({ input: 1 }), { input: 2 })).toBe("update");
  });
});

describe("plannedStep: the runner's whole decision for one registration, for anyone who must agree with it", () => {
  const group = (inputs: Record<string, unknown>) => ({
    type: "azure-native:resources:ResourceGroup",
    name: "rg",
    inputs,
  });

  it("creates what the previous run did not hold, and types it does not model are refused", () => {
    expect(plannedStep(group({ location: "eastus" }), undefined)).toEqual({
      operation: "create",
      deleteBeforeReplace: false,
    });
    expect(() => plannedStep({ type: "aws:s3:Bucket", name: "b", inputs: {} }, undefined)).toThrow(
      "the runner does not model resource type aws:s3:Bucket (resource b)",
    );
  });

  it("an ARM resource: azure-native's diff, with the autoname the state keeps as its name", () => {
    const previous = { ...storedInputs({ location: "eastus" }), autoname: "rg1a2b3c4d" };
    expect(plannedStep(group({ location: "eastus" }), previous).operation).toBe("same");
    expect(plannedStep(group({ location: "westus" }), previous)).toEqual({
      operation: "replace",
      deleteBeforeReplace: true,
    });
    // A name given now to a resource that had an autoname: another resource, as azure-native's Check and Diff see it.
    expect(plannedStep(group({ location: "eastus", resourceGroupName: "other" }), previous)).toEqual({
      operation: "replace",
      deleteBeforeReplace: false,
    });
  });

  it("sees a changed secret, which the stored inputs only hold redacted", () => {
    const previous = storedInputs({ create: "probe", environment: wrapSecret({ TOKEN: "a" }) });
    const command = (environment: unknown) => ({
      type: "command:remote:Command",
      name: "check",
      inputs: { create: "probe", environment },
    });
    expect(plannedStep(command(wrapSecret({ TOKEN: "a" })), previous).operation).toBe("same");
    expect(plannedStep(command(wrapSecret({ TOKEN: "b" })), previous).operation).toBe("update");
  });

  it("takes the program's options: ignoreChanges, replaceOnChanges, deleteBeforeReplace", () => {
    const previous = storedInputs({ create: "a", stdin: "x" });
    const command = (inputs: Record<string, unknown>, options: Record<string, unknown>) => ({
      type: "command:remote:Command",
      name: "c",
      inputs,
      options,
    });
    expect(plannedStep(command({ create: "a", stdin: "y" }, { ignoreChanges: ["stdin"] }), previous).operation).toBe(
      "same",
    );
    expect(plannedStep(command({ create: "b", stdin: "x" }, { replaceOnChanges: ["create"] }), previous)).toEqual({
      operation: "replace",
      deleteBeforeReplace: false,
    });
    expect(plannedStep(command({ create: "b", stdin: "x" }, { deleteBeforeReplace: true }), previous)).toEqual({
      operation: "update",
      deleteBeforeReplace: true,
    });
  });

  it("a Stash updates on a new input; a tls key is kept while its algorithm stays", () => {
    const stash = (input: unknown) => ({ type: "pulumi:index:Stash", name: "s", inputs: { input } });
    expect(plannedStep(stash(1), storedInputs({ input: 1 })).operation).toBe("same");
    expect(plannedStep(stash(2), storedInputs({ input: 1 })).operation).toBe("update");
    const key = (algorithm: string) => ({ type: "tls:index/privateKey:PrivateKey", name: "k", inputs: { algorithm } });
    const generated = { ...storedInputs({ algorithm: "ED25519" }), outputs: { algorithm: "ED25519" } };
    expect(plannedStep(key("ED25519"), generated).operation).toBe("same");
    expect(plannedStep(key("RSA"), generated).operation).toBe("replace");
  });
});
