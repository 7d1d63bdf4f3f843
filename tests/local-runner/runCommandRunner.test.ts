import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { deployLocal, type LocalRunResult } from "../../local/deploy";
import { cloudDir } from "../../local/engineStack";
import { readCloud } from "../../local-azure/persist";

/**
 * The runner's side of the check through Run Command (issue 23, BRIEF interface 1), with a program that
 * declares what `accessCheckVia: runCommand` does (fixtures/runCommand): the mocks create a NAT gateway
 * and its IP, a subnet egressing through it, a NIC with no public IP, a managed run command under its VM,
 * answer the run command's getter and keep a Stash, across runs as the engine would. Local Azure serves
 * these types as it serves any type it stores; running the command's script inside the VM is Local
 * Azure's part (another branch), not checked here.
 */

const PROGRAM = join(__dirname, "fixtures", "runCommand", "index.ts");
const RUN_COMMAND = "azure-native:compute:VirtualMachineRunCommandByVirtualMachine";

describe("npm run local with what a Run Command check declares", () => {
  const stateDir = mkdtempSync(join(tmpdir(), "run-command-runner-"));
  afterAll(() => rmSync(stateDir, { recursive: true, force: true }));
  const run = (config: Record<string, string> = {}) => deployLocal({ stateDir, programPath: PROGRAM, config });
  const operationOf = (result: LocalRunResult, type: string) =>
    result.timeline.find((event) => event.type === type)?.operation ?? "create";
  /** The resources the kept cloud holds, by ARM type (lower case). */
  const stored = () => {
    const cloud = readCloud(cloudDir(stateDir));
    return (type: string) =>
      (cloud?.store.resources ?? []).filter((resource) => resource.type.toLowerCase() === type.toLowerCase());
  };

  it("creates the NAT gateway, the private NIC and the run command under its VM, and reads it back with the getter", async () => {
    const result = await run();
    expect(result.timeline.filter((event) => !event.ok)).toEqual([]);
    expect(result.outputs.runCommandScript).toBe("echo hello");
    expect(result.outputs.stashed).toEqual({ input: "first", output: "first" });
    const held = stored();
    const [nat] = held("Microsoft.Network/natGateways");
    expect(result.outputs.natGatewayId).toBe(nat.id);
    expect(nat.body).toMatchObject({ sku: { name: "Standard" }, properties: { idleTimeoutInMinutes: 4 } });
    const [natIp] = held("Microsoft.Network/publicIPAddresses");
    expect((nat.body.properties as { publicIpAddresses: unknown }).publicIpAddresses).toEqual([{ id: natIp.id }]);
    expect(held("Microsoft.Network/virtualNetworks/subnets")[0].body).toMatchObject({
      properties: { natGateway: { id: nat.id } },
    });
    const [nic] = held("Microsoft.Network/networkInterfaces");
    const [ipConfiguration] = (nic.body.properties as { ipConfigurations: Array<{ properties: object }> })
      .ipConfigurations;
    expect(ipConfiguration.properties).not.toHaveProperty("publicIPAddress");
    const [runCommand] = held("Microsoft.Compute/virtualMachines/runCommands");
    expect(runCommand.id).toBe(result.outputs.runCommandId);
    expect(runCommand.id).toMatch(
      /\/providers\/Microsoft\.Compute\/virtualMachines\/rc-vm[0-9a-f]{8}\/runCommands\/probe$/,
    );
    expect(runCommand.body).toMatchObject({
      location: "eastus",
      properties: {
        source: { script: "echo hello" },
        parameters: [{ name: "GREETING", value: "hello" }],
        asyncExecution: false,
        timeoutInSeconds: 120,
        treatFailureAsDeploymentFailure: true,
      },
    });
  });

  it("leaves an unchanged run command alone (no PUT, so no run), and a Stash keeps its first output", async () => {
    const result = await run({ stashInput: "second" });
    expect(operationOf(result, RUN_COMMAND)).toBe("same");
    expect(operationOf(result, "azure-native:network:NatGateway")).toBe("same");
    expect(operationOf(result, "pulumi:index:Stash")).toBe("update");
    expect(result.outputs.stashed).toEqual({ input: "second", output: "first" });
  });

  it("updates a run command whose script changed in place (the same ID, PUT again)", async () => {
    const before = stored()("Microsoft.Compute/virtualMachines/runCommands")[0].id;
    const result = await run({ stashInput: "second", script: "echo again" });
    expect(operationOf(result, RUN_COMMAND)).toBe("update");
    expect(result.outputs.runCommandScript).toBe("echo again");
    const [runCommand] = stored()("Microsoft.Compute/virtualMachines/runCommands");
    expect(runCommand.id).toBe(before);
    expect(runCommand.body).toMatchObject({ properties: { source: { script: "echo again" } } });
  });
});
