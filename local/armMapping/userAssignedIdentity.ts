import { resourceGroupPath, segment } from "./convert";
import type { ResourceMapping } from "./types";

/** azure-native:managedidentity:UserAssignedIdentity (2023-01-31): clientId/principalId/tenantId come back under properties. */
export const userAssignedIdentityMapping: ResourceMapping = {
  type: "azure-native:managedidentity:UserAssignedIdentity",
  armType: "Microsoft.ManagedIdentity/userAssignedIdentities",
  apiVersion: "2023-01-31",
  nameInput: "resourceName",
  autoname: "suffix",
  pathInputs: ["resourceGroupName", "resourceName"],
  topLevel: ["location", "tags"],
  flattenProperties: true,
  path: (inputs, name, context) =>
    `${resourceGroupPath(inputs, context)}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${segment(name, "resourceName")}`,
};
