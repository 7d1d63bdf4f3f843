import { resourceGroupPath, segment } from "./convert";
import type { ResourceMapping } from "./types";

/**
 * azure-native:network:NetworkInterface (2024-05-01): ipConfigurations items become {name, properties:
 * {subnet: {id}, publicIPAddress: {id}, ...}}; networkSecurityGroup {id} under properties.
 */
export const networkInterfaceMapping: ResourceMapping = {
  type: "azure-native:network:NetworkInterface",
  armType: "Microsoft.Network/networkInterfaces",
  apiVersion: "2024-05-01",
  nameInput: "networkInterfaceName",
  autoname: "suffix",
  pathInputs: ["resourceGroupName", "networkInterfaceName"],
  topLevel: ["id", "location", "tags", "extendedLocation"],
  subResources: [{ property: "ipConfigurations", topLevel: ["id", "name", "type"] }],
  flattenProperties: true,
  path: (inputs, name, context) =>
    `${resourceGroupPath(inputs, context)}/providers/Microsoft.Network/networkInterfaces/${segment(name, "networkInterfaceName")}`,
};
