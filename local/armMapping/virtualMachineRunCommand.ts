import { resourceGroupPath, segment } from "./convert";
import type { ResourceMapping } from "./types";

/**
 * azure-native:compute:VirtualMachineRunCommandByVirtualMachine (2024-11-01), a managed run command
 * under its VM (`…/virtualMachines/{vmName}/runCommands/{runCommandName}`): location and tags top
 * level; source, parameters, protectedParameters, asyncExecution, timeoutInSeconds,
 * treatFailureAsDeploymentFailure, runAsUser… under properties. Unnamed, it takes the logical name
 * (azure-native names a child under a named parent by copy). Its `instanceView` comes back only from
 * the getter with `expand: "instanceView"`, sent as `$expand`.
 */
export const virtualMachineRunCommandMapping: ResourceMapping = {
  type: "azure-native:compute:VirtualMachineRunCommandByVirtualMachine",
  armType: "Microsoft.Compute/virtualMachines/runCommands",
  apiVersion: "2024-11-01",
  nameInput: "runCommandName",
  autoname: "copy",
  pathInputs: ["resourceGroupName", "vmName", "runCommandName"],
  topLevel: ["location", "tags"],
  flattenProperties: true,
  getterQuery: { expand: "$expand" },
  path: (inputs, name, context) =>
    `${resourceGroupPath(inputs, context)}/providers/Microsoft.Compute/virtualMachines/${segment(inputs.vmName, "vmName")}/runCommands/${segment(name, "runCommandName")}`,
};
