import { isIPv4 } from "node:net";

/**
 * Dynamic private addresses, as Azure hands them out in a subnet: the lowest free one, never the five
 * Azure reserves (the network address, .1 for the default gateway, .2 and .3 for Azure DNS, and the
 * broadcast address; Learn, "Azure Virtual Network frequently asked questions": "Are there any
 * restrictions on using IP addresses within these subnets?").
 */

const toNumber = (address: string) => address.split(".").reduce((acc, part) => acc * 256 + Number(part), 0);
const toAddress = (n: number) => [24, 16, 8, 0].map((shift) => (n >>> shift) & 255).join(".");

/** The lowest address of `prefix` (an IPv4 CIDR) that Azure would give out and `used` does not hold; undefined when none is left. */
export function firstFreeAddress(prefix: string, used: ReadonlySet<string>): string | undefined {
  const [network, lengthText] = prefix.split("/");
  const length = Number(lengthText);
  if (!isIPv4(network) || !Number.isInteger(length) || length < 0 || length > 29) return undefined;
  const size = 2 ** (32 - length);
  const base = toNumber(network) - (toNumber(network) % size);
  for (let offset = 4; offset < size - 1; offset++) {
    const address = toAddress(base + offset);
    if (!used.has(address)) return address;
  }
  return undefined;
}
