import { resourceGroupPath, segment } from "./convert";
import type { ResourceMapping } from "./types";

/** azure-native:network:PublicIPAddress (2024-05-01): sku and zones top level; allocation method etc. under properties. */
export const publicIpAddressMapping: ResourceMapping = {
  type: "azure-native:network:PublicIPAddress",
  armType: "Microsoft.Network/publicIPAddresses",
  apiVersion: "2024-05-01",
  nameInput: "publicIpAddressName",
  autoname: "suffix",
  pathInputs: ["resourceGroupName", "publicIpAddressName"],
  topLevel: ["id", "location", "tags", "sku", "zones", "extendedLocation"],
  forceNew: ["zones", "publicIPAddressVersion"],
  flattenProperties: true,
  path: (inputs, name, context) =>
    `${resourceGroupPath(inputs, context)}/providers/Microsoft.Network/publicIPAddresses/${segment(name, "publicIpAddressName")}`,
};
