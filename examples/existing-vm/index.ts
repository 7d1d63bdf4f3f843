import * as compute from "@pulumi/azure-native/compute";
import * as managedidentity from "@pulumi/azure-native/managedidentity";
import * as network from "@pulumi/azure-native/network";
import * as resources from "@pulumi/azure-native/resources";
import * as pulumi from "@pulumi/pulumi";
import { VmAccessCheck } from "../../components/vmAccessCheck";

// A VM made elsewhere (another stack, Bicep, Terraform, the portal): looked up, never managed here.
const config = new pulumi.Config();
const resourceGroupName = config.require("resourceGroupName");
const vmName = config.require("vmName");
const orUndefined = (value: string | undefined) => (value === undefined || value === "" ? undefined : value);

/** The resource group and name in an ARM resource ID. */
function parseId(id: string): { resourceGroupName: string; name: string } {
  const match = /^\/subscriptions\/[^/]+\/resourceGroups\/([^/]+)\/providers\/[^/]+\/[^/]+\/([^/]+)$/i.exec(id);
  if (!match) throw new pulumi.RunError(`${JSON.stringify(id)} is not the ARM ID of a resource in a resource group`);
  return { resourceGroupName: match[1], name: match[2] };
}

const vm = compute.getVirtualMachineOutput({ resourceGroupName, vmName });
const group = resources.getResourceGroupOutput({ resourceGroupName });

// The identity: the one configured, else the VM's system-assigned one, else its only user-assigned one.
const vmIdentity = vm.apply((found) => found.identity);
const userIdentityId = vmIdentity.apply((identity) => {
  const configured = orUndefined(config.get("identityResourceId"));
  if (configured !== undefined) return configured;
  if (identity?.principalId) return undefined;
  const attached = Object.keys(identity?.userAssignedIdentities ?? {});
  if (attached.length === 1) return attached[0];
  throw new pulumi.RunError(
    `VM ${vmName} has ${attached.length === 0 ? "no managed identity" : `${attached.length} user-assigned identities`}: set identityResourceId to the one to prove`,
  );
});
const identity = pulumi.all([userIdentityId, vmIdentity]).apply(async ([id, vmIdentity]) => {
  if (id === undefined) {
    return {
      type: "SystemAssigned" as const,
      principalId: vmIdentity?.principalId ?? "",
      tenantId: vmIdentity?.tenantId ?? "",
    };
  }
  const { resourceGroupName: identityGroup, name } = parseId(id);
  const user = await managedidentity.getUserAssignedIdentity({ resourceGroupName: identityGroup, resourceName: name });
  return {
    type: "UserAssigned" as const,
    principalId: user.principalId,
    tenantId: user.tenantId,
    clientId: user.clientId,
    resourceId: user.id,
  };
});

// Where SSH answers: the configured address, else the public IP of the VM's first network interface.
const host =
  orUndefined(config.get("sshHost")) ??
  vm.apply(async (found) => {
    const nicId = found.networkProfile?.networkInterfaces?.[0]?.id;
    if (!nicId) throw new pulumi.RunError(`VM ${vmName} has no network interface: set sshHost`);
    const nic = await network.getNetworkInterface({ ...toNicArgs(parseId(nicId)) });
    const ipId = nic.ipConfigurations?.[0]?.publicIPAddress?.id;
    if (!ipId) throw new pulumi.RunError(`VM ${vmName}'s network interface has no public IP: set sshHost`);
    const ip = await network.getPublicIPAddress({ ...toIpArgs(parseId(ipId)) });
    if (!ip.ipAddress) throw new pulumi.RunError(`The public IP of VM ${vmName} has no address: set sshHost`);
    return ip.ipAddress;
  });

function toNicArgs(id: { resourceGroupName: string; name: string }) {
  return { resourceGroupName: id.resourceGroupName, networkInterfaceName: id.name };
}
function toIpArgs(id: { resourceGroupName: string; name: string }) {
  return { resourceGroupName: id.resourceGroupName, publicIpAddressName: id.name };
}

const check = new VmAccessCheck("existing-vm-check", {
  vmName,
  ssh: {
    host,
    port: config.getNumber("sshPort") ?? 22,
    user: config.get("sshUser") ?? "azureuser",
    privateKey: config.requireSecret("sshPrivateKey"),
    hostKey: config.require("sshHostKey"),
  },
  identity,
  readableScopes: [orUndefined(config.get("readableResourceGroupId")) ?? group.id],
  armEndpoint: orUndefined(config.get("armEndpoint")),
  // The VM's identity is re-checked whenever it changes (a new principal, another identity).
  triggers: [vm.vmId, identity.principalId],
});

export const verified = check.verified;
export const checks = check.checks;
export const evidence = check.evidence;
