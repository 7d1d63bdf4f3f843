import * as compute from "@pulumi/azure-native/compute";
import { type ResourceValidationPolicy, validateResourceOfType } from "@pulumi/policy";
import type { VirtualMachineProps } from "./sshKeysOnly";
import { peek, sameText, shown, UNKNOWN } from "./values";

/**
 * A VM boots with Trusted Launch, Secure Boot and a vTPM: `securityProfile.securityType`
 * TrustedLaunch and both `securityProfile.uefiSettings` switches true. Each missing or wrong
 * setting is its own violation.
 */
export function trustedLaunchViolations(name: string, vm: VirtualMachineProps): string[] {
  const violations: string[] = [];
  const securityType = peek(() => vm.securityProfile?.securityType);
  if (securityType !== UNKNOWN && !sameText(securityType, "TrustedLaunch")) {
    violations.push(
      `virtual machine "${name}": securityProfile.securityType is ${shown(securityType)}; allowed: "TrustedLaunch"`,
    );
  }
  for (const setting of ["secureBootEnabled", "vTpmEnabled"] as const) {
    const value = peek(() => vm.securityProfile?.uefiSettings?.[setting]);
    if (value !== UNKNOWN && value !== true) {
      violations.push(
        `virtual machine "${name}": securityProfile.uefiSettings.${setting} is ${shown(value)}; allowed: true`,
      );
    }
  }
  return violations;
}

export const vmTrustedLaunch: ResourceValidationPolicy = {
  name: "vm-trusted-launch",
  description: "VMs use Trusted Launch with Secure Boot and vTPM enabled.",
  enforcementLevel: "mandatory",
  validateResource: validateResourceOfType(compute.VirtualMachine, (vm, args, reportViolation) => {
    for (const message of trustedLaunchViolations(args.name, vm)) reportViolation(message);
  }),
};
