import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { deployLocal, type LocalRunResult } from "../../local/deploy";
import type { AccessCheck, ProbeResultV1 } from "../../verify/contract";
import { programWithSshOpenToAll } from "../support/editedProgram";
import { leftovers } from "./support";

/**
 * `npm run local -- --guest linux`: the program with its production settings (no armEndpoint,
 * imdsEndpoint or sshPort) against Local Azure with booted guests, so its evidence is what Azure's
 * would be: a token for https://management.azure.com/, SSH on port 22.
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

function expectProductionEvidence(result: LocalRunResult): void {
  for (const entry of accessCheckOf(result).results) {
    expect(entry.expected.resource).toBe("https://management.azure.com/");
    expect(probeOf(entry).target).toMatchObject({
      armEndpoint: "https://management.azure.com",
      resource: "https://management.azure.com/",
    });
  }
  // SSH on 22: the command a user would type has no -p.
  for (const vm of result.outputs.vms as Array<{ publicIp: string; sshCommand: string }>) {
    expect(vm.sshCommand).toBe(`ssh -i vm-key azureuser@${vm.publicIp}`);
  }
}

describe("npm run local -- --guest linux", () => {
  it.each(["user", "system", "both"] as const)(
    "identity %s: verified, with a token for Azure's ARM",
    async (identity) => {
      const result = await deployLocal({ guest: "linux", identity, stateDir: freshState() });
      expect(result.error).toBeNull();
      expect(result.ok).toBe(true);
      const checks = accessCheckOf(result).results;
      expect(checks.map((entry) => entry.identity)).toEqual(identity === "both" ? ["user", "system"] : [identity]);
      for (const entry of checks) expect(probeOf(entry).token?.claims?.aud).toBe("https://management.azure.com/");
      expectProductionEvidence(result);
    },
  );

  it("vmCount 3: three guests boot in parallel and each proves access", async () => {
    const result = await deployLocal({ guest: "linux", vmCount: 3, stateDir: freshState() });
    expect(result.verdict).toBe("VERIFIED: 3 of 3 check(s) proved access for identity user on 3 VMs");
    const vms = new Set(accessCheckOf(result).results.map((entry) => entry.vm));
    expect(vms.size).toBe(3);
    // Booted side by side: each guest's check started before any had finished.
    const checks = result.timeline.filter((event) => event.type === "command:remote:Command");
    expect(checks).toHaveLength(3);
    const firstFinished = Math.min(...checks.map((event) => event.finishedAt ?? Number.POSITIVE_INFINITY));
    for (const event of checks) expect(event.startedAt).toBeLessThan(firstFinished);
    expectProductionEvidence(result);
  });

  it("--no-grant: the negative control proves denial (403 AuthorizationFailed from Azure's ARM address)", async () => {
    const result = await deployLocal({ guest: "linux", grantAccess: false, stateDir: freshState() });
    expect(result.ok).toBe(true);
    expect(accessCheckOf(result).expectation).toBe("denied");
    const [entry] = accessCheckOf(result).results;
    expect(probeOf(entry).resourceGroup?.status).toBe(403);
    expect(probeOf(entry).error).toMatchObject({ stage: "arm", status: 403, code: "AuthorizationFailed" });
    expectProductionEvidence(result);
  });

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
