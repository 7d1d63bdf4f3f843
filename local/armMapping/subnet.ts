import { resourceGroupPath, segment } from "./convert";
import type { ResourceMapping } from "./types";

/** azure-native:network:Subnet (2024-05-01): a child of its VNet; everything but id/name/type under properties. */
export const subnetMapping: ResourceMapping = {
  type: "azure-native:network:Subnet",
  armType: "Microsoft.Network/virtualNetworks/subnets",
  apiVersion: "2024-05-01",
  nameInput: "subnetName",
  autoname: "suffix",
  pathInputs: ["resourceGroupName", "virtualNetworkName", "subnetName"],
  topLevel: ["id", "name", "type"],
  flattenProperties: true,
  path: (inputs, name, context) =>
    `${resourceGroupPath(inputs, context)}/providers/Microsoft.Network/virtualNetworks/${segment(inputs.virtualNetworkName, "virtualNetworkName")}/subnets/${segment(name, "subnetName")}`,
};
