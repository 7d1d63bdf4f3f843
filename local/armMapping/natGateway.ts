import { resourceGroupPath, segment } from "./convert";
import type { ResourceMapping } from "./types";

/**
 * azure-native:network:NatGateway (2024-05-01): sku and zones top level; publicIpAddresses ([{id}]),
 * idleTimeoutInMinutes and the rest under properties. The subnets it serves name it (a subnet's
 * natGateway {id}); ARM derives its `subnets` back-reference.
 */
export const natGatewayMapping: ResourceMapping = {
  type: "azure-native:network:NatGateway",
  armType: "Microsoft.Network/natGateways",
  apiVersion: "2024-05-01",
  nameInput: "natGatewayName",
  autoname: "suffix",
  pathInputs: ["resourceGroupName", "natGatewayName"],
  topLevel: ["id", "location", "tags", "sku", "zones"],
  flattenProperties: true,
  path: (inputs, name, context) =>
    `${resourceGroupPath(inputs, context)}/providers/Microsoft.Network/natGateways/${segment(name, "natGatewayName")}`,
};
