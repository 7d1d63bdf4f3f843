import { randomUUID } from "node:crypto";
import type { StoredResource } from "../../store";
import type { ArmShared } from "../context";
import { type ArmReply, armError } from "../errors";
import { type BuildResult, type Draft, missingReference, type ResourceNamespace } from "../providerResources";
import { VIRTUAL_MACHINE } from "./compute";
import { firstFreeAddress } from "./privateIp";

/**
 * Microsoft.Network: virtual networks and their subnets, network security groups, public IP
 * addresses, network interfaces, NAT gateways. Long-running PUT and DELETE; references checked; a
 * resource in use cannot be deleted; the read-only back-references ARM derives (a NIC's
 * `virtualMachine`, a public IP's `ipConfiguration` or `natGateway`, a subnet's `ipConfigurations`, an
 * NSG's `networkInterfaces` and `subnets`, a NAT gateway's `subnets`) are computed when a resource is
 * read, from what references it now, so they follow every reference made or removed. Shapes:
 * azure-rest-api-specs specification/network/resource-manager/Microsoft.Network/stable/2024-05-01.
 */

export const VIRTUAL_NETWORK = "Microsoft.Network/virtualNetworks";
export const SUBNET = "Microsoft.Network/virtualNetworks/subnets";
const NETWORK_SECURITY_GROUP = "Microsoft.Network/networkSecurityGroups";
const PUBLIC_IP_ADDRESS = "Microsoft.Network/publicIPAddresses";
const NETWORK_INTERFACE = "Microsoft.Network/networkInterfaces";
export const NAT_GATEWAY = "Microsoft.Network/natGateways";

/**
 * The versions each type is served with, newest first: azure-native 3.28 (2024-05-01), @azure/arm-network
 * 36 (2025-05-01) and 39 (2026-01-01), and what the Azure CLI 2.91's commands for the type send: its
 * network module (aaz/latest/network: vnet 2025-07-01, vnet subnet 2024-07-01, nsg 2022-01-01,
 * public-ip 2025-09-01, nic 2023-11-01, nat gateway 2025-07-01) and its vm module's own copies (`az vm
 * list-ip-addresses`, `az vm show -d`, `az vm create`: 2022-01-01 for vnet, subnet, nsg, public-ip, nic).
 */
const SDK_VERSIONS = ["2026-01-01", "2025-05-01", "2024-05-01"];
const newestFirst = (...versions: string[]) => [...new Set([...SDK_VERSIONS, ...versions])].sort().reverse();

type Properties = Record<string, unknown>;
type Reference = { id?: unknown };
type Subnet = { name: string; properties: Properties };
type IpConfiguration = { id?: string; name?: string; properties?: Properties };

const lower = (id: unknown) => String(id).toLowerCase();
const refersTo = (reference: unknown, id: string) =>
  typeof reference === "object" && reference !== null && lower((reference as Reference).id) === lower(id);

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

/** Read-only members a client may send back (a GET, edited, PUT again): ARM ignores them, and so does Local Azure. */
function dropDerived(properties: Properties, ...members: string[]): void {
  for (const member of members) delete properties[member];
}

export function networkProvider(shared: ArmShared): ResourceNamespace {
  const store = shared.ctx.store;
  const ofType = (type: string) => [...store.resources.values()].filter((r) => r.type === type);
  const propertiesOf = (resource: StoredResource) => (resource.body.properties ?? {}) as Properties;
  const ipConfigurationsOf = (nic: StoredResource) =>
    (propertiesOf(nic).ipConfigurations as IpConfiguration[] | undefined) ?? [];

  const subnetsOf = (vnetId: string): StoredResource[] =>
    ofType(SUBNET).filter((r) => r.id.toLowerCase().startsWith(`${vnetId.toLowerCase()}/subnets/`));

  /** Each NIC ipConfiguration that names `reference` (`subnet` or `publicIPAddress`) = `id`, with its NIC. */
  const ipConfigurationsReferencing = (reference: "subnet" | "publicIPAddress", id: string) =>
    ofType(NETWORK_INTERFACE).flatMap((nic) =>
      ipConfigurationsOf(nic)
        .filter((config) => refersTo(config.properties?.[reference], id))
        .map((config) => ({ nic, id: String(config.id) })),
    );

  /** The NAT gateways holding public IP `id`. */
  const natGatewaysHolding = (id: string) =>
    ofType(NAT_GATEWAY).filter((nat) =>
      ((propertiesOf(nat).publicIpAddresses as unknown[] | undefined) ?? []).some((ip) => refersTo(ip, id)),
    );

  const idsOf = (items: Array<{ id: string }>) => items.map(({ id }) => ({ id }));

  /** The VMs (not being deleted) whose networkProfile names the NIC. */
  const vmsOn = (nicId: string) =>
    ofType(VIRTUAL_MACHINE).filter(
      (vm) =>
        vm.deletingSince === undefined &&
        (
          (propertiesOf(vm).networkProfile as { networkInterfaces?: Reference[] } | undefined)?.networkInterfaces ?? []
        ).some((reference) => refersTo(reference, nicId)),
    );

  /**
   * Tells the VM model of a change to what a VM's guest is made from (its NIC's public IP): SSH then
   * answers where the VM's network says, and nowhere else (a public IP removed or deleted takes its
   * SSH relay with it).
   */
  const nicChanged = async (nicId: string) => {
    await Promise.all(vmsOn(nicId).map((vm) => shared.ctx.vms.changed(vm.id)));
  };

  /**
   * Azure refuses to delete a network resource something else still uses (Learn, "Add, change, or
   * delete an Azure virtual network subnet": a subnet with resources in it cannot be deleted). Codes
   * and messages are the Network provider's, as reported in hashicorp/terraform-provider-azurerm#334
   * (a VNet PUT that drops a used subnet: InUseSubnetCannotBeDeleted, naming the NIC's ipConfiguration),
   * #688 (PublicIPAddressCannotBeDeleted) and Azure-Samples/Copilot-Studio-with-Azure-AI-Search#62
   * (CannotDeleteNatGatewayAssociatedToSubnet).
   */
  const inUse = (resource: StoredResource): ArmReply | undefined => {
    const id = resource.id.toLowerCase();
    if (resource.type === NAT_GATEWAY) {
      const subnets = ofType(SUBNET).filter((subnet) => refersTo(propertiesOf(subnet).natGateway, id));
      if (subnets.length === 0) return undefined;
      return armError(
        400,
        "CannotDeleteNatGatewayAssociatedToSubnet",
        `NAT Gateway ${resource.id} is still configured on ${subnets.length} subnets. Remove NAT Gateway from all referenced subnets and then delete NAT Gateway.`,
      );
    }
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
    const userId =
      (user.type === NETWORK_INTERFACE
        ? ipConfigurationsOf(user).find((config) => JSON.stringify(config).toLowerCase().includes(`"id":"${id}"`))?.id
        : undefined) ?? user.id;
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

  /**
   * A reference `properties[member]` to a resource of `type`: `{}` without an ID is ARM's
   * MissingJsonReferenceId (Azure/azure-sdk-for-net#43499, a subnet's natGateway), an ID of nothing (or
   * of another type) InvalidResourceReference.
   */
  const badReference = (properties: Properties, member: string, type: string, by: string): ArmReply | undefined => {
    const reference = properties[member];
    if (reference === undefined || reference === null) return undefined;
    const id = (reference as Reference).id;
    if (typeof id !== "string" || id === "") {
      return {
        status: 400,
        body: {
          error: {
            code: "InvalidRequestFormat",
            message: "Cannot parse the request.",
            details: [
              {
                code: "MissingJsonReferenceId",
                message: `Value for reference id is missing. Path properties.${member}.`,
              },
            ],
          },
        },
      };
    }
    const target = store.resource(id);
    return target && target.type === type ? undefined : missingReference(shared, `${id}`, by);
  };

  /** A subnet's own references: its NAT gateway and its NSG. */
  const subnetProblem = (properties: Properties, by: string) =>
    badReference(properties, "natGateway", NAT_GATEWAY, by) ??
    badReference(properties, "networkSecurityGroup", NETWORK_SECURITY_GROUP, by);

  /**
   * Who already holds public IP `pipId`, other than `holder`: a NIC's ipConfiguration or a NAT gateway.
   * ARM lets one resource hold a public IP: PublicIPAddressInUse "Resource {holder} is referencing public
   * IP address {ip} that is already allocated to resource {other}." (gardener/gardener-extension-provider-azure#757).
   */
  const publicIpInUse = (pipId: string, holder: string): ArmReply | undefined => {
    const others = [
      ...ipConfigurationsReferencing("publicIPAddress", pipId)
        .filter(({ nic }) => lower(nic.id) !== lower(holder))
        .map(({ id }) => id),
      ...natGatewaysHolding(pipId)
        .filter((nat) => lower(nat.id) !== lower(holder))
        .map((nat) => nat.id),
    ];
    if (others.length === 0) return undefined;
    return armError(
      400,
      "PublicIPAddressInUse",
      `Resource ${holder} is referencing public IP address ${store.resource(pipId)?.id ?? pipId} that is already allocated to resource ${others[0]}.`,
    );
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

  const buildVirtualNetwork = ({ properties, existing, route }: Draft): BuildResult => {
    const inline = properties.subnets;
    delete properties.subnets;
    // Listed subnets become exactly the VNet's subnets (Azure refuses to drop one in use:
    // terraform-provider-azurerm#334). An absent list keeps them, as Azure does since API 2023-11-01
    // (Learn, "Create virtual network resources by using Bicep": omitting subnets leaves them unchanged;
    // Azure Networking Blog, "Azure Virtual Network now supports updates without subnet property").
    if (inline === undefined) return {};
    if (!Array.isArray(inline)) return { error: armError(400, "InvalidRequestFormat", "subnets must be an array.") };
    const subnets: Subnet[] = [];
    for (const item of inline as Array<{ name?: unknown; properties?: Properties }>) {
      if (typeof item?.name !== "string" || item.name === "") {
        return { error: armError(400, "InvalidRequestFormat", "Cannot parse the request: every subnet needs a name.") };
      }
      const subnetProperties = { ...(item.properties ?? {}) };
      dropDerived(subnetProperties, "ipConfigurations");
      const error = subnetProblem(subnetProperties, `${route.scope}/subnets/${item.name}`);
      if (error) return { error };
      subnets.push({ name: item.name, properties: subnetProperties });
    }
    const wanted = new Set(subnets.map((s) => s.name.toLowerCase()));
    for (const subnet of existing ? subnetsOf(existing.id) : []) {
      if (wanted.has(String(subnet.body.name).toLowerCase())) continue;
      const refused = inUse(subnet);
      if (refused) return { error: refused };
    }
    return { stored: (vnet: StoredResource) => replaceSubnets(vnet, subnets) };
  };

  /** The addresses the NICs other than `nicId` hold in subnet `subnetId`. */
  const addressesInSubnet = (subnetId: string, nicId: string) =>
    new Set(
      ipConfigurationsReferencing("subnet", subnetId)
        .filter(({ nic }) => lower(nic.id) !== lower(nicId))
        .flatMap(({ nic, id }) =>
          ipConfigurationsOf(nic)
            .filter((config) => lower(config.id) === lower(id))
            .map((config) => String(config.properties?.privateIPAddress)),
        ),
    );

  const buildNetworkInterface = ({ properties, route, id, existing }: Draft): BuildResult => {
    const by = route.scope;
    dropDerived(properties, "virtualMachine");
    if (properties.networkSecurityGroup) {
      const error = missingReference(shared, (properties.networkSecurityGroup as Reference).id, by);
      if (error) return { error };
    }
    const configs = (withChildIds(properties.ipConfigurations, id, "ipConfigurations") as IpConfiguration[]) ?? [];
    const previous = existing ? ipConfigurationsOf(existing) : [];
    const taken = new Map<string, Set<string>>();
    for (const [index, config] of configs.entries()) {
      const own = { ...(config.properties ?? {}) };
      for (const reference of ["subnet", "publicIPAddress"]) {
        const target = own[reference] as Reference | undefined;
        if (target) {
          const error = missingReference(shared, target.id, by);
          if (error) return { error };
        }
      }
      const pip = own.publicIPAddress as Reference | undefined;
      if (pip) {
        const error = publicIpInUse(String(pip.id), by);
        if (error) return { error };
      }
      // A dynamic address is the subnet's lowest free one, kept while the configuration stays in its subnet.
      const subnet = store.resource(String((own.subnet as Reference | undefined)?.id ?? ""));
      own.privateIPAllocationMethod = own.privateIPAllocationMethod ?? "Dynamic";
      own.privateIPAddressVersion = own.privateIPAddressVersion ?? "IPv4";
      own.primary = own.primary ?? index === 0;
      const prefix = subnet
        ? ((propertiesOf(subnet).addressPrefix ??
            (propertiesOf(subnet).addressPrefixes as unknown[] | undefined)?.[0]) as string | undefined)
        : undefined;
      if (subnet && prefix && own.privateIPAllocationMethod !== "Static") {
        const before = previous.find((p) => lower(p.id) === lower(config.id))?.properties;
        const kept = before && refersTo(before.subnet, subnet.id) ? before.privateIPAddress : undefined;
        const used = taken.get(subnet.id) ?? addressesInSubnet(subnet.id, id);
        taken.set(subnet.id, used);
        const address = typeof kept === "string" ? kept : firstFreeAddress(prefix, used);
        if (!address) {
          return {
            error: armError(
              400,
              "SubnetIsFull",
              `Subnet ${subnet.body.name} with address prefix ${prefix} does not have enough capacity for 1 IP addresses.`,
            ),
          };
        }
        used.add(address);
        own.privateIPAddress = address;
      }
      configs[index] = { ...config, properties: own };
    }
    if (properties.ipConfigurations !== undefined) properties.ipConfigurations = configs;
    return { stored: (nic: StoredResource) => nicChanged(nic.id) };
  };

  /**
   * A NAT gateway (Learn, "Azure NAT Gateway resource"): Standard SKU, idle timeout 4 minutes unless
   * given, and public IPs that are Standard and Static and held by nothing else (a NIC's ipConfiguration
   * or another NAT gateway). Its `subnets` are derived.
   */
  const buildNatGateway = ({ properties, previous, base, route }: Draft): BuildResult => {
    dropDerived(properties, "subnets");
    base.sku = base.sku ?? { name: "Standard" };
    properties.idleTimeoutInMinutes = properties.idleTimeoutInMinutes ?? 4;
    properties.resourceGuid = previous.resourceGuid ?? randomUUID();
    for (const reference of (properties.publicIpAddresses as Reference[] | undefined) ?? []) {
      const missing = missingReference(shared, reference?.id, route.scope);
      if (missing) return { error: missing };
      const pip = store.resource(String(reference.id)) as StoredResource;
      const sku = (pip.body.sku as { name?: string } | undefined)?.name ?? "Basic";
      const allocation = propertiesOf(pip).publicIPAllocationMethod ?? "Dynamic";
      if (sku !== "Standard" || allocation !== "Static") {
        // The rule is Learn's ("NAT gateway resource": Standard SKU static public IPs); the wording is Local Azure's.
        return {
          error: armError(
            400,
            "PublicIpAddressNotCompatibleWithNatGateway",
            `Public IP address ${pip.id} has SKU '${sku}' and allocation method '${allocation}': a NAT gateway takes only Standard SKU public IP addresses with the Static allocation method.`,
          ),
        };
      }
      const error = publicIpInUse(pip.id, route.scope);
      if (error) return { error };
    }
    return {};
  };

  return {
    namespace: "Microsoft.Network",
    longRunning: true,
    // A write onto a resource whose delete runs: Network's AnotherOperationInProgress, naming the
    // operation to watch (its code and wording as microsoft/AzureTRE#2222 and #3193 quote them). Its
    // status is not in those quotes (the clients printed Status=<nil>): 409, as ARM's other conflicts.
    beingDeleted: (resource) => {
      const operation = shared.operations.createDelete(resource.deletingSince ?? Date.now(), resource.id.toLowerCase());
      return armError(
        409,
        "AnotherOperationInProgress",
        `Another operation on this or dependent resource is in progress. To retrieve status of the operation use uri: ${shared.operations.statusUrl(operation)}.`,
      );
    },
    types: [
      {
        type: VIRTUAL_NETWORK,
        apiVersions: newestFirst("2025-07-01", "2022-01-01"),
        build: buildVirtualNetwork,
        // A VNet shows its subnets, inline or created on their own, each with its ID
        // (virtualNetwork.json: VirtualNetworkPropertiesFormat.subnets is Subnet[], and a Subnet carries its id).
        view: (vnet, properties) => {
          properties.subnets = subnetsOf(vnet.id).map((subnet) => shared.view(subnet));
        },
        children: (vnet) => subnetsOf(vnet.id),
      },
      {
        type: SUBNET,
        apiVersions: newestFirst("2024-07-01", "2022-01-01"),
        nested: true,
        build: ({ properties, route }): BuildResult => {
          dropDerived(properties, "ipConfigurations");
          const error = subnetProblem(properties, route.scope);
          return error ? { error } : {};
        },
        // The NIC ipConfigurations in the subnet (SubnetPropertiesFormat.ipConfigurations, read-only).
        view: (subnet, properties) => {
          const configs = ipConfigurationsReferencing("subnet", subnet.id);
          if (configs.length > 0) properties.ipConfigurations = idsOf(configs);
        },
        refuseDelete: inUse,
      },
      {
        type: NETWORK_SECURITY_GROUP,
        apiVersions: newestFirst("2022-01-01"),
        build: ({ properties, id }) => {
          dropDerived(properties, "networkInterfaces", "subnets");
          properties.securityRules = withChildIds(properties.securityRules, id, "securityRules");
          return {};
        },
        // The NICs and subnets it is on (NetworkSecurityGroupPropertiesFormat, read-only).
        view: (nsg, properties) => {
          const nics = ofType(NETWORK_INTERFACE).filter((nic) =>
            refersTo(propertiesOf(nic).networkSecurityGroup, nsg.id),
          );
          const subnets = ofType(SUBNET).filter((subnet) =>
            refersTo(propertiesOf(subnet).networkSecurityGroup, nsg.id),
          );
          if (nics.length > 0) properties.networkInterfaces = idsOf(nics);
          if (subnets.length > 0) properties.subnets = idsOf(subnets);
        },
        refuseDelete: inUse,
      },
      {
        type: PUBLIC_IP_ADDRESS,
        apiVersions: newestFirst("2025-09-01", "2022-01-01"),
        build: ({ properties, previous }) => {
          dropDerived(properties, "ipConfiguration", "natGateway");
          properties.ipAddress = previous.ipAddress ?? store.allocatePublicIp();
          return {};
        },
        // A NIC holding it cannot let it go (refuseDelete), but a group's deletion takes both.
        forget: async (pip) => {
          await Promise.all(
            ipConfigurationsReferencing("publicIPAddress", pip.id).map(({ nic }) => nicChanged(nic.id)),
          );
        },
        // Who holds it (PublicIPAddressPropertiesFormat.ipConfiguration / natGateway, read-only).
        view: (pip, properties) => {
          const config = ipConfigurationsReferencing("publicIPAddress", pip.id)[0];
          const nat = natGatewaysHolding(pip.id)[0];
          if (config) properties.ipConfiguration = { id: config.id };
          if (nat) properties.natGateway = { id: nat.id };
        },
        refuseDelete: inUse,
      },
      {
        type: NETWORK_INTERFACE,
        apiVersions: newestFirst("2023-11-01", "2022-01-01"),
        build: buildNetworkInterface,
        forget: (nic) => nicChanged(nic.id),
        // The VM it is attached to (NetworkInterfacePropertiesFormat.virtualMachine, read-only).
        view: (nic, properties) => {
          const vm = ofType(VIRTUAL_MACHINE).find((candidate) =>
            (
              (propertiesOf(candidate).networkProfile as { networkInterfaces?: Reference[] } | undefined)
                ?.networkInterfaces ?? []
            ).some((reference) => refersTo(reference, nic.id)),
          );
          if (vm) properties.virtualMachine = { id: vm.id };
        },
        refuseDelete: inUse,
      },
      {
        type: NAT_GATEWAY,
        apiVersions: newestFirst("2025-07-01"),
        build: buildNatGateway,
        // The subnets that use it (NatGatewayPropertiesFormat.subnets, read-only).
        view: (nat, properties) => {
          const subnets = ofType(SUBNET).filter((subnet) => refersTo(propertiesOf(subnet).natGateway, nat.id));
          if (subnets.length > 0) properties.subnets = idsOf(subnets);
        },
        refuseDelete: inUse,
      },
    ],
  };
}
