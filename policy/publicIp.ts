import * as network from "@pulumi/azure-native/network";
import { type ResourceValidationPolicy, validateResourceOfType } from "@pulumi/policy";
import type * as pulumi from "@pulumi/pulumi";
import { peek, sameText, shown, UNKNOWN } from "./values";

export type PublicIpProps = pulumi.Unwrap<network.PublicIPAddressArgs>;

/**
 * A public IP is Standard (the Basic SKU is retired, and Standard denies inbound traffic unless an
 * NSG allows it) and Static (the address the check dials must not change).
 */
export function publicIpViolations(name: string, ip: PublicIpProps): string[] {
  const violations: string[] = [];
  const sku = peek(() => ip.sku?.name);
  if (sku !== UNKNOWN && !sameText(sku, "Standard")) {
    violations.push(`public IP address "${name}": sku.name is ${shown(sku)}; allowed: "Standard"`);
  }
  const allocation = peek(() => ip.publicIPAllocationMethod);
  if (allocation !== UNKNOWN && !sameText(allocation, "Static")) {
    violations.push(`public IP address "${name}": publicIPAllocationMethod is ${shown(allocation)}; allowed: "Static"`);
  }
  return violations;
}

export const publicIpStandardStatic: ResourceValidationPolicy = {
  name: "public-ip-standard-static",
  description: "Public IP addresses use the Standard SKU and Static allocation.",
  enforcementLevel: "mandatory",
  validateResource: validateResourceOfType(network.PublicIPAddress, (ip, args, reportViolation) => {
    for (const message of publicIpViolations(args.name, ip)) reportViolation(message);
  }),
};
