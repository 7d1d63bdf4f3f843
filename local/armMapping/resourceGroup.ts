import { segment } from "./convert";
import type { ResourceMapping } from "./types";

/** azure-native:resources:ResourceGroup (2024-03-01): no settable properties; `properties` stays nested in outputs. */
export const resourceGroupMapping: ResourceMapping = {
  type: "azure-native:resources:ResourceGroup",
  armType: "Microsoft.Resources/resourceGroups",
  apiVersion: "2024-03-01",
  nameInput: "resourceGroupName",
  autoname: "suffix",
  pathInputs: ["resourceGroupName"],
  topLevel: ["location", "tags", "managedBy"],
  flattenProperties: false,
  path: (_inputs, name, context) =>
    `/subscriptions/${segment(context.subscriptionId, "subscriptionId")}/resourcegroups/${segment(name, "resourceGroupName")}`,
};
