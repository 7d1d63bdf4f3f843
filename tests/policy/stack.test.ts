import { describe, expect, it, vi } from "vitest";
import { analyzerProps, evaluatePolicies, evaluateResource } from "../../local/policyCheck";
import { securityPolicies } from "../../policy/policies";
import { type RoleAssignmentProps, roleAssignmentViolations } from "../../policy/readerRoleAssignment";
import { type NetworkSecurityGroupProps, networkSecurityGroupViolations } from "../../policy/sshFromInternet";
import { sshKeysOnlyViolations, type VirtualMachineProps } from "../../policy/sshKeysOnly";
import { runProgram } from "../support/programMocks";

const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

describe("the pack on the stack as it is", () => {
  it.each<Record<string, string>>([
    { identity: "user", vmCount: "1" },
    { identity: "system", vmCount: "2" },
    { identity: "both", vmCount: "10" },
    { identity: "user", vmCount: "1", grantAccess: "false" },
  ])("finds no violation with %j", async (settings) => {
    const result = await runProgram(
      { sshAllowedCidr: "198.51.100.7/32", ...settings },
      { resetModules: () => vi.resetModules() },
    );
    expect(result.loadError).toBeUndefined();
    const types = new Set(result.registrations.map((registration) => registration.type));
    // Every type a policy reads was registered, so the empty list means something.
    for (const type of [
      "azure-native:network:NetworkSecurityGroup",
      "azure-native:network:PublicIPAddress",
      "azure-native:compute:VirtualMachine",
      "command:remote:Command",
    ]) {
      expect(types).toContain(type);
    }
    if (settings.grantAccess !== "false") expect(types).toContain("azure-native:authorization:RoleAssignment");
    expect(await evaluatePolicies(result.registrations, securityPolicies)).toEqual([]);
  });
});

describe("values not known yet (preview)", () => {
  it("skips an unknown property and still judges the known ones", async () => {
    const props = analyzerProps<RoleAssignmentProps>({
      scope: UNKNOWN,
      roleDefinitionId: UNKNOWN,
      principalId: UNKNOWN,
      principalType: "User",
    });
    expect(roleAssignmentViolations("a", props)).toEqual([
      'role assignment "a": principalType is "User"; allowed: "ServicePrincipal"',
    ]);
  });

  it("skips an unknown list, an unknown rule and an unknown source, and judges the rest", () => {
    expect(
      networkSecurityGroupViolations(
        "n",
        analyzerProps<NetworkSecurityGroupProps>({ resourceGroupName: "rg", securityRules: UNKNOWN }),
      ),
    ).toEqual([]);
    const rule = { access: "Allow", direction: "Inbound", protocol: "Tcp", destinationPortRange: "22" };
    const props = analyzerProps<NetworkSecurityGroupProps>({
      resourceGroupName: "rg",
      securityRules: [UNKNOWN, { ...rule, sourceAddressPrefix: UNKNOWN }, { ...rule, sourceAddressPrefix: "*" }],
    });
    expect(networkSecurityGroupViolations("n", props)).toEqual([
      'network security group "n": securityRules[2] allows inbound SSH (port 22, destinationPortRange "22") from the Internet: sourceAddressPrefix "*"; allowed: a specific network such as "203.0.113.7/32", never *, Internet, Any or a /0 prefix',
    ]);
  });

  it("an unknown osProfile is not judged, but a password not known yet is still a password", () => {
    expect(
      sshKeysOnlyViolations("vm", analyzerProps<VirtualMachineProps>({ resourceGroupName: "rg", osProfile: UNKNOWN })),
    ).toEqual([]);
    expect(
      sshKeysOnlyViolations(
        "vm",
        analyzerProps<VirtualMachineProps>({
          osProfile: { adminPassword: UNKNOWN, linuxConfiguration: { disablePasswordAuthentication: true } },
        }),
      ),
    ).toEqual([
      'virtual machine "vm": osProfile.adminPassword is set (value withheld); allowed: not set (SSH keys only)',
    ]);
  });

  it("the whole pack on a preview-shaped VM and role assignment reports nothing it cannot know", async () => {
    const violations = await evaluateResource({
      type: "azure-native:authorization:RoleAssignment",
      name: "vmia-user-reader",
      inputs: { scope: UNKNOWN, principalId: UNKNOWN, principalType: "ServicePrincipal", roleDefinitionId: UNKNOWN },
    });
    expect(violations).toEqual([]);
  });
});
