import { describe, expect, it } from "vitest";
import { evaluateResource } from "../../local/policyCheck";
import { trustedLaunchViolations, vmTrustedLaunch } from "../../policy/trustedLaunch";
import { stackVm } from "./fixtures/stackResources";

describe("vm-trusted-launch", () => {
  it("passes the stack's VM: Trusted Launch, Secure Boot, vTPM", () => {
    expect(trustedLaunchViolations("vmia-vm0", stackVm())).toEqual([]);
  });

  it("rejects a VM without a security profile, naming each missing setting", () => {
    expect(
      trustedLaunchViolations(
        "vmia-vm0",
        stackVm((v) => delete v.securityProfile),
      ),
    ).toEqual([
      'virtual machine "vmia-vm0": securityProfile.securityType is not set; allowed: "TrustedLaunch"',
      'virtual machine "vmia-vm0": securityProfile.uefiSettings.secureBootEnabled is not set; allowed: true',
      'virtual machine "vmia-vm0": securityProfile.uefiSettings.vTpmEnabled is not set; allowed: true',
    ]);
  });

  it("rejects ConfidentialVM, and Secure Boot or vTPM turned off", () => {
    const vm = stackVm((v) => {
      v.securityProfile = {
        securityType: "ConfidentialVM",
        uefiSettings: { secureBootEnabled: false, vTpmEnabled: true },
      };
    });
    expect(trustedLaunchViolations("vmia-vm0", vm)).toEqual([
      'virtual machine "vmia-vm0": securityProfile.securityType is "ConfidentialVM"; allowed: "TrustedLaunch"',
      'virtual machine "vmia-vm0": securityProfile.uefiSettings.secureBootEnabled is false; allowed: true',
    ]);
    const noTpm = stackVm((v) => {
      v.securityProfile = {
        securityType: "TrustedLaunch",
        uefiSettings: { secureBootEnabled: true, vTpmEnabled: false },
      };
    });
    expect(trustedLaunchViolations("vmia-vm0", noTpm)).toEqual([
      'virtual machine "vmia-vm0": securityProfile.uefiSettings.vTpmEnabled is false; allowed: true',
    ]);
  });

  it("the policy object is mandatory", async () => {
    const violations = await evaluateResource(
      { type: "azure-native:compute:VirtualMachine", name: "vm", inputs: stackVm((v) => delete v.securityProfile) },
      [vmTrustedLaunch],
    );
    expect(violations.map((v) => [v.policy, v.enforcementLevel, v.resource])).toEqual([
      ["vm-trusted-launch", "mandatory", "vm"],
      ["vm-trusted-launch", "mandatory", "vm"],
      ["vm-trusted-launch", "mandatory", "vm"],
    ]);
  });
});
