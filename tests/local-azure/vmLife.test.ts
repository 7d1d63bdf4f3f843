import { once } from "node:events";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ArmResponse, LocalAzure, type SeededVm, seedVm } from "../../local-azure/index";
import type { VmRequest } from "../../local-azure/linuxGuest/seed";
import { VirtualMachine } from "../../local-azure/vm/virtualMachine";
import {
  API,
  FAST,
  instanceView,
  putRunCommand,
  running,
  settled,
  untilFile,
  untilRefused,
  untilState,
  vmFolder,
} from "./runCommandSupport";

/**
 * A VM's life through ARM's wire, on portable guests: the action Run Command (one at a time), power
 * actions and what a VM that does not run answers, a booting VM, a VM without a public IP, and a
 * VM deleted while a script runs inside it.
 */

let azure: LocalAzure;
let vm: SeededVm;
let home: string;

beforeAll(async () => {
  azure = await LocalAzure.start({ faults: FAST });
  vm = await seedVm(azure, { identity: "system", resourceGroup: "life-rg", vmName: "life-vm" });
  home = vmFolder(azure, "life-vm");
});
afterAll(() => azure.stop());

/** POST …/runCommand (RunShellScript). */
function invoke(vmId: string, script: string[], parameters: Array<{ name?: string; value: string }> = []) {
  return azure.arm.request("POST", `${vmId}/runCommand?${API}`, { commandId: "RunShellScript", script, parameters });
}

/** The action's RunCommandResult, from its Location once its operation ended. */
async function actionResult(reply: ArmResponse): Promise<unknown> {
  expect((await settled(azure, reply)).status).toBe("Succeeded");
  const result = await azure.arm.request("GET", reply.headers.location);
  expect(result.status).toBe(200);
  return result.body;
}

const powerState = async (vmId: string) =>
  (
    (await azure.arm.request("GET", `${vmId}/instanceView?${API}`)).body as {
      statuses: Array<{ code: string; displayStatus: string }>;
    }
  ).statuses.find((status) => status.code.startsWith("PowerState/"));

async function power(vmId: string, action: string): Promise<ArmResponse> {
  const reply = await azure.arm.request("POST", `${vmId}/${action}?${API}`);
  expect(reply.status).toBe(202);
  expect(reply.headers["azure-asyncoperation"]).toBeDefined();
  expect(reply.headers.location).toBeDefined();
  expect((await settled(azure, reply)).status).toBe("Succeeded");
  return reply;
}

describe("POST …/runCommand (the action)", () => {
  it("answers 202, and its Location the RunCommandResult: stdout and stderr in one message, no exit code, succeeded even when the script fails; parameters are arguments", async () => {
    const reply = await invoke(
      vm.vmId,
      ['echo "out $1 $2 [$arg1$NAME]"', "echo oops >&2", "exit 7"],
      // As az sends them: positional ones named arg1, arg2…; every value is an argument, in order.
      [
        { name: "arg1", value: "one" },
        { name: "NAME", value: "two" },
      ],
    );
    expect(reply.status).toBe(202);
    expect(reply.headers["retry-after"]).toBe("1");
    expect(await actionResult(reply)).toEqual({
      value: [
        {
          code: "ProvisioningState/succeeded",
          level: "Info",
          displayStatus: "Provisioning succeeded",
          message: "Enable succeeded: \n[stdout]\nout one two []\n\n[stderr]\noops\n",
        },
      ],
    });
  });

  it("keeps the last 4,096 bytes of each stream", async () => {
    const body = (await actionResult(await invoke(vm.vmId, ["head -c 5000 /dev/zero | tr '\\0' x; echo TAIL"]))) as {
      value: Array<{ message: string }>;
    };
    expect(body.value[0].message).toBe(`Enable succeeded: \n[stdout]\n${"x".repeat(4091)}TAIL\n\n[stderr]\n`);
  });

  it("answers 409 Conflict while another runs on the VM; a managed run command is not held by it", async () => {
    const first = await invoke(vm.vmId, [
      'touch "$HOME/action-up"',
      'while [ ! -e "$HOME/action-go" ]; do sleep 0.02; done',
      "echo first",
    ]);
    expect(first.status).toBe(202);
    await untilFile(join(home, "action-up"));
    const second = await invoke(vm.vmId, ["echo second"]);
    expect(second.status).toBe(409);
    expect(second.body).toEqual({
      error: {
        code: "Conflict",
        message:
          "Run command extension execution is in progress. Please wait for completion before invoking a run command.",
      },
    });
    const managed = await putRunCommand(azure, `${vm.vmId}/runCommands/beside`, { source: { script: "echo beside" } });
    expect(managed.operation.status).toBe("Succeeded");
    expect((await instanceView(azure, `${vm.vmId}/runCommands/beside`)).output).toBe("beside\n");
    writeFileSync(join(home, "action-go"), "");
    expect(JSON.stringify(await actionResult(first))).toContain("[stdout]\\nfirst\\n");
    // Once it ended, the next one runs.
    expect(JSON.stringify(await actionResult(await invoke(vm.vmId, ["echo third"])))).toContain("third");
  });

  it.each([
    [{ commandId: "RunPowerShellScript", script: ["dir"] }, "commandId"],
    [{ script: ["true"] }, "commandId"],
    [{ commandId: "RunShellScript", script: "not lines" }, "script"],
    [{ commandId: "RunShellScript", script: ["true"], parameters: "A=1" }, "parameters"],
    [{ commandId: "RunShellScript", script: ["true"], parameters: [{ name: "A", value: 1 }] }, "parameters"],
  ])("refuses %j with 400 InvalidParameter", async (body, target) => {
    const reply = await azure.arm.request("POST", `${vm.vmId}/runCommand?${API}`, body);
    expect([reply.status, reply.body]).toMatchObject([400, { error: { code: "InvalidParameter", target } }]);
  });
});

describe("power actions and a VM that does not run", () => {
  it("powerOff, deallocate, start and restart, each shown in the instance view, and the answers of a VM that does not run", async () => {
    const own = await seedVm(azure, { identity: "user", resourceGroup: "power-rg", vmName: "power-vm" });
    expect(await powerState(own.vmId)).toEqual({
      code: "PowerState/running",
      level: "Info",
      displayStatus: "VM running",
    });
    await putRunCommand(azure, `${own.vmId}/runCommands/kept`, { source: { script: "echo kept" } });

    await power(own.vmId, "powerOff");
    expect(await powerState(own.vmId)).toMatchObject({ code: "PowerState/stopped", displayStatus: "VM stopped" });
    const action = await invoke(own.vmId, ["echo no"]);
    expect([action.status, action.body]).toEqual([
      409,
      {
        error: { code: "OperationNotAllowed", message: "The operation requires the VM to be running (or set to run)." },
      },
    ]);
    const extension = {
      error: { code: "OperationNotAllowed", message: "Cannot modify extensions in the VM when the VM is not running." },
    };
    const put = await azure.arm.request("PUT", `${own.vmId}/runCommands/late?${API}`, {
      location: azure.location,
      properties: { source: { script: "echo late" } },
    });
    expect([put.status, put.body]).toEqual([409, extension]);
    const removal = await azure.arm.request("DELETE", `${own.vmId}/runCommands/kept?${API}`);
    expect([removal.status, removal.body]).toEqual([409, extension]);
    // What ran before is still there to read.
    expect((await instanceView(azure, `${own.vmId}/runCommands/kept`)).output).toBe("kept\n");

    await power(own.vmId, "deallocate");
    expect(await powerState(own.vmId)).toMatchObject({
      code: "PowerState/deallocated",
      displayStatus: "VM deallocated",
    });
    const restart = await azure.arm.request("POST", `${own.vmId}/restart?${API}`);
    expect([restart.status, restart.body]).toEqual([
      409,
      {
        error: { code: "OperationNotAllowed", message: "The operation requires the VM to be running (or set to run)." },
      },
    ]);

    await power(own.vmId, "start");
    expect(await powerState(own.vmId)).toMatchObject({ code: "PowerState/running" });
    await putRunCommand(azure, `${own.vmId}/runCommands/late`, { source: { script: "echo back" } });
    expect((await instanceView(azure, `${own.vmId}/runCommands/late`)).output).toBe("back\n");
    await power(own.vmId, "restart");
    expect(JSON.stringify(await actionResult(await invoke(own.vmId, ["echo restarted"])))).toContain("restarted");
  });

  it("stopping the VM kills what runs in it", async () => {
    const own = await seedVm(azure, { identity: "user", resourceGroup: "halt-rg", vmName: "halt-vm" });
    const folder = vmFolder(azure, "halt-vm");
    const reply = await azure.arm.request("PUT", `${own.vmId}/runCommands/long?${API}`, {
      location: azure.location,
      properties: { source: { script: 'echo "$$" > "$HOME/long.pid"; sleep 600' } },
    });
    expect(reply.status).toBe(201);
    const pid = Number(await untilFile(join(folder, "long.pid")));
    await power(own.vmId, "powerOff");
    expect(running(pid)).toBe(false);
    expect(await instanceView(azure, `${own.vmId}/runCommands/long`)).toMatchObject({
      executionState: "Failed",
      exitCode: -1,
    });
  });
});

describe("a booting VM, a VM without a public IP, a VM deleted", () => {
  it("keeps a command Pending while the VM boots, and runs it once the guest is ready", async () => {
    azure.faults.sshNotReadySeconds = 3600;
    const own = await seedVm(azure, { identity: "user", resourceGroup: "boot-rg", vmName: "boot-vm" });
    azure.faults.sshNotReadySeconds = 0;
    const reply = await azure.arm.request("PUT", `${own.vmId}/runCommands/early?${API}`, {
      location: azure.location,
      properties: { source: { script: "echo booted" } },
    });
    expect(reply.status).toBe(201);
    expect(await instanceView(azure, `${own.vmId}/runCommands/early`)).toMatchObject({ executionState: "Pending" });
    expect((await azure.arm.request("GET", reply.headers["azure-asyncoperation"])).body).toMatchObject({
      status: "InProgress",
    });
    // The guest comes up (a restart boots it with no delay now): the command runs.
    await power(own.vmId, "restart");
    expect(await untilState(azure, `${own.vmId}/runCommands/early`, "Succeeded")).toMatchObject({ output: "booted\n" });
    expect((await settled(azure, reply)).status).toBe("Succeeded");
  });

  it("gives a VM without a public IP no SSH server at all, and still runs its commands", async () => {
    const own = await seedVm(azure, {
      identity: "user",
      resourceGroup: "private-rg",
      vmName: "private-vm",
      publicIp: false,
    });
    expect(azure.vmRuntime(own.vmId)).toMatchObject({ publicIp: null });
    expect(own.publicIp).toBe("");
    await putRunCommand(azure, `${own.vmId}/runCommands/inside`, {
      source: {
        script:
          'curl -s -H Metadata:true "$AZURE_POD_IDENTITY_AUTHORITY_HOST/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/" | head -c 16',
      },
    });
    expect((await instanceView(azure, `${own.vmId}/runCommands/inside`)).output).toBe('{"access_token":');
    // No address was ever given to it, so nothing of it listens on the port the other VMs' SSH uses.
    const addresses = azure.vmIds().map((id) => azure.vmRuntime(id)?.publicIp);
    expect(addresses.filter((address) => address === null)).toHaveLength(1);
  });

  it("follows its NIC: a public IP taken off the NIC, then deleted, takes the VM's SSH server with it", async () => {
    const own = await seedVm(azure, { identity: "system", grant: false, resourceGroup: "nic-rg", vmName: "nic-vm" });
    const address = own.publicIp;
    const dial = () =>
      new Promise<string>((resolve) => {
        const socket = connect(azure.sshPort, address);
        socket.once("connect", () => {
          socket.destroy();
          resolve("connected");
        });
        socket.once("error", (error: NodeJS.ErrnoException) => resolve(String(error.code)));
      });
    expect(await dial()).toBe("connected");
    const net = `${own.resourceGroupId}/providers/Microsoft.Network`;
    const nicUrl = `${net}/networkInterfaces/nic-vm-nic?api-version=2024-05-01`;
    const nic = (await azure.arm.request("GET", nicUrl)).body as {
      properties: { ipConfigurations: Array<{ name: string; properties: Record<string, unknown> }> };
    };
    const [config] = nic.properties.ipConfigurations;
    const { publicIPAddress: _dropped, ...kept } = config.properties;
    await azure.arm.putAndWait(nicUrl, {
      location: azure.location,
      properties: { ipConfigurations: [{ name: config.name, properties: kept }] },
    });
    await azure.arm.deleteAndWait(`${net}/publicIPAddresses/nic-vm-ip?api-version=2024-05-01`);
    expect((await azure.arm.request("GET", `${net}/publicIPAddresses/nic-vm-ip?api-version=2024-05-01`)).status).toBe(
      404,
    );
    expect(azure.vmRuntime(own.vmId)?.publicIp).toBeNull();
    expect(await dial()).toBe("ECONNREFUSED");
    // It still runs its commands.
    const still = await putRunCommand(azure, `${own.vmId}/runCommands/still`, { source: { script: "echo here" } });
    expect(still.operation.status).toBe("Succeeded");
    expect((await instanceView(azure, `${own.vmId}/runCommands/still`)).output).toBe("here\n");
  });

  it("answers a VM delete's poll Succeeded only once its runtime is torn down, even when another request came in between", async () => {
    const own = await seedVm(azure, { identity: "system", grant: false, resourceGroup: "held-rg", vmName: "held-vm" });
    const imds = String(azure.vmRuntime(own.vmId)?.imdsEndpoint);
    // A request half sent holds the VM's IMDS server open (its close waits for it): the VM's teardown
    // cannot end while this connection lasts.
    const hold = connect(Number(new URL(imds).port), new URL(imds).hostname);
    await once(hold, "connect");
    hold.write("GET /metadata/instance?api-version=2021-02-01 HTTP/1.1\r\nHost: 169.254.169.254\r\n");
    const deleted = await azure.arm.request("DELETE", `${own.vmId}?${API}`);
    expect(deleted.status).toBe(202);
    const events: string[] = [];
    const unrelated = azure.arm.request("GET", `${vm.resourceGroupId}?api-version=2021-04-01`);
    const poll = settled(azure, deleted).then((operation) => events.push(`poll ${operation.status}`));
    // Another request is answered meanwhile, and the teardown reaches the IMDS server (no new connection).
    expect((await unrelated).status).toBe(200);
    await untilRefused(imds);
    events.push("teardown let go");
    hold.destroy();
    await poll;
    expect(events).toEqual(["teardown let go", "poll Succeeded"]);
    expect((await azure.arm.request("GET", `${own.vmId}?${API}`)).status).toBe(404);
  });

  it("deleting a VM while a script runs in it kills the script and tears the guest down", async () => {
    const own = await seedVm(azure, { identity: "user", resourceGroup: "gone-rg", vmName: "gone-vm" });
    const folder = vmFolder(azure, "gone-vm");
    const sshAddress = own.publicIp;
    const reply = await azure.arm.request("PUT", `${own.vmId}/runCommands/long?${API}`, {
      location: azure.location,
      properties: { source: { script: 'echo "$$" > "$HOME/long.pid"; sleep 600' } },
    });
    const action = await invoke(own.vmId, ['echo "$$" > "$HOME/action.pid"', "sleep 600"]);
    const pids = [
      Number(await untilFile(join(folder, "long.pid"))),
      Number(await untilFile(join(folder, "action.pid"))),
    ];
    await azure.arm.deleteAndWait(`${own.vmId}?api-version=2024-11-01`);
    for (const pid of pids) expect(running(pid)).toBe(false);
    expect(azure.vmRuntime(own.vmId)).toBeUndefined();
    expect((await azure.arm.request("GET", `${own.vmId}/runCommands/long?${API}`)).status).toBe(404);
    expect((await settled(azure, reply)).status).toBe("Failed");
    expect(existsSync(folder)).toBe(true);
    expect(action.status).toBe(202);
    // The action killed with its VM is overtaken, not "Provisioning succeeded".
    expect(await settled(azure, action)).toMatchObject({ status: "Failed", error: { code: "OperationPreempted" } });
    // Its SSH server is gone with it.
    const refused = await new Promise<string>((resolve) => {
      const socket = connect(azure.sshPort, sshAddress);
      socket.once("connect", () => {
        socket.destroy();
        resolve("connected");
      });
      socket.once("error", (error: NodeJS.ErrnoException) => resolve(String(error.code)));
    });
    expect(refused).toBe("ECONNREFUSED");
  });
});

describe("while a delete runs (lroSeconds stretched)", () => {
  const code = (reply: ArmResponse) => [reply.status, (reply.body as { error?: { code: string } }).error?.code];
  const message = (reply: ArmResponse) => (reply.body as { error: { message: string } }).error.message;

  it("refuses writes onto what is being deleted, as ARM and Compute do, and the deletes go on", async () => {
    const own = await seedVm(azure, { identity: "system", grant: false, resourceGroup: "doomed-rg", vmName: "doomed" });
    const rc = `${own.vmId}/runCommands/rc`;
    await putRunCommand(azure, rc, { source: { script: "echo kept" } });
    const nsg = `${own.resourceGroupId}/providers/Microsoft.Network/networkSecurityGroups/doomed-nsg?api-version=2024-05-01`;
    expect((await azure.arm.request("PUT", nsg, { location: azure.location, properties: {} })).status).toBe(201);
    azure.faults.lroSeconds = 3600;
    try {
      // A run command's DELETE: Deleting until its operation ends, and a PUT then is refused.
      const deleted = await azure.arm.request("DELETE", `${rc}?${API}`);
      expect(deleted.status).toBe(202);
      const shown = await azure.arm.request("GET", `${rc}?${API}`);
      expect((shown.body as { properties: { provisioningState: string } }).properties.provisioningState).toBe(
        "Deleting",
      );
      const onRunCommand = await azure.arm.request("PUT", `${rc}?${API}`, {
        location: azure.location,
        properties: { source: { script: "echo again" } },
      });
      expect(code(onRunCommand)).toEqual([409, "OperationNotAllowed"]);
      expect(message(onRunCommand)).toBe(
        "Operation 'PUT Extension' is not allowed on VM extension 'rc' since it is marked for deletion. You can only retry the Delete operation (or wait for an ongoing one to complete).",
      );
      // A Network resource being deleted: Network's AnotherOperationInProgress, naming an operation that answers.
      expect((await azure.arm.request("DELETE", nsg)).status).toBe(202);
      const onNsg = await azure.arm.request("PUT", nsg, { location: azure.location, properties: {} });
      expect(code(onNsg)).toEqual([409, "AnotherOperationInProgress"]);
      const watched = /use uri: (\S+)\.$/.exec(message(onNsg))?.[1] ?? "";
      expect((await azure.arm.request("GET", watched)).body).toMatchObject({ status: "InProgress" });
      expect(
        ((await azure.arm.request("GET", nsg)).body as { properties: { provisioningState: string } }).properties
          .provisioningState,
      ).toBe("Deleting");
      // The VM being deleted: its PUT, its run commands and its actions are Compute's OperationNotAllowed.
      const request = (await azure.arm.request("GET", `${own.vmId}?${API}`)).body;
      expect((await azure.arm.request("DELETE", `${own.vmId}?${API}`)).status).toBe(202);
      const onVm = await azure.arm.request("PUT", `${own.vmId}?${API}`, request);
      expect(code(onVm)).toEqual([409, "OperationNotAllowed"]);
      expect(message(onVm)).toBe(
        "Operation 'Update VM' is not allowed on VM 'doomed' since the VM is marked for deletion. You can only retry the Delete operation (or wait for an ongoing one to complete).",
      );
      const newRunCommand = await azure.arm.request("PUT", `${own.vmId}/runCommands/late?${API}`, {
        location: azure.location,
        properties: { source: { script: "true" } },
      });
      expect([...code(newRunCommand), message(newRunCommand)]).toEqual([
        409,
        "OperationNotAllowed",
        "Operation 'PUT Extension' is not allowed on VM 'doomed' since the VM is marked for deletion. You can only retry the Delete operation (or wait for an ongoing one to complete).",
      ]);
      const action = await invoke(own.vmId, ["true"]);
      expect([...code(action), message(action)]).toEqual([
        409,
        "OperationNotAllowed",
        "Operation 'runCommand' is not allowed on VM 'doomed' since the VM is marked for deletion. You can only retry the Delete operation (or wait for an ongoing one to complete).",
      ]);
      const powerOff = await azure.arm.request("POST", `${own.vmId}/powerOff?${API}`);
      expect(code(powerOff)).toEqual([409, "OperationNotAllowed"]);
      expect(message(powerOff)).toContain("Operation 'powerOff' is not allowed on VM 'doomed'");
      // Its group being deleted: ARM's ResourceGroupBeingDeleted, before the provider is asked.
      expect((await azure.arm.request("DELETE", `${own.resourceGroupId}?api-version=2021-04-01`)).status).toBe(202);
      for (const refused of [
        await azure.arm.request("PUT", `${own.vmId}/runCommands/later?${API}`, {
          location: azure.location,
          properties: { source: { script: "true" } },
        }),
        await invoke(own.vmId, ["true"]),
        await azure.arm.request("POST", `${own.vmId}/restart?${API}`),
      ]) {
        expect([...code(refused), message(refused)]).toEqual([
          409,
          "ResourceGroupBeingDeleted",
          "The resource group 'doomed-rg' is in deprovisioning state and cannot perform this operation.",
        ]);
      }
    } finally {
      azure.faults.lroSeconds = 0;
    }
    // Nothing took the resources back from their deletes: they end, the group with them.
    for (const gone of [`${rc}?${API}`, nsg, `${own.vmId}?${API}`, `${own.resourceGroupId}?api-version=2021-04-01`])
      expect((await azure.arm.request("GET", gone)).status).toBe(404);
  });
});

describe("a VM deleted while a change to it is still to be applied (the VM model, called directly)", () => {
  it("boots nothing for a change that comes after its deletion: no guest outlives its VM", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "vm-after-delete-"));
    const imds = createServer();
    await new Promise<void>((resolve) => imds.listen(0, "127.0.0.1", resolve));
    const vm = new VirtualMachine(
      "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/late",
      { endpoint: "http://127.0.0.1:9", server: imds, host: "127.0.0.1", port: 9 },
      {
        guests: { kind: "portable", dataDir, sshPort: 0 },
        caCertPath: "",
        notReadyForSeconds: () => 0,
        report: () => undefined,
      },
    );
    const config = {
      request: { name: "late", properties: { osProfile: { adminUsername: "azureuser" } } } as unknown as VmRequest,
      publicIp: null,
      admits: () => true,
    };
    // Local Azure stops (or ARM deletes the VM) while a NIC's change is on its way to the model.
    const deleted = vm.delete();
    await vm.apply(config);
    await deleted;
    expect(vm.guest).toBeNull();
    expect(existsSync(join(dataDir, "vms", "late"))).toBe(false);
    await vm.start();
    await vm.restart();
    expect(vm.guest).toBeNull();
    await expect(vm.whenReady()).rejects.toThrow("the VM is deleted");
    rmSync(dataDir, { recursive: true, force: true });
  });
});

describe("a guest that does not boot (the VM model, called directly)", () => {
  it("stays running as ARM set it, its agent silent, and whoever waits for its guest hears why it did not boot", async () => {
    // A work folder under a file: the portable guest cannot make it, so its boot fails.
    const blocker = join(vmFolder(azure, "life-vm"), "not-a-folder");
    writeFileSync(blocker, "");
    const imds = createServer();
    const broken = new VirtualMachine(
      "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/broken",
      { endpoint: "http://127.0.0.1:9", server: imds, host: "127.0.0.1", port: 9 },
      {
        guests: { kind: "portable", dataDir: blocker, sshPort: 0 },
        caCertPath: "",
        notReadyForSeconds: () => 0,
        report: () => undefined,
      },
    );
    const config = {
      request: { name: "broken", properties: { osProfile: { adminUsername: "azureuser" } } } as unknown as VmRequest,
      publicIp: null,
      admits: () => true,
    };
    await expect(broken.apply(config)).rejects.toThrow(/ENOTDIR/);
    expect(broken.power).toBe("running");
    await expect(broken.whenReady()).rejects.toThrow(/^its guest did not boot: ENOTDIR/);
  });
});
