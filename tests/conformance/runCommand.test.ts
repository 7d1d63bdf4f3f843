import { ComputeManagementClient as Compute24 } from "@azure/arm-compute";
import { ComputeManagementClient as Compute25 } from "@azure/arm-compute-v25";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalAzure, type SeededVm, seedVm } from "../../local-azure/index";
import { all, clientOptions, deployerCredential, FAST_FAULTS, POLL, refusal } from "./support/arm";

/**
 * Microsoft's @azure/arm-compute against Local Azure's Run Command, the pinned major (24, api-version
 * 2026-03-01) and the newest (25, 2026-04-01), each with its own pollers, paging and error parsing:
 * virtualMachineRunCommands create (its poller), get with expand "instanceView", list, delete, and
 * virtualMachines.beginRunCommand, on portable guests (tests/guest/ runs them against real guests).
 */

let azure: LocalAzure;
let vm: SeededVm;

beforeAll(async () => {
  azure = await LocalAzure.start({ faults: FAST_FAULTS });
  vm = await seedVm(azure, { identity: "user", resourceGroup: "sdk-rc-rg", vmName: "sdk-rc-vm" });
});
afterAll(() => azure.stop());

const clients = {
  "@azure/arm-compute 24": () => new Compute24(deployerCredential(azure), azure.subscriptionId, clientOptions(azure)),
  // The newest major as a user sets it up: the endpoint and the CA, its default scope.
  "@azure/arm-compute 25": () =>
    new Compute25(deployerCredential(azure), azure.subscriptionId, {
      endpoint: azure.armEndpoint,
      tlsOptions: { ca: azure.caCertPem },
    }),
};

describe.each(Object.entries(clients))("%s", (label, make) => {
  const name = label.endsWith("24") ? "sdk24" : "sdk25";

  it("meets Compute's 409 OperationNotAllowed for a write onto a run command or a VM being deleted, and the deletes go on", async () => {
    const compute = make();
    const own = await seedVm(azure, {
      identity: "system",
      grant: false,
      resourceGroup: `${name}-doomed-rg`,
      vmName: `${name}-doomed`,
    });
    const rc = { location: azure.location, source: { script: "true" } };
    await compute.virtualMachineRunCommands.createOrUpdate(own.resourceGroup, `${name}-doomed`, "rc", rc, POLL);
    azure.faults.lroSeconds = 3600;
    try {
      const deleting = await compute.virtualMachineRunCommands.beginDelete(
        own.resourceGroup,
        `${name}-doomed`,
        "rc",
        POLL,
      );
      expect(deleting.isDone()).toBe(false);
      const read = await compute.virtualMachineRunCommands.getByVirtualMachine(
        own.resourceGroup,
        `${name}-doomed`,
        "rc",
      );
      expect(read.provisioningState).toBe("Deleting");
      const onRunCommand = await refusal(
        compute.virtualMachineRunCommands.createOrUpdate(own.resourceGroup, `${name}-doomed`, "rc", rc, POLL),
      );
      expect([onRunCommand.statusCode, onRunCommand.code, onRunCommand.message]).toEqual([
        409,
        "OperationNotAllowed",
        "Operation 'PUT Extension' is not allowed on VM extension 'rc' since it is marked for deletion. You can only retry the Delete operation (or wait for an ongoing one to complete).",
      ]);
      const vmDeleting = await compute.virtualMachines.beginDelete(own.resourceGroup, `${name}-doomed`, POLL);
      expect(vmDeleting.isDone()).toBe(false);
      const onVm = await refusal(
        compute.virtualMachines.beginRunCommandAndWait(
          own.resourceGroup,
          `${name}-doomed`,
          { commandId: "RunShellScript", script: ["true"] },
          POLL,
        ),
      );
      expect([onVm.statusCode, onVm.code, onVm.message]).toEqual([
        409,
        "OperationNotAllowed",
        `Operation 'runCommand' is not allowed on VM '${name}-doomed' since the VM is marked for deletion. You can only retry the Delete operation (or wait for an ongoing one to complete).`,
      ]);
      azure.faults.lroSeconds = 0;
      await deleting.pollUntilDone();
      await vmDeleting.pollUntilDone();
    } finally {
      azure.faults.lroSeconds = FAST_FAULTS?.lroSeconds ?? 0;
    }
    const gone = await refusal(compute.virtualMachines.get(own.resourceGroup, `${name}-doomed`));
    expect([gone.statusCode, gone.code]).toEqual([404, "ResourceNotFound"]);
  });

  it("creates a run command through its poller, reads its instance view with expand, lists and deletes it", async () => {
    const compute = make();
    const created = await compute.virtualMachineRunCommands.createOrUpdate(
      vm.resourceGroup,
      "sdk-rc-vm",
      name,
      {
        location: azure.location,
        source: { script: 'echo "hello $WHO $1"; echo warn >&2' },
        parameters: [
          { name: "WHO", value: label },
          { name: "", value: "positional" },
        ],
        protectedParameters: [{ name: "SECRET", value: "never-shown" }],
      },
      POLL,
    );
    expect(created).toMatchObject({
      name,
      type: "Microsoft.Compute/virtualMachines/runCommands",
      provisioningState: "Succeeded",
      asyncExecution: false,
      timeoutInSeconds: 0,
      treatFailureAsDeploymentFailure: false,
    });
    expect(created.instanceView).toBeUndefined();
    expect(created.protectedParameters).toBeUndefined();
    const read = await compute.virtualMachineRunCommands.getByVirtualMachine(vm.resourceGroup, "sdk-rc-vm", name, {
      expand: "instanceView",
    });
    expect(read.instanceView).toMatchObject({
      executionState: "Succeeded",
      executionMessage: "Execution completed",
      exitCode: 0,
      output: `hello ${label} positional\n`,
      error: "warn\n",
    });
    expect(read.instanceView?.startTime).toBeInstanceOf(Date);
    expect(read.instanceView?.endTime).toBeInstanceOf(Date);
    const listed = await all(compute.virtualMachineRunCommands.listByVirtualMachine(vm.resourceGroup, "sdk-rc-vm"));
    expect(listed.map((item) => item.name)).toContain(name);
    await compute.virtualMachineRunCommands.delete(vm.resourceGroup, "sdk-rc-vm", name, POLL);
    const gone = await refusal(
      compute.virtualMachineRunCommands.getByVirtualMachine(vm.resourceGroup, "sdk-rc-vm", name),
    );
    expect([gone.statusCode, gone.code]).toEqual([404, "ResourceNotFound"]);
  });

  it("reads a failing script's exit code and output, and its poller fails with treatFailureAsDeploymentFailure", async () => {
    const compute = make();
    await compute.virtualMachineRunCommands.createOrUpdate(
      vm.resourceGroup,
      "sdk-rc-vm",
      `${name}-fails`,
      { location: azure.location, source: { script: "echo partial; exit 9" } },
      POLL,
    );
    const read = await compute.virtualMachineRunCommands.getByVirtualMachine(
      vm.resourceGroup,
      "sdk-rc-vm",
      `${name}-fails`,
      {
        expand: "instanceView",
      },
    );
    expect(read.instanceView).toMatchObject({
      executionState: "Failed",
      executionMessage: "Execution failed: failed to execute command: command terminated with exit status=9",
      exitCode: 9,
      output: "partial\n",
    });
    // @azure/core-lro reports a failed operation as an Error naming its code and message.
    await expect(
      compute.virtualMachineRunCommands.createOrUpdate(
        vm.resourceGroup,
        "sdk-rc-vm",
        `${name}-strict`,
        { location: azure.location, source: { script: "exit 2" }, treatFailureAsDeploymentFailure: true },
        POLL,
      ),
    ).rejects.toThrow(
      `The long-running operation has failed. VMExtensionProvisioningError. VM has reported a failure when processing extension '${name}-strict' (publisher 'Microsoft.CPlat.Core' and type 'RunCommandHandlerLinux'). Error message: 'Execution failed: failed to execute command: command terminated with exit status=2'.`,
    );
    const strict = await compute.virtualMachineRunCommands.getByVirtualMachine(
      vm.resourceGroup,
      "sdk-rc-vm",
      `${name}-strict`,
    );
    expect(strict.provisioningState).toBe("Failed");
  });

  it("virtualMachines.beginRunCommand: the action's result message, and 409 Conflict while one runs", async () => {
    const compute = make();
    const poller = await compute.virtualMachines.beginRunCommand(
      vm.resourceGroup,
      "sdk-rc-vm",
      { commandId: "RunShellScript", script: ["echo action $1", "exit 4"], parameters: [{ name: "", value: "arg" }] },
      POLL,
    );
    const result = await poller.pollUntilDone();
    expect(result.value).toEqual([
      {
        code: "ProvisioningState/succeeded",
        level: "Info",
        displayStatus: "Provisioning succeeded",
        message: "Enable succeeded: \n[stdout]\naction arg\n\n[stderr]\n",
      },
    ]);
    const running = await compute.virtualMachines.beginRunCommand(
      vm.resourceGroup,
      "sdk-rc-vm",
      { commandId: "RunShellScript", script: ['while [ ! -e "$HOME/sdk-go" ]; do sleep 0.02; done'] },
      POLL,
    );
    const conflict = await refusal(
      compute.virtualMachines.beginRunCommandAndWait(
        vm.resourceGroup,
        "sdk-rc-vm",
        { commandId: "RunShellScript", script: ["true"] },
        POLL,
      ),
    );
    expect([conflict.statusCode, conflict.code]).toEqual([409, "Conflict"]);
    expect(conflict.message).toBe(
      "Run command extension execution is in progress. Please wait for completion before invoking a run command.",
    );
    await compute.virtualMachineRunCommands.createOrUpdate(
      vm.resourceGroup,
      "sdk-rc-vm",
      `${name}-go`,
      { location: azure.location, source: { script: 'touch "$HOME/sdk-go"' } },
      POLL,
    );
    expect((await running.pollUntilDone()).value?.[0].code).toBe("ProvisioningState/succeeded");
    await compute.virtualMachineRunCommands.delete(vm.resourceGroup, "sdk-rc-vm", `${name}-go`, POLL);
    // The gate file is the VM's; the other major's test needs it gone.
    await compute.virtualMachines.beginRunCommandAndWait(
      vm.resourceGroup,
      "sdk-rc-vm",
      { commandId: "RunShellScript", script: ['rm -f "$HOME/sdk-go"'] },
      POLL,
    );
  });
});
