import * as compute from "@pulumi/azure-native/compute";
import type { StackValidationPolicy } from "@pulumi/policy";

export const MAX_VMS = 10;

/** The violation when a stack holds more VMs than the program's vmCount allows (1–10); undefined otherwise. */
export function vmCountViolation(vmCount: number, max = MAX_VMS): string | undefined {
  if (vmCount <= max) return undefined;
  return `the stack has ${vmCount} virtual machines (azure-native:compute:VirtualMachine); allowed: at most ${max}`;
}

export const stackVmCount: StackValidationPolicy = {
  name: "stack-at-most-10-vms",
  description: `Advisory: a stack holds at most ${MAX_VMS} virtual machines.`,
  enforcementLevel: "advisory",
  validateStack: (args, reportViolation) => {
    const message = vmCountViolation(
      args.resources.filter((resource) => resource.isType(compute.VirtualMachine)).length,
    );
    if (message !== undefined) reportViolation(message);
  },
};
