import { resourceGroupPath, segment } from "./convert";
import type { ResourceMapping } from "./types";

/** azure-native:network:NetworkSecurityGroup (2024-05-01): inline securityRules, each {name, properties}. */
export const networkSecurityGroupMapping: ResourceMapping = {
  type: "azure-native:network:NetworkSecurityGroup",
  armType: "Microsoft.Network/networkSecurityGroups",
  apiVersion: "2024-05-01",
  nameInput: "networkSecurityGroupName",
  autoname: "suffix",
  pathInputs: ["resourceGroupName", "networkSecurityGroupName"],
  topLevel: ["id", "location", "tags"],
  subResources: [
    { property: "securityRules", topLevel: ["id", "name", "type"] },
    { property: "defaultSecurityRules", topLevel: ["id", "name", "type"] },
  ],
  flattenProperties: true,
  path: (inputs, name, context) =>
    `${resourceGroupPath(inputs, context)}/providers/Microsoft.Network/networkSecurityGroups/${segment(name, "networkSecurityGroupName")}`,
};
