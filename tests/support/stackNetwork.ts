import type { ArmClient } from "../../local-azure/armClient";

/**
 * What a stack's network lets in and out, read back from Local Azure's ARM after a deployment (as the
 * deployer, with the list calls any client makes): each NIC and the public IPs it carries, every
 * inbound allow rule of every NSG, the NAT gateways with their public IPs and subnets, what holds each
 * public IP (ARM's read-only back-references), the subnets' egress. Names are the program's logical
 * names: the 8 hex digits Pulumi's autonaming appends are removed, so tests compare exact values.
 */

export interface StackNetwork {
  nics: Array<{ name: string; publicIps: string[] }>;
  /** `<nsg>/<rule>: <protocol> <ports> from <sources>`, for every rule with access Allow and direction Inbound. */
  inboundAllowRules: string[];
  natGateways: Array<{ name: string; publicIps: string[]; subnets: string[] }>;
  /** Each public IP and what holds it: `networkInterface <name>`, `natGateway <name>`, or null (nothing). */
  publicIps: Array<{ name: string; heldBy: string | null }>;
  subnets: Array<{ name: string; natGateway: string | null; defaultOutboundAccess?: boolean }>;
}

const NETWORK_API = "api-version=2024-05-01";

/** A resource's name as the program declared it: the last segment of an ID, less an autoname suffix. */
export function logicalName(idOrName: string): string {
  const name = idOrName.split("/").pop() ?? idOrName;
  return name.replace(/[0-9a-f]{8}$/, "");
}

/** The name that follows `type` in a resource ID (a NIC's, in its ipConfiguration's ID). */
function nameAfter(id: string, type: string): string {
  const segments = id.split("/");
  const at = segments.findIndex((segment) => segment.toLowerCase() === type.toLowerCase());
  return at < 0 ? id : segments[at + 1];
}

interface Listed {
  id: string;
  name: string;
  properties?: Record<string, unknown>;
}

async function list(arm: ArmClient, resourceGroupId: string, type: string): Promise<Listed[]> {
  const path = `${resourceGroupId}/providers/Microsoft.Network/${type}?${NETWORK_API}`;
  const response = await arm.request("GET", path);
  if (response.status !== 200)
    throw new Error(`GET ${path} answered ${response.status}: ${JSON.stringify(response.body)}`);
  return (response.body as { value: Listed[] }).value;
}

type Reference = { id?: string } | undefined;
type Rule = {
  name: string;
  properties: {
    access?: string;
    direction?: string;
    protocol?: string;
    destinationPortRange?: string;
    destinationPortRanges?: string[];
    sourceAddressPrefix?: string;
    sourceAddressPrefixes?: string[];
  };
};

/** The network of the resource group `resourceGroupId`, as ARM holds it now. */
export async function readStackNetwork(arm: ArmClient, resourceGroupId: string): Promise<StackNetwork> {
  const [nics, nsgs, natGateways, publicIps, vnets] = await Promise.all(
    ["networkInterfaces", "networkSecurityGroups", "natGateways", "publicIPAddresses", "virtualNetworks"].map((type) =>
      list(arm, resourceGroupId, type),
    ),
  );
  const sorted = <T extends { name: string }>(items: T[]) => items.sort((a, b) => a.name.localeCompare(b.name));
  return {
    nics: sorted(
      nics.map((nic) => ({
        name: logicalName(nic.name),
        publicIps: ((nic.properties?.ipConfigurations ?? []) as Array<{ properties?: { publicIPAddress?: Reference } }>)
          .map((configuration) => configuration.properties?.publicIPAddress?.id)
          .filter((id): id is string => id !== undefined)
          .map(logicalName),
      })),
    ),
    inboundAllowRules: nsgs
      .flatMap((nsg) =>
        ((nsg.properties?.securityRules ?? []) as Rule[])
          .filter(({ properties: rule }) => rule.access === "Allow" && rule.direction === "Inbound")
          .map(({ name, properties: rule }) => {
            const ports = rule.destinationPortRange ?? rule.destinationPortRanges?.join(",");
            const sources = rule.sourceAddressPrefix ?? rule.sourceAddressPrefixes?.join(",");
            return `${logicalName(nsg.name)}/${name}: ${rule.protocol} ${ports} from ${sources}`;
          }),
      )
      .sort(),
    natGateways: sorted(
      natGateways.map((nat) => ({
        name: logicalName(nat.name),
        publicIps: ((nat.properties?.publicIpAddresses ?? []) as Reference[]).map((ip) => logicalName(ip?.id ?? "")),
        subnets: ((nat.properties?.subnets ?? []) as Reference[]).map((subnet) => logicalName(subnet?.id ?? "")),
      })),
    ),
    publicIps: sorted(
      publicIps.map((ip) => {
        const configuration = (ip.properties?.ipConfiguration as Reference)?.id;
        const nat = (ip.properties?.natGateway as Reference)?.id;
        const heldBy = configuration
          ? `networkInterface ${logicalName(nameAfter(configuration, "networkInterfaces"))}`
          : nat
            ? `natGateway ${logicalName(nat)}`
            : null;
        return { name: logicalName(ip.name), heldBy };
      }),
    ),
    subnets: sorted(
      vnets.flatMap((vnet) =>
        ((vnet.properties?.subnets ?? []) as Listed[]).map((subnet) => {
          const properties = subnet.properties ?? {};
          const nat = (properties.natGateway as Reference)?.id;
          return {
            name: logicalName(subnet.name),
            natGateway: nat ? logicalName(nat) : null,
            ...(properties.defaultOutboundAccess !== undefined
              ? { defaultOutboundAccess: properties.defaultOutboundAccess as boolean }
              : {}),
          };
        }),
      ),
    ),
  };
}

/** The network the program makes for `vmCount` VMs through Run Command with its own network: nothing in, egress through the NAT gateway. */
export function privateNetwork(vmCount: number): StackNetwork {
  return {
    nics: Array.from({ length: vmCount }, (_, index) => ({ name: `vmia-nic${index}`, publicIps: [] })),
    inboundAllowRules: [],
    natGateways: [{ name: "vmia-nat", publicIps: ["vmia-nat-ip"], subnets: ["vmia-subnet"] }],
    publicIps: [{ name: "vmia-nat-ip", heldBy: "natGateway vmia-nat" }],
    subnets: [{ name: "vmia-subnet", natGateway: "vmia-nat", defaultOutboundAccess: false }],
  };
}

/** The network the program makes for `vmCount` VMs over SSH: a public IP per NIC, SSH from one network only. */
export function sshNetwork(vmCount: number, sshAllowedCidr: string, sshPort: number): StackNetwork {
  const each = Array.from({ length: vmCount }, (_, index) => index);
  return {
    nics: each.map((index) => ({ name: `vmia-nic${index}`, publicIps: [`vmia-ip${index}`] })),
    inboundAllowRules: [`vmia-nsg/allow-ssh-from-allowed-cidr: Tcp ${sshPort} from ${sshAllowedCidr}`],
    natGateways: [],
    publicIps: each.map((index) => ({ name: `vmia-ip${index}`, heldBy: `networkInterface vmia-nic${index}` })),
    subnets: [{ name: "vmia-subnet", natGateway: null }],
  };
}
