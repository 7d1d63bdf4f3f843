import * as compute from "@pulumi/azure-native/compute";
import * as network from "@pulumi/azure-native/network";
import * as command from "@pulumi/command";
import type { PolicyResource, StackValidationPolicy } from "@pulumi/policy";
import type * as pulumi from "@pulumi/pulumi";
import { VM_ACCESS_CHECK_TYPE } from "../components/vmAccessCheck";
import type { NetworkSecurityGroupProps, SecurityRuleProps } from "./sshFromInternet";
import { knownItems, peek, sameText, shown } from "./values";

export type NetworkInterfaceProps = pulumi.Unwrap<network.NetworkInterfaceArgs>;
type VirtualMachineProps = pulumi.Unwrap<compute.VirtualMachineArgs>;
type RuleFields = Pick<SecurityRuleProps, "access" | "direction" | "sourceAddressPrefix" | "sourceAddressPrefixes">;

/** The one source an inbound allow rule may name in the private form: the virtual network's own service tag. */
const VIRTUAL_NETWORK = "VirtualNetwork";

/**
 * Whether a resource is the access check's own: its parent is a VmAccessCheck, as Pulumi's analyzer
 * says (a stack's resources come with their parents). Where no parent is known (the offline evaluator,
 * local/policyCheck.ts, gives none), every resource of its type counts.
 */
function ofTheCheck(resource: PolicyResource): boolean {
  return resource.parent === undefined || resource.parent.type === VM_ACCESS_CHECK_TYPE;
}

/**
 * The private form (accessCheckVia runCommand): the check reaches the VM through Azure's Run Command,
 * so nothing needs a way in. A stack is in it when a run command of the check does its work and no
 * remote command of the check reaches a VM over SSH (run commands and remote commands of anything else
 * say nothing about the check's form). Then no network interface may carry a public IP (the NAT
 * gateway's own public IP, which no interface carries, is allowed), and no security rule may allow
 * inbound traffic from outside the virtual network: any source but the VirtualNetwork service tag.
 */
export function isPrivateForm(resources: PolicyResource[]): { runCommand: string } | undefined {
  if (resources.some((resource) => resource.isType(command.remote.Command) && ofTheCheck(resource))) return undefined;
  const runCommand = resources.find(
    (resource) => resource.isType(compute.VirtualMachineRunCommandByVirtualMachine) && ofTheCheck(resource),
  );
  return runCommand ? { runCommand: runCommand.name } : undefined;
}

/** Violations of one network interface: each IP configuration that carries a public IP. */
export function networkInterfaceViolations(name: string, nic: NetworkInterfaceProps, why: string): string[] {
  return knownItems(peek(() => nic.ipConfigurations)).flatMap(({ index, item }) => {
    const publicIp = peek(() => item.publicIPAddress);
    // Present, even with an ID not known yet, is the violation.
    if (publicIp === undefined || publicIp === null) return [];
    return [
      `network interface "${name}": ipConfigurations[${index}].publicIPAddress is set; ${why}: no network interface may carry a public IP (a NAT gateway's own public IP is allowed)`,
    ];
  });
}

/**
 * Violations of a VM's own network interfaces (networkProfile.networkInterfaceConfigurations, which a VM
 * can declare inline instead of referring to NICs): each IP configuration with a public IP configuration.
 */
export function virtualMachineViolations(name: string, vm: VirtualMachineProps, why: string): string[] {
  return knownItems(peek(() => vm.networkProfile?.networkInterfaceConfigurations)).flatMap(({ index, item }) =>
    knownItems(peek(() => item.ipConfigurations)).flatMap(({ index: ip, item: configuration }) => {
      const publicIp = peek(() => configuration.publicIPAddressConfiguration);
      if (publicIp === undefined || publicIp === null) return [];
      return [
        `virtual machine "${name}": networkProfile.networkInterfaceConfigurations[${index}].ipConfigurations[${ip}].publicIPAddressConfiguration is set; ${why}: no network interface may carry a public IP (a NAT gateway's own public IP is allowed)`,
      ];
    }),
  );
}

/** Violations of one rule: each source of an inbound allow rule that is not the virtual network. */
function ruleViolations(subject: string, rule: RuleFields, why: string): string[] {
  if (
    !sameText(
      peek(() => rule.access),
      "Allow",
    ) ||
    !sameText(
      peek(() => rule.direction),
      "Inbound",
    )
  )
    return [];
  const outside = (value: unknown) => typeof value === "string" && !sameText(value, VIRTUAL_NETWORK);
  const found: string[] = [];
  const prefix = peek(() => rule.sourceAddressPrefix);
  if (outside(prefix)) found.push(`sourceAddressPrefix ${shown(prefix)}`);
  for (const { index, item } of knownItems(peek(() => rule.sourceAddressPrefixes))) {
    if (outside(item)) found.push(`sourceAddressPrefixes[${index}] ${shown(item)}`);
  }
  return found.map(
    (source) =>
      `${subject} allows inbound traffic from ${source}; ${why}: no rule may allow inbound traffic from outside the virtual network (allowed source: "${VIRTUAL_NETWORK}")`,
  );
}

/** Violations of an NSG's inline rules. */
export function privateNsgViolations(name: string, nsg: NetworkSecurityGroupProps, why: string): string[] {
  return knownItems(peek(() => nsg.securityRules)).flatMap(({ index, item }) => {
    const ruleName = peek(() => item.name);
    const label = typeof ruleName === "string" ? ` (${shown(ruleName)})` : "";
    return ruleViolations(`network security group "${name}": securityRules[${index}]${label}`, item, why);
  });
}

/** The private form's violations in a stack (none when the stack is not in it). */
export function privateFormViolations(resources: PolicyResource[]): string[] {
  const form = isPrivateForm(resources);
  if (form === undefined) return [];
  const why = `the access check runs through Run Command (run command "${form.runCommand}")`;
  return resources.flatMap((resource) => {
    // The inputs as registered (asType would type them as the resource's outputs).
    if (resource.isType(network.NetworkInterface)) {
      return networkInterfaceViolations(resource.name, resource.props as NetworkInterfaceProps, why);
    }
    if (resource.isType(compute.VirtualMachine)) {
      return virtualMachineViolations(resource.name, resource.props as VirtualMachineProps, why);
    }
    if (resource.isType(network.NetworkSecurityGroup)) {
      return privateNsgViolations(resource.name, resource.props as NetworkSecurityGroupProps, why);
    }
    if (resource.isType(network.SecurityRule)) {
      return ruleViolations(`security rule "${resource.name}"`, resource.props as SecurityRuleProps, why);
    }
    return [];
  });
}

/**
 * With the check through Run Command, nothing reaches the VM from outside: the estates that choose it
 * forbid public IPs on network interfaces (Azure Policy "Network interfaces should not have public IPs")
 * and management ports open to the Internet. Judged on the whole stack, since only the stack says which
 * form it is in: a preview fails before anything is created.
 */
export const privateFormNoInboundPath: StackValidationPolicy = {
  name: "run-command-no-inbound-path",
  description:
    "When the access check runs through Run Command, no network interface carries a public IP and no security rule allows inbound traffic from outside the virtual network.",
  enforcementLevel: "mandatory",
  validateStack: (args, reportViolation) => {
    for (const message of privateFormViolations(args.resources)) reportViolation(message);
  },
};
