import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deployLocal, type LocalRunOptions, type LocalRunResult } from "../../local/deploy";
import { LocalAzure } from "../../local-azure/index";
import { startVirtualClock } from "../../local-azure/virtualClock";
import { programWithPublicIpOnNic } from "../support/editedProgram";
import { inTurn } from "../support/inTurn";
import { readStackNetwork } from "../support/stackNetwork";
import { needsTools } from "../support/systemTools";

/**
 * `npm run local -- --check-via runCommand` with the real program (index.ts), for what only the Run
 * Command form does; tests/e2e/e2e.test.ts runs its identity modes, vmCount 3, the negative control and
 * a second run that changes nothing, with its network read back, for both transports:
 * - a check that fails (RBAC slower than the probe's deadline) is recorded cleanly, and the next plain
 *   run updates the run command in place, which runs the probe again (PROBE_RUN 2) and verifies; the
 *   run after that runs nothing. Its Local Azures run on one virtual clock (local-azure/virtualClock.ts),
 *   so the probe's 30 s are slept, not waited for, and the stamps the kept cloud holds stay on it;
 * - `subnetId`: the VM goes into the user's subnet and the program creates no network;
 * - a public IP added to the NIC is refused by the policy pack before anything exists.
 */

const RUN_COMMAND = "azure-native:compute:VirtualMachineRunCommandByVirtualMachine";
const VERIFIED = "VERIFIED: 1 of 1 check(s) proved access for identity user on 1 VM";

interface HeldRunCommand {
  id: string;
  properties: {
    parameters: Array<{ name: string; value: string }>;
    instanceView: { executionState: string; exitCode: number; startTime: string };
  };
}

/** The run command ARM holds for the check, with its instance view. */
async function heldRunCommand(azure: LocalAzure, result: LocalRunResult): Promise<HeldRunCommand> {
  const [vm] = result.outputs.vms as Array<{ name: string }>;
  const path = `${result.outputs.resourceGroupId}/providers/Microsoft.Compute/virtualMachines/${vm.name}/runCommands/vmia-check-0-user?api-version=2024-11-01&$expand=instanceView`;
  const response = await azure.arm.request("GET", path);
  expect(response.status).toBe(200);
  return response.body as HeldRunCommand;
}

interface HealingRun {
  result: LocalRunResult;
  held?: HeldRunCommand;
  /** How far the virtual clock had been moved on (slept) when the run ended, in ms. */
  slept: number;
}

const probeRun = (held: HeldRunCommand) => held.properties.parameters.find((p) => p.name === "PROBE_RUN")?.value;

describe("npm run local -- --check-via runCommand, the real program", () => {
  const curlInstalled = needsTools("curl");
  const stateRoot = mkdtempSync(join(tmpdir(), "run-command-runner-"));
  const clock = startVirtualClock();
  // The healing stack's three runs start at once and run beside the other cases; its block asserts them in order.
  let healing: Array<Promise<HealingRun>> = [];
  beforeAll(() => {
    if (curlInstalled)
      healing = inTurn([() => healingRun({ rbacDelaySeconds: 3600 }), () => healingRun(), () => healingRun()]);
  });
  afterAll(async () => {
    await Promise.allSettled(healing);
    rmSync(stateRoot, { recursive: true, force: true });
    clock.remove();
  });

  // The same settings each run (the deadline included, so nothing but the evidence asks for a new run).
  const healingOptions: LocalRunOptions = {
    stateDir: join(stateRoot, "heal"),
    accessCheckVia: "runCommand",
    accessCheckTimeoutSeconds: 30,
  };
  /** One run of the healing stack, its Local Azure kept until the run command is read back. */
  async function healingRun(faults?: LocalRunOptions["faults"]): Promise<HealingRun> {
    const result = await deployLocal({ ...healingOptions, faults: { ...faults, clock }, keep: true });
    const azure = result.azure as LocalAzure;
    try {
      const held = result.outputs.vms ? await heldRunCommand(azure, result) : undefined;
      return { result, held, slept: clock.movedOn() };
    } finally {
      await azure.stop();
    }
  }

  it("subnetId: the VM goes into the user's subnet, and the program creates no network", async () => {
    const azure = await LocalAzure.start({});
    try {
      // The user's landing zone: a spoke subnet with its own egress through a NAT gateway, in a group of its own.
      const zone = `/subscriptions/${azure.subscriptionId}/resourceGroups/landing-zone`;
      const net = `${zone}/providers/Microsoft.Network`;
      const api = "api-version=2024-05-01";
      await azure.arm.putAndWait(`${zone}?api-version=2024-03-01`, { location: azure.location });
      await azure.arm.putAndWait(`${net}/publicIPAddresses/egress-ip?${api}`, {
        location: azure.location,
        sku: { name: "Standard" },
        properties: { publicIPAllocationMethod: "Static" },
      });
      await azure.arm.putAndWait(`${net}/natGateways/egress?${api}`, {
        location: azure.location,
        sku: { name: "Standard" },
        properties: { publicIpAddresses: [{ id: `${net}/publicIPAddresses/egress-ip` }] },
      });
      await azure.arm.putAndWait(`${net}/virtualNetworks/spoke?${api}`, {
        location: azure.location,
        properties: { addressSpace: { addressPrefixes: ["10.9.0.0/16"] } },
      });
      const subnetId = `${net}/virtualNetworks/spoke/subnets/workloads`;
      await azure.arm.putAndWait(`${subnetId}?${api}`, {
        properties: { addressPrefix: "10.9.1.0/24", natGateway: { id: `${net}/natGateways/egress` } },
      });
      const before = azure.requestLog.length;

      const result = await deployLocal({
        stateDir: join(stateRoot, "subnet"),
        service: azure,
        accessCheckVia: "runCommand",
        config: { subnetId },
      });
      expect(result.error).toBeNull();
      expect(result.verdict).toBe(VERIFIED);
      expect(result.timeline.filter((event) => event.type.includes(":network:")).map((event) => event.name)).toEqual([
        "vmia-nic0",
      ]);
      // Nothing written outside the stack's own group: the landing zone is only read.
      const writes = azure.requestLog
        .slice(before)
        .filter((entry) => entry.method !== "GET" && entry.method !== "HEAD")
        .map((entry) => entry.path);
      expect(writes.filter((path) => path.toLowerCase().includes("/resourcegroups/landing-zone"))).toEqual([]);
      // The stack's group holds one NIC with no public IP, in the user's subnet, and no other network.
      expect(await readStackNetwork(azure.arm, result.outputs.resourceGroupId as string)).toEqual({
        nics: [{ name: "vmia-nic0", publicIps: [] }],
        inboundAllowRules: [],
        natGateways: [],
        publicIps: [],
        subnets: [],
      });
      const [nic] = (
        (await azure.arm.request("GET", `${subnetId}?${api}`)).body as {
          properties: { ipConfigurations: Array<{ id: string }> };
        }
      ).properties.ipConfigurations;
      expect(nic.id).toMatch(/\/networkInterfaces\/vmia-nic0[0-9a-f]{8}\/ipConfigurations\/primary$/);
      expect(nic.id.startsWith(`${result.outputs.resourceGroupId}/`)).toBe(true);
    } finally {
      await azure.stop();
    }
  });

  it("a public IP added to the NIC is refused by the policy pack, and nothing is created", async () => {
    const program = programWithPublicIpOnNic();
    let result: LocalRunResult | undefined;
    try {
      result = await deployLocal({
        programPath: program.programPath,
        stateDir: join(stateRoot, "policy"),
        accessCheckVia: "runCommand",
        keep: true,
      });
      const message =
        'network interface "vmia-nic0": ipConfigurations[0].publicIPAddress is set; the access check runs through Run Command (run command "vmia-check-0-user"): no network interface may carry a public IP (a NAT gateway\'s own public IP is allowed)';
      expect(result.policyViolations).toEqual([
        { policy: "run-command-no-inbound-path", enforcementLevel: "mandatory", resource: "(stack)", message },
      ]);
      expect(result.ok).toBe(false);
      expect(result.error).toBe(`policy violation: run-command-no-inbound-path (mandatory) (stack): ${message}`);
      expect(result.verdict).toBe("REJECTED BY POLICY: 1 mandatory violation (run-command-no-inbound-path)");
      // Refused in the preview: not even the resource group was created.
      expect(result.timeline).toEqual([]);
      expect((result.azure?.requestLog ?? []).filter((entry) => entry.method !== "GET")).toEqual([]);
    } finally {
      await result?.azure?.stop();
      program.remove();
    }
  });

  describe("a check that fails heals on the next plain run", () => {
    it("the first run fails: the grant reaches ARM an hour later, the probe gives up after 30 s", async () => {
      const first = await healing[0];
      expect(first.result.ok).toBe(false);
      expect(first.result.error).toMatch(
        /^The access check did not verify the expected access \(granted\):\n {2}vmia-vm0[0-9a-f]{8} \(user\): probe-output: the probe should report ok true, reported ok false with error \{"stage":"arm","status":403,"code":"AuthorizationFailed"/,
      );
      expect(first.result.error).toContain(
        'resource-group-read: reading the resource group answered 403 "AuthorizationFailed"',
      );
      expect(first.result.verdict).toMatch(
        /^NOT VERIFIED: 0 of 1 check\(s\) proved access for identity user on 1 VM: /,
      );
      // Recorded cleanly (treatFailureAsDeploymentFailure false): ARM holds the failed run, its evidence judged here.
      expect(first.held?.properties.instanceView).toMatchObject({ executionState: "Failed", exitCode: 1 });
      expect(first.held && probeRun(first.held)).toBe("1");
      // The probe's waits were slept on the virtual clock, never past its deadline of 30 s.
      expect(first.slept).toBeGreaterThan(0);
      expect(first.slept).toBeLessThanOrEqual(30_000);
    });

    it("the next plain run updates the run command in place, which runs the probe again, and verifies", async () => {
      const [first, second, third] = await Promise.all(healing);
      expect(second.result.error).toBeNull();
      expect(second.result.verdict).toBe(VERIFIED);
      // Only the check changed: the same run command (its ID), PUT again with PROBE_RUN 2, so Azure ran it.
      const changed = second.result.timeline.filter((event) => event.operation !== "same");
      expect(changed.map((event) => `${event.operation} ${event.type} ${event.name}`)).toEqual([
        `update ${RUN_COMMAND} vmia-check-0-user`,
      ]);
      expect(second.held?.id).toBe(first.held?.id);
      expect(second.held && probeRun(second.held)).toBe("2");
      expect(second.held?.properties.instanceView).toMatchObject({ executionState: "Succeeded", exitCode: 0 });
      expect(second.held?.properties.instanceView.startTime).not.toBe(first.held?.properties.instanceView.startTime);

      // A third run finds the evidence verified: every resource left alone, nothing runs in the VM again.
      expect(third.result.verdict).toBe(VERIFIED);
      expect(third.result.timeline.filter((event) => event.operation !== "same")).toEqual([]);
      expect(third.held?.properties.instanceView.startTime).toBe(second.held?.properties.instanceView.startTime);
      expect(third.held && probeRun(third.held)).toBe("2");
    });
  });
});
