import * as compute from "@pulumi/azure-native/compute";
import { type ResourceValidationPolicy, validateResourceOfType } from "@pulumi/policy";
import type * as pulumi from "@pulumi/pulumi";
import { peek, sameText, shown, UNKNOWN } from "./values";

export type VirtualMachineProps = pulumi.Unwrap<compute.VirtualMachineArgs>;

/** A VM is Linux unless it says it is Windows (a Windows configuration or a Windows OS disk). */
function isWindows(vm: VirtualMachineProps): boolean {
  const windowsConfiguration = peek(() => vm.osProfile?.windowsConfiguration);
  const osType = peek(() => vm.storageProfile?.osDisk?.osType);
  return (windowsConfiguration !== undefined && windowsConfiguration !== UNKNOWN) || sameText(osType, "Windows");
}

/**
 * A Linux VM signs in with SSH keys only: `osProfile.linuxConfiguration.disablePasswordAuthentication`
 * is true, and no `osProfile.adminPassword` exists to be guessed. The setting must be there: left
 * out, Azure allows a password whenever one is given.
 */
export function sshKeysOnlyViolations(name: string, vm: VirtualMachineProps): string[] {
  if (isWindows(vm)) return [];
  const osProfile = peek(() => vm.osProfile);
  // The whole profile is not known yet: nothing in it can be judged now.
  if (osProfile === UNKNOWN) return [];
  const violations: string[] = [];
  const disabled = peek(() => osProfile?.linuxConfiguration?.disablePasswordAuthentication);
  if (disabled !== UNKNOWN && disabled !== true) {
    violations.push(
      `virtual machine "${name}": osProfile.linuxConfiguration.disablePasswordAuthentication is ${shown(disabled)}; allowed: true (SSH keys only)`,
    );
  }
  const password = peek(() => osProfile?.adminPassword);
  // A password that is not known yet is still a password.
  if (password !== undefined && password !== null && password !== "") {
    violations.push(
      `virtual machine "${name}": osProfile.adminPassword is set (value withheld); allowed: not set (SSH keys only)`,
    );
  }
  return violations;
}

export const linuxSshKeysOnly: ResourceValidationPolicy = {
  name: "vm-linux-ssh-keys-only",
  description:
    "Linux VMs disable password authentication (osProfile.linuxConfiguration.disablePasswordAuthentication: true) and set no adminPassword.",
  enforcementLevel: "mandatory",
  validateResource: validateResourceOfType(compute.VirtualMachine, (vm, args, reportViolation) => {
    for (const message of sshKeysOnlyViolations(args.name, vm)) reportViolation(message);
  }),
};
