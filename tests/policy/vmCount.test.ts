import { describe, expect, it } from "vitest";
import { evaluateStack, type RegisteredResource } from "../../local/policyCheck";
import { stackVmCount, vmCountViolation } from "../../policy/vmCount";

const vms = (count: number): RegisteredResource[] =>
  Array.from({ length: count }, (_, index) => ({
    type: "azure-native:compute:VirtualMachine",
    name: `vmia-vm${index}`,
    inputs: {},
  }));

describe("stack-at-most-10-vms (advisory)", () => {
  it("passes 1 and 10 VMs", () => {
    expect(vmCountViolation(1)).toBeUndefined();
    expect(vmCountViolation(10)).toBeUndefined();
  });

  it("reports 11 VMs", () => {
    expect(vmCountViolation(11)).toBe(
      "the stack has 11 virtual machines (azure-native:compute:VirtualMachine); allowed: at most 10",
    );
  });

  it("the stack policy counts only VMs and reports as advisory", async () => {
    const others: RegisteredResource[] = Array.from({ length: 12 }, (_, index) => ({
      type: "azure-native:network:PublicIPAddress",
      name: `vmia-ip${index}`,
      inputs: {},
    }));
    expect(await evaluateStack([...vms(10), ...others], [stackVmCount])).toEqual([]);
    expect(await evaluateStack([...vms(11), ...others], [stackVmCount])).toEqual([
      {
        policy: "stack-at-most-10-vms",
        enforcementLevel: "advisory",
        resource: "(stack)",
        message: "the stack has 11 virtual machines (azure-native:compute:VirtualMachine); allowed: at most 10",
      },
    ]);
  });
});
