import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { type AccessCheckVia, deployLocal, type LocalRunOptions, type LocalRunResult } from "../../local/deploy";
import type { ArmClient } from "../../local-azure/armClient";
import type { AccessCheck, ProbeResultV1 } from "../../verify/contract";
import { programWithSshOpenToAll } from "../support/editedProgram";
import { privateNetwork, readStackNetwork, sshNetwork } from "../support/stackNetwork";
import { leftovers } from "./support";

/**
 * `npm run local -- --guest linux`: the program with its production settings (no armEndpoint,
 * imdsEndpoint or sshPort) against Local Azure with booted guests, so its evidence is what Azure's
 * would be: a token for https://management.azure.com/, over SSH on port 22, through Run Command run as
 * root inside the guest and dropped to nobody; each identity mode, vmCount 3 and --no-grant both ways,
 * each stack's network read back from Local Azure.
 */

// Each case is a stack of its own: `npm run local` keeps a stack's cloud between runs, so one folder
// for all would make each case an update of the previous one.
const stateRoot = mkdtempSync(join(tmpdir(), "guest-runner-"));
afterAll(() => rmSync(stateRoot, { recursive: true, force: true }));
const freshState = () => mkdtempSync(join(stateRoot, "stack-"));

function accessCheckOf(result: LocalRunResult): AccessCheck {
  return result.outputs.accessCheck as AccessCheck;
}

/** The probe's evidence of one check (its JSON, as the judge parsed it). */
function probeOf(entry: AccessCheck["results"][number]): ProbeResultV1 {
  return entry.probe as ProbeResultV1;
}

/**
 * Azure's own addresses in the evidence; over SSH on port 22 (the command a user would type has no -p),
 * through Run Command as nobody (the agent starts it as root inside the guest; the preamble drops to
 * nobody before the probe's first request) with no address or key in the outputs.
 */
function expectProductionEvidence(result: LocalRunResult, via: AccessCheckVia): void {
  for (const entry of accessCheckOf(result).results) {
    expect(entry.expected.resource).toBe("https://management.azure.com/");
    expect(probeOf(entry).target).toMatchObject({
      armEndpoint: "https://management.azure.com",
      resource: "https://management.azure.com/",
    });
    const runAs = (probeOf(entry) as { runAs?: unknown }).runAs;
    expect(runAs).toEqual(via === "runCommand" ? { user: "nobody", uid: 65534 } : undefined);
  }
  for (const vm of result.outputs.vms as Array<{ name: string; publicIp?: string; sshCommand?: string }>) {
    if (via === "ssh") expect(vm.sshCommand).toBe(`ssh -i vm-key azureuser@${vm.publicIp}`);
    else expect(Object.keys(vm)).toEqual(["name"]);
  }
}

/** The stack's checks: over SSH remote commands, through Run Command run commands. */
const CHECK_TYPE = {
  ssh: "command:remote:Command",
  runCommand: "azure-native:compute:VirtualMachineRunCommandByVirtualMachine",
} as const;

/**
 * One `npm run local -- --guest linux` with Local Azure kept until the stack's network is read back
 * from its ARM: through Run Command no public IP on any NIC, no inbound rule, egress through the NAT
 * gateway; over SSH a public IP per NIC and SSH on port 22 from 127.0.0.1/32 only.
 */
async function deployed(options: LocalRunOptions & { accessCheckVia: AccessCheckVia }): Promise<LocalRunResult> {
  const result = await deployLocal({ guest: "linux", stateDir: freshState(), ...options, keep: true });
  try {
    const vmCount = options.vmCount ?? 1;
    if (result.outputs.resourceGroupId !== undefined) {
      const network = await readStackNetwork(result.azure?.arm as ArmClient, result.outputs.resourceGroupId as string);
      expect(network).toEqual(
        options.accessCheckVia === "runCommand" ? privateNetwork(vmCount) : sshNetwork(vmCount, "127.0.0.1/32", 22),
      );
    }
    return result;
  } finally {
    await result.azure?.stop();
  }
}

describe.each(["ssh", "runCommand"] as const)("npm run local -- --guest linux --check-via %s", (via) => {
  it.each(["user", "system", "both"] as const)(
    "identity %s: verified, with a token for Azure's ARM",
    async (identity) => {
      const result = await deployed({ identity, accessCheckVia: via });
      expect(result.error).toBeNull();
      expect(result.ok).toBe(true);
      const checks = accessCheckOf(result).results;
      expect(checks.map((entry) => entry.identity)).toEqual(identity === "both" ? ["user", "system"] : [identity]);
      for (const entry of checks) expect(probeOf(entry).token?.claims?.aud).toBe("https://management.azure.com/");
      expectProductionEvidence(result, via);
    },
  );

  it("vmCount 3: three guests boot in parallel and each proves access", async () => {
    const result = await deployed({ vmCount: 3, accessCheckVia: via });
    expect(result.verdict).toBe("VERIFIED: 3 of 3 check(s) proved access for identity user on 3 VMs");
    const vms = new Set(accessCheckOf(result).results.map((entry) => entry.vm));
    expect(vms.size).toBe(3);
    // Booted side by side: each guest's check started before any had finished.
    const checks = result.timeline.filter((event) => event.type === CHECK_TYPE[via]);
    expect(checks).toHaveLength(3);
    const firstFinished = Math.min(...checks.map((event) => event.finishedAt ?? Number.POSITIVE_INFINITY));
    for (const event of checks) expect(event.startedAt).toBeLessThan(firstFinished);
    expectProductionEvidence(result, via);
  });

  it("--no-grant: the negative control proves denial (403 AuthorizationFailed from Azure's ARM address)", async () => {
    const result = await deployed({ grantAccess: false, accessCheckVia: via });
    expect(result.ok).toBe(true);
    expect(accessCheckOf(result).expectation).toBe("denied");
    const [entry] = accessCheckOf(result).results;
    expect(probeOf(entry).resourceGroup?.status).toBe(403);
    expect(probeOf(entry).error).toMatchObject({ stage: "arm", status: 403, code: "AuthorizationFailed" });
    expectProductionEvidence(result, via);
  });
});

describe("npm run local -- --guest linux, refused and cleaned up", () => {
  it("the SSH rule opened to * is refused on port 22, before anything exists", async () => {
    const program = programWithSshOpenToAll();
    try {
      const result = await deployLocal({ guest: "linux", programPath: program.programPath, stateDir: freshState() });
      expect(result.policyViolations).toEqual([
        {
          policy: "nsg-no-ssh-from-internet",
          enforcementLevel: "mandatory",
          resource: "vmia-nsg",
          message:
            'network security group "vmia-nsg": securityRules[0] ("allow-ssh-from-allowed-cidr") allows inbound SSH (port 22, destinationPortRange "22") from the Internet: sourceAddressPrefix "*"; allowed: a specific network such as "203.0.113.7/32", never *, Internet, Any or a /0 prefix',
        },
      ]);
      expect(result.verdict).toBe("REJECTED BY POLICY: 1 mandatory violation (nsg-no-ssh-from-internet)");
      expect(result.timeline).toEqual([]);
    } finally {
      program.remove();
    }
  });

  it("leaves no guest behind once each run is over", () => {
    expect(leftovers()).toEqual([]);
  });
});
