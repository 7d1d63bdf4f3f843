import { isIPv4 } from "node:net";
import type { Store } from "./store";

/**
 * What a network security group lets through to a VM's SSH port, evaluated as Azure does: inbound
 * rules in priority order, the first match decides, and nothing matched means the default
 * DenyAllInBound. Local Azure's guests ask this for every connection, so `sshAllowedCidr` is enforced.
 */

interface SecurityRule {
  properties?: {
    priority?: number;
    direction?: string;
    access?: string;
    protocol?: string;
    sourceAddressPrefix?: string;
    sourceAddressPrefixes?: string[];
    destinationPortRange?: string;
    destinationPortRanges?: string[];
  };
}

function ipv4ToNumber(address: string): number {
  return address.split(".").reduce((acc, part) => acc * 256 + Number(part), 0);
}

/** Whether `address` lies in `prefix` (a CIDR, a bare address, `*` or the `Internet` tag). */
export function prefixContains(prefix: string, address: string): boolean {
  if (prefix === "*" || prefix.toLowerCase() === "internet") return true;
  const [network, lengthText] = prefix.split("/");
  if (!isIPv4(network) || !isIPv4(address)) return false;
  const length = lengthText === undefined ? 32 : Number(lengthText);
  const mask = length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0;
  return (ipv4ToNumber(network) & mask) >>> 0 === (ipv4ToNumber(address) & mask) >>> 0;
}

function portMatches(range: string, port: number): boolean {
  if (range === "*") return true;
  const [low, high = low] = range.split("-").map(Number);
  return port >= low && port <= high;
}

/** True when the NSG (looked up live) admits TCP from `sourceIp` to `port`; no NSG at all admits. */
export function nsgAdmits(store: Store, nsgId: string | undefined, sourceIp: string, port: number): boolean {
  if (!nsgId) return true;
  const nsg = store.resource(nsgId);
  if (!nsg) return false;
  const rules = (((nsg.body.properties as { securityRules?: SecurityRule[] }).securityRules ?? []) as SecurityRule[])
    .map((rule) => rule.properties ?? {})
    .filter((rule) => String(rule.direction).toLowerCase() === "inbound")
    .sort((a, b) => Number(a.priority) - Number(b.priority));
  for (const rule of rules) {
    const protocol = String(rule.protocol ?? "*").toLowerCase();
    const sources = rule.sourceAddressPrefixes ?? [rule.sourceAddressPrefix ?? ""];
    const ports = rule.destinationPortRanges ?? [rule.destinationPortRange ?? ""];
    if (
      (protocol === "tcp" || protocol === "*") &&
      sources.some((p) => prefixContains(p, sourceIp)) &&
      ports.some((r) => portMatches(r, port))
    ) {
      return String(rule.access).toLowerCase() === "allow";
    }
  }
  return false;
}
