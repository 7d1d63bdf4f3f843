import { resourceGroupPath, segment } from "./convert";
import type { ResourceMapping } from "./types";

/**
 * ARM's identity form: the SDK takes userAssignedIdentities as a list of resource IDs, ARM wants a map
 * {"<id>": {}}.
 */
export function armIdentity(identity: unknown): unknown {
  if (typeof identity !== "object" || identity === null) return identity;
  const { userAssignedIdentities, ...rest } = identity as Record<string, unknown>;
  if (userAssignedIdentities === undefined || userAssignedIdentities === null) return rest;
  if (!Array.isArray(userAssignedIdentities)) {
    throw new Error(
      `identity.userAssignedIdentities must be a list of identity resource IDs, got ${JSON.stringify(userAssignedIdentities)}`,
    );
  }
  return { ...rest, userAssignedIdentities: Object.fromEntries(userAssignedIdentities.map((id) => [String(id), {}])) };
}

/** azure-native:compute:VirtualMachine (2024-11-01): identity, zones, plan top level; the profiles under properties. */
export const virtualMachineMapping: ResourceMapping = {
  type: "azure-native:compute:VirtualMachine",
  armType: "Microsoft.Compute/virtualMachines",
  apiVersion: "2024-11-01",
  nameInput: "vmName",
  autoname: "suffix",
  pathInputs: ["resourceGroupName", "vmName"],
  topLevel: ["location", "tags", "identity", "zones", "plan", "extendedLocation", "placement"],
  // Create-only in the compute spec (x-ms-mutability create/read, or "cannot be updated after the VM is
  // created" in its descriptions); the image and security type are chosen at creation. The authorized
  // keys too: ARM answers PropertyChangeNotAllowed "Changing property 'linuxConfiguration.ssh.publicKeys'
  // is not allowed." (recorded in terraform-provider-azurerm internal/services/compute/ssh_keys.go,
  // whose admin_ssh_key is ForceNew on a VM for that reason).
  forceNew: [
    "zones",
    "osProfile.adminUsername",
    "osProfile.computerName",
    "osProfile.customData",
    "osProfile.linuxConfiguration.ssh.publicKeys",
    "storageProfile.imageReference",
    "storageProfile.osDisk.createOption",
    "securityProfile.securityType",
  ],
  flattenProperties: true,
  // getVirtualMachine's `expand` (instanceView, userData) is the GET's $expand.
  getterQuery: { expand: "$expand" },
  path: (inputs, name, context) =>
    `${resourceGroupPath(inputs, context)}/providers/Microsoft.Compute/virtualMachines/${segment(name, "vmName")}`,
  adjustBody: (body) => (body.identity === undefined ? body : { ...body, identity: armIdentity(body.identity) }),
};
