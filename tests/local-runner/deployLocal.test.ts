import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { deployLocal, destroyLocal, type LocalRunResult } from "../../local/deploy";
import { needsTools } from "../support/systemTools";

interface StackOutputs {
  accessCheck: { verified: boolean; expectation: string; results: Array<{ identity: string; vm: string }> };
  resourceGroupName: string;
  resourceGroupId: string;
  identity: { clientId: string; principalId: string; resourceId: string };
  vms: Array<{ name: string; publicIp: string; sshCommand: string }>;
  sshPrivateKey: string;
}

/** One real run: index.ts under the mocks in a child process, Local Azure here, the probe over SSH. */
describe("deployLocal (end to end, identity user)", () => {
  needsTools("curl");
  const stateDir = mkdtempSync(join(tmpdir(), "local-runner-"));
  const progress: string[] = [];
  let result: LocalRunResult;

  afterAll(async () => {
    await result?.azure?.stop();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it("deploys, proves access and reports the outputs as pulumi stack output would", async () => {
    // keep: the same run then shows destroy deleting through Local Azure's ARM.
    result = await deployLocal({ identity: "user", stateDir, keep: true, onProgress: (line) => progress.push(line) });
    expect(result.error).toBeNull();
    expect(result.ok).toBe(true);
    expect(result.verdict).toBe("VERIFIED: 1 of 1 check(s) proved access for identity user on 1 VM");
    expect(result.azure).not.toBeNull();

    const outputs = result.outputs as unknown as StackOutputs;
    expect(Object.keys(outputs).sort()).toEqual([
      "accessCheck",
      "identity",
      "resourceGroupId",
      "resourceGroupName",
      "sshPrivateKey",
      "vms",
    ]);
    expect(outputs.sshPrivateKey).toBe("[secret]");
    expect(outputs.accessCheck.verified).toBe(true);
    expect(outputs.accessCheck.expectation).toBe("granted");
    expect(outputs.accessCheck.results).toHaveLength(1);
    expect(outputs.accessCheck.results[0].identity).toBe("user");
    expect(outputs.resourceGroupName).toMatch(/^vmia-rg[0-9a-f]{8}$/);
    expect(outputs.resourceGroupId.toLowerCase()).toMatch(
      new RegExp(`^/subscriptions/[0-9a-f-]{36}/resourcegroups/${outputs.resourceGroupName}$`),
    );
    expect(outputs.identity.clientId).toMatch(/^[0-9a-f-]{36}$/);
    expect(outputs.vms).toHaveLength(1);
    expect(outputs.vms[0].publicIp).toMatch(/^127\./);
    expect(outputs.vms[0].sshCommand).toBe(
      `ssh -i vm-key -p ${outputs.vms[0].sshCommand.split(" -p ")[1].split(" ")[0]} azureuser@${outputs.vms[0].publicIp}`,
    );

    // One progress line per resource with its timing, the check's command included.
    expect(
      progress.some((line) => /^ {2}\+ azure-native:compute:VirtualMachine {2}vmia-vm0 {2}\d+\.\d\ds$/.test(line)),
    ).toBe(true);
    expect(progress.some((line) => line.startsWith("  + command:remote:Command  vmia-check-0-user  "))).toBe(true);
    expect(result.timeline.map((event) => event.type)).toContain("azure-native:authorization:RoleAssignment");
    expect(result.commandStdouts.map((c) => c.name)).toEqual(["vmia-check-0-user"]);
    expect(JSON.parse(result.commandStdouts[0].stdout).ok).toBe(true);
  });

  it("writes outputs.json exactly as printed and state.json without secrets but with the key pairs", () => {
    expect(JSON.parse(readFileSync(join(stateDir, "outputs.json"), "utf8"))).toEqual(result.outputs);
    const state = readFileSync(join(stateDir, "state.json"), "utf8");
    const parsed = JSON.parse(state);
    expect(Object.keys(parsed.resources)).toContain("azure-native:resources:ResourceGroup::vmia-rg");
    expect(parsed.resources["azure-native:resources:ResourceGroup::vmia-rg"].id).toBe(result.outputs.resourceGroupId);
    // The remote command's connection (private key) and the VM's customData (host key) stay redacted.
    expect(JSON.stringify(parsed.resources["command:remote:Command::vmia-check-0-user"].inputs.connection)).toBe(
      '"[secret]"',
    );
    // No JWT (an access token) anywhere.
    expect(state).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\./);
  });

  it("keeps kept.json (mode 600) with exactly the fields any client needs, each VM's IMDS and SSH", () => {
    const azure = result.azure;
    if (!azure) throw new Error("no kept Local Azure");
    const file = join(stateDir, "kept.json");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const outputs = result.outputs as unknown as StackOutputs;
    const vmId = Object.values(
      JSON.parse(readFileSync(join(stateDir, "state.json"), "utf8")).resources as Record<
        string,
        { type: string; id: string }
      >,
    ).find((entry) => entry.type === "azure-native:compute:VirtualMachine")?.id as string;
    expect(JSON.parse(readFileSync(file, "utf8"))).toEqual({
      pid: process.pid,
      armEndpoint: azure.armEndpoint,
      authorityHost: azure.authorityHost,
      tenantId: azure.tenantId,
      subscriptionId: azure.subscriptionId,
      caBundle: join(stateDir, "ca.pem"),
      deployer: { clientId: azure.deployer.clientId, clientSecret: azure.deployer.clientSecret },
      vms: [
        {
          name: vmId.split("/").pop(),
          imdsEndpoint: azure.vmRuntime(vmId)?.imdsEndpoint,
          host: outputs.vms[0].publicIp,
          sshPort: azure.sshPort,
        },
      ],
    });
    expect(readFileSync(join(stateDir, "ca.pem"), "utf8")).toBe(azure.caCertPem);
  });

  it("destroy deletes every ARM resource through the kept Local Azure, dependents first, then clears the state", async () => {
    const lines: string[] = [];
    const azure = result.azure;
    if (!azure) throw new Error("no kept Local Azure");
    const before = azure.requestLog.length;
    expect(await destroyLocal({ stateDir, onProgress: (line) => lines.push(line) })).toBe("deleted");
    const deletes = azure.requestLog
      .slice(before)
      .filter((entry) => entry.method === "DELETE")
      .map((entry) => entry.path.split("/").slice(-2)[0].toLowerCase());
    expect(deletes.indexOf("roleassignments")).toBeGreaterThanOrEqual(0);
    expect(deletes.at(-1)).toBe("resourcegroups");
    expect(deletes.indexOf("virtualmachines")).toBeLessThan(deletes.indexOf("networkinterfaces"));
    expect(deletes.indexOf("networkinterfaces")).toBeLessThan(deletes.indexOf("subnets"));
    expect(deletes.indexOf("networkinterfaces")).toBeLessThan(deletes.indexOf("publicipaddresses"));
    expect(lines.at(-1)).toBe(
      "Deleted every resource through Local Azure's ARM, dependents first; cleared the local state.",
    );
    expect(existsSync(join(stateDir, "state.json"))).toBe(false);
    expect(existsSync(join(stateDir, "outputs.json"))).toBe(false);

    // Nothing held any more: a second destroy only clears, and says so.
    const again: string[] = [];
    expect(await destroyLocal({ stateDir, onProgress: (line) => again.push(line) })).toBe("cleared");
    expect(again).toEqual(["The local stack holds nothing; cleared the local state."]);
  });
});
