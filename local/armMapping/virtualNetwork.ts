import { resourceGroupPath, segment } from "./convert";
import type { ResourceMapping } from "./types";

/** azure-native:network:VirtualNetwork (2024-05-01): addressSpace and the rest under properties; inline subnets split too. */
export const virtualNetworkMapping: ResourceMapping = {
  type: "azure-native:network:VirtualNetwork",
  armType: "Microsoft.Network/virtualNetworks",
  apiVersion: "2024-05-01",
  nameInput: "virtualNetworkName",
  autoname: "suffix",
  pathInputs: ["resourceGroupName", "virtualNetworkName"],
  topLevel: ["id", "location", "tags", "extendedLocation"],
  subResources: [
    { property: "subnets", topLevel: ["id", "name", "type"] },
    { property: "virtualNetworkPeerings", topLevel: ["id", "name", "type"] },
  ],
  flattenProperties: true,
  path: (inputs, name, context) =>
    `${resourceGroupPath(inputs, context)}/providers/Microsoft.Network/virtualNetworks/${segment(name, "virtualNetworkName")}`,
};
