import type { StoredResource } from "../../store";
import type { ArmShared } from "../context";
import { type ArmReply, armError } from "../errors";
import { type Draft, missingReference, type ResourceNamespace } from "../providerResources";

/**
 * Microsoft.Network: virtual networks and their subnets, network security groups, public IP
 * addresses, network interfaces. Long-running PUT and DELETE; references checked; a resource in
 * use cannot be deleted.
 */

export const VIRTUAL_NETWORK = "Microsoft.Network/virtualNetworks";
export const SUBNET = "Microsoft.Network/virtualNetworks/subnets";
const NETWORK_SECURITY_GROUP = "Microsoft.Network/networkSecurityGroups";
const PUBLIC_IP_ADDRESS = "Microsoft.Network/publicIPAddresses";
const NETWORK_INTERFACE = "Microsoft.Network/networkInterfaces";

type Subnet = { name: string; properties: Record<string, unknown> };

/**
 * Named sub-resources (a NIC's ipConfigurations, an NSG's securityRules) carry their own IDs in ARM's
 * answers, `{parent}/{collection}/{name}`, as the Network REST spec's examples show.
 */
function withChildIds(items: unknown, parentId: string, collection: string): unknown {
  if (!Array.isArray(items)) return items;
  return items.map((item) =>
    typeof item === "object" && item !== null && typeof (item as { name?: unknown }).name === "string"
      ? { ...item, id: `${parentId}/${collection}/${(item as { name: string }).name}` }
      : item,
  );
}

export function networkProvider(shared: ArmShared): ResourceNamespace {
  const store = shared.ctx.store;

  const subnetsOf = (vnetId: string): StoredResource[] =>
    [...store.resources.values()].filter(
      (r) => r.type === SUBNET && r.id.toLowerCase().startsWith(`${vnetId.toLowerCase()}/subnets/`),
    );

  /**
   * Azure refuses to delete a network resource something else still uses (Learn, "Add, change, or
   * delete an Azure virtual network subnet": a subnet with resources in it cannot be deleted). Codes
   * and messages are the Network provider's, as reported in hashicorp/terraform-provider-azurerm#334
   * (a VNet PUT that drops a used subnet: InUseSubnetCannotBeDeleted, naming the NIC's ipConfiguration)
   * and #688 (PublicIPAddressCannotBeDeleted).
   */
  const inUse = (resource: StoredResource): ArmReply | undefined => {
    const id = resource.id.toLowerCase();
    const user = [...store.resources.values()].find(
      (other) =>
        other.id.toLowerCase() !== id &&
        !other.id.toLowerCase().startsWith(`${id}/`) &&
        JSON.stringify(other.body.properties ?? {})
          .toLowerCase()
          .includes(`"id":"${id}"`),
    );
    if (!user) return undefined;
    // A NIC uses a subnet or a public IP through one of its ipConfigurations, and Azure names that.
    const configs = (user.body.properties as { ipConfigurations?: Array<{ id?: string }> } | undefined)
      ?.ipConfigurations;
    const userId =
      configs?.find((config) => JSON.stringify(config).toLowerCase().includes(`"id":"${id}"`))?.id ?? user.id;
    const name = String(resource.body.name);
    switch (resource.type) {
      case SUBNET:
        return armError(
          400,
          "InUseSubnetCannotBeDeleted",
          `Subnet ${name} is in use by ${userId} and cannot be deleted. In order to delete the subnet, delete all the resources within the subnet. See aka.ms/deletesubnet.`,
        );
      case NETWORK_INTERFACE:
        return armError(
          400,
          "NicInUse",
          `Network Interface ${resource.id} is used by existing resource ${user.id}. In order to delete the network interface, it must be dissociated from the resource. To learn more, see aka.ms/deletenic.`,
        );
      case PUBLIC_IP_ADDRESS:
        return armError(
          400,
          "PublicIPAddressCannotBeDeleted",
          `Public IP address ${resource.id} can not be deleted since it is still allocated to resource ${userId}. In order to delete the public IP, disassociate/detach the Public IP address from the resource.`,
        );
      case NETWORK_SECURITY_GROUP:
        return armError(
          400,
          "InUseNetworkSecurityGroupCannotBeDeleted",
          `Network security group ${resource.id} cannot be deleted because it is in use by the following resources: ${user.id}. In order to delete the Network security group, remove the association with the resource(s).`,
        );
      default:
        return undefined;
    }
  };

  /** A VNet PUT that lists subnets makes them exactly its subnets, each a child resource with its own ID. */
  const replaceSubnets = (vnet: StoredResource, subnets: Subnet[]) => {
    const wanted = new Set(subnets.map((s) => s.name.toLowerCase()));
    for (const subnet of subnetsOf(vnet.id))
      if (!wanted.has(String(subnet.body.name).toLowerCase())) void shared.forget(subnet);
    for (const { name, properties } of subnets) {
      const id = `${vnet.id}/subnets/${name}`;
      const existing = store.resource(id);
      store.resources.set(id.toLowerCase(), {
        id: existing?.id ?? id,
        type: SUBNET,
        body: {
          name: existing?.body.name ?? name,
          id: existing?.id ?? id,
          type: SUBNET,
          properties: { ...properties },
        },
        readyAt: vnet.readyAt,
        created: !existing,
      });
    }
  };

  const buildVirtualNetwork = ({ properties, existing }: Draft) => {
    const inline = properties.subnets;
    delete properties.subnets;
    // Listed subnets become exactly the VNet's subnets (Azure refuses to drop one in use:
    // terraform-provider-azurerm#334). An absent list keeps them, as Azure does since API 2023-11-01
    // (Learn, "Create virtual network resources by using Bicep": omitting subnets leaves them unchanged;
    // Azure Networking Blog, "Azure Virtual Network now supports updates without subnet property").
    if (inline === undefined) return {};
    if (!Array.isArray(inline)) return { error: armError(400, "InvalidRequestFormat", "subnets must be an array.") };
    const subnets: Subnet[] = [];
    for (const item of inline as Array<{ name?: unknown; properties?: Record<string, unknown> }>) {
      if (typeof item?.name !== "string" || item.name === "") {
        return { error: armError(400, "InvalidRequestFormat", "Cannot parse the request: every subnet needs a name.") };
      }
      subnets.push({ name: item.name, properties: { ...(item.properties ?? {}) } });
    }
    const wanted = new Set(subnets.map((s) => s.name.toLowerCase()));
    for (const subnet of existing ? subnetsOf(existing.id) : []) {
      if (wanted.has(String(subnet.body.name).toLowerCase())) continue;
      const refused = inUse(subnet);
      if (refused) return { error: refused };
    }
    return { stored: (vnet: StoredResource) => replaceSubnets(vnet, subnets) };
  };

  const buildNetworkInterface = ({ properties, route, id }: Draft) => {
    const by = route.scope;
    if (properties.networkSecurityGroup) {
      const error = missingReference(shared, (properties.networkSecurityGroup as { id?: string }).id, by);
      if (error) return { error };
    }
    for (const config of (properties.ipConfigurations as Array<{ properties?: Record<string, { id?: string }> }>) ??
      []) {
      for (const reference of ["subnet", "publicIPAddress"]) {
        const target = config.properties?.[reference];
        if (target) {
          const error = missingReference(shared, target.id, by);
          if (error) return { error };
        }
      }
    }
    properties.ipConfigurations = withChildIds(properties.ipConfigurations, id, "ipConfigurations");
    return {};
  };

  return {
    namespace: "Microsoft.Network",
    apiVersions: ["2024-05-01"],
    longRunning: true,
    types: [
      {
        type: VIRTUAL_NETWORK,
        build: buildVirtualNetwork,
        // A VNet shows its subnets, inline or created on their own, each with its ID
        // (azure-rest-api-specs specification/network/resource-manager/Microsoft.Network/stable/2024-05-01/virtualNetwork.json:
        // VirtualNetworkPropertiesFormat.subnets is Subnet[], and a Subnet carries its id).
        view: (vnet, properties) => {
          properties.subnets = subnetsOf(vnet.id).map((subnet) => shared.view(subnet));
        },
        children: (vnet) => subnetsOf(vnet.id),
      },
      { type: SUBNET, nested: true, refuseDelete: inUse },
      {
        type: NETWORK_SECURITY_GROUP,
        build: ({ properties, id }) => {
          properties.securityRules = withChildIds(properties.securityRules, id, "securityRules");
          return {};
        },
        refuseDelete: inUse,
      },
      {
        type: PUBLIC_IP_ADDRESS,
        build: ({ properties, previous }) => {
          properties.ipAddress = previous.ipAddress ?? store.allocatePublicIp();
          return {};
        },
        refuseDelete: inUse,
      },
      { type: NETWORK_INTERFACE, build: buildNetworkInterface, refuseDelete: inUse },
    ],
  };
}
