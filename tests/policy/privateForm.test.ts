import type { PolicyResource } from "@pulumi/policy";
import { describe, expect, it, vi } from "vitest";
import { evaluatePolicies, evaluateStack, type RegisteredResource } from "../../local/policyCheck";
import { securityPolicies } from "../../policy/policies";
import { isPrivateForm, privateFormNoInboundPath } from "../../policy/privateForm";
import { type ProgramRun, runProgram } from "../support/programMocks";

/**
 * run-command-no-inbound-path: with the check through Run Command, no NIC carries a public IP and no
 * rule lets anything in from outside the virtual network; the NAT gateway's own public IP is allowed.
 * Judged on the program's own registrations, as run, and edited the way a fork might.
 */

const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
const WHY = 'the access check runs through Run Command (run command "vmia-check-0-user")';

const program = (settings: Record<string, string>) => runProgram(settings, { resetModules: () => vi.resetModules() });

/** The registrations, each passed through `edit` (a copy: the run's own stay as they were). */
function edited(run: ProgramRun, edit: (resource: RegisteredResource) => void = () => undefined): RegisteredResource[] {
  return run.registrations.map((registration) => {
    const copy = structuredClone(registration) as RegisteredResource;
    edit(copy);
    return copy;
  });
}

const only = (resources: RegisteredResource[]) =>
  evaluateStack(resources, [privateFormNoInboundPath]).then((violations) => violations.map((v) => v.message));

describe("run-command-no-inbound-path", async () => {
  const runCommand = await program({ accessCheckVia: "runCommand" });
  const overSsh = await program({ sshAllowedCidr: "198.51.100.7/32" });

  it("finds nothing in the program's private form, its NAT gateway's public IP included, nor with the whole pack", async () => {
    expect(runCommand.loadError).toBeUndefined();
    expect(runCommand.registrations.map((r) => r.type)).toContain("azure-native:network:NatGateway");
    expect(runCommand.registrations.map((r) => r.type)).toContain("azure-native:network:PublicIPAddress");
    expect(await only(edited(runCommand))).toEqual([]);
    expect(await evaluatePolicies(edited(runCommand), securityPolicies)).toEqual([]);
  });

  it("rejects a public IP added to the NIC, even one whose ID is not known yet (a preview)", async () => {
    const withIp = edited(runCommand, (resource) => {
      if (resource.type !== "azure-native:network:NetworkInterface") return;
      const [configuration] = (resource.inputs as { ipConfigurations: Array<Record<string, unknown>> })
        .ipConfigurations;
      configuration.publicIPAddress = { id: UNKNOWN };
    });
    expect(await only(withIp)).toEqual([
      `network interface "vmia-nic0": ipConfigurations[0].publicIPAddress is set; ${WHY}: no network interface may carry a public IP (a NAT gateway's own public IP is allowed)`,
    ]);
    const [violation] = await evaluatePolicies(withIp, securityPolicies);
    expect(violation).toMatchObject({ policy: "run-command-no-inbound-path", enforcementLevel: "mandatory" });
  });

  it("rejects an inbound allow rule from outside the virtual network, inline or separate, and allows VirtualNetwork", async () => {
    const withRules = edited(runCommand, (resource) => {
      if (resource.type !== "azure-native:network:NetworkSecurityGroup") return;
      (resource.inputs as { securityRules: unknown[] }).securityRules = [
        { name: "ssh-from-office", access: "Allow", direction: "Inbound", sourceAddressPrefix: "203.0.113.0/24" },
        { name: "from-vnet", access: "Allow", direction: "Inbound", sourceAddressPrefix: "VirtualNetwork" },
        { name: "deny-all", access: "Deny", direction: "Inbound", sourceAddressPrefix: "*" },
        { name: "out", access: "Allow", direction: "Outbound", sourceAddressPrefix: "*" },
        { name: "unknown", access: "Allow", direction: "Inbound", sourceAddressPrefix: UNKNOWN },
      ];
    });
    withRules.push({
      type: "azure-native:network:SecurityRule",
      name: "extra",
      inputs: {
        access: "Allow",
        direction: "Inbound",
        sourceAddressPrefixes: ["virtualnetwork", "Internet"],
      },
    });
    expect(await only(withRules)).toEqual([
      `network security group "vmia-nsg": securityRules[0] ("ssh-from-office") allows inbound traffic from sourceAddressPrefix "203.0.113.0/24"; ${WHY}: no rule may allow inbound traffic from outside the virtual network (allowed source: "VirtualNetwork")`,
      `security rule "extra" allows inbound traffic from sourceAddressPrefixes[1] "Internet"; ${WHY}: no rule may allow inbound traffic from outside the virtual network (allowed source: "VirtualNetwork")`,
    ]);
  });

  it("rejects a VM's inline network interface with a public IP configuration", async () => {
    const inline = edited(runCommand, (resource) => {
      if (resource.type !== "azure-native:compute:VirtualMachine") return;
      (resource.inputs as { networkProfile: Record<string, unknown> }).networkProfile = {
        networkApiVersion: "2020-11-01",
        networkInterfaceConfigurations: [
          {
            name: "inline-nic",
            ipConfigurations: [
              { name: "private", subnet: { id: UNKNOWN } },
              { name: "public", subnet: { id: UNKNOWN }, publicIPAddressConfiguration: { name: "pip" } },
            ],
          },
        ],
      };
    });
    expect(await only(inline)).toEqual([
      `virtual machine "vmia-vm0": networkProfile.networkInterfaceConfigurations[0].ipConfigurations[1].publicIPAddressConfiguration is set; ${WHY}: no network interface may carry a public IP (a NAT gateway's own public IP is allowed)`,
    ]);
  });

  it("leaves the SSH form alone: its NIC carries the public IP the check dials", async () => {
    expect(overSsh.registrations.map((r) => r.type)).toContain("command:remote:Command");
    expect(await only(edited(overSsh))).toEqual([]);
  });
});

describe("which resources say the stack is in the private form", () => {
  const CHECK = "vm-identity-access:index:VmAccessCheck";
  /** A resource as Pulumi's analyzer hands it over, with its parent (offline, the evaluator knows none). */
  const resource = (type: string, name: string, parentType?: string): PolicyResource =>
    ({
      type,
      name,
      urn: `urn:pulumi:stack::project::${type}::${name}`,
      props: {},
      ...(parentType !== undefined ? { parent: { type: parentType, name: "parent" } } : {}),
      isType: (resourceClass: { __pulumiType?: string }) => resourceClass.__pulumiType === type,
    }) as unknown as PolicyResource;
  const RUN_COMMAND = "azure-native:compute:VirtualMachineRunCommandByVirtualMachine";
  const REMOTE = "command:remote:Command";

  it("the check's own run command puts it in the private form; a remote command of something else does not take it out", () => {
    expect(
      isPrivateForm([
        resource(RUN_COMMAND, "vmia-check-0-user", CHECK),
        resource(REMOTE, "seed-data", "pulumi:pulumi:Stack"),
      ]),
    ).toEqual({ runCommand: "vmia-check-0-user" });
  });

  it("a run command of something else does not put an SSH stack in it; the check's own remote command keeps it out", () => {
    expect(isPrivateForm([resource(RUN_COMMAND, "patch-os", "pulumi:pulumi:Stack")])).toBeUndefined();
    expect(
      isPrivateForm([resource(RUN_COMMAND, "vmia-check-0-user", CHECK), resource(REMOTE, "vmia-check-1-user", CHECK)]),
    ).toBeUndefined();
  });

  it("without parents (the offline evaluator), every run command and remote command counts, as before", () => {
    expect(isPrivateForm([resource(RUN_COMMAND, "vmia-check-0-user")])).toEqual({ runCommand: "vmia-check-0-user" });
    expect(isPrivateForm([resource(RUN_COMMAND, "vmia-check-0-user"), resource(REMOTE, "other")])).toBeUndefined();
  });
});
