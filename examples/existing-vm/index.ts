import * as authorization from "@pulumi/azure-native/authorization";
import * as compute from "@pulumi/azure-native/compute";
import * as managedidentity from "@pulumi/azure-native/managedidentity";
import * as network from "@pulumi/azure-native/network";
import * as resources from "@pulumi/azure-native/resources";
import * as pulumi from "@pulumi/pulumi";
import { READER_ROLE_ID, roleAssignmentName, roleDefinitionId, VmAccessCheck } from "../../components/vmAccessCheck";

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

// How the check reaches the VM: over SSH (an address, a key, the pinned host key), or through Azure's
// Run Command (the VM's ID and location: no network path to the VM at all).
const accessCheckVia = orUndefined(config.get("accessCheckVia")) ?? "ssh";
if (accessCheckVia !== "ssh" && accessCheckVia !== "runCommand") {
  throw new pulumi.RunError(`accessCheckVia = ${JSON.stringify(accessCheckVia)} must be ssh or runCommand`);
}

/** Over SSH; the component says which of the key and host key is missing (both have empty defaults). */
function sshConnection() {
  // Where SSH answers: the configured address, else the public IP of the VM's first network interface.
  const host =
    orUndefined(config.get("sshHost")) ??
    vm.apply(async (found) => {
      const nicId = found.networkProfile?.networkInterfaces?.[0]?.id;
      if (!nicId) throw new pulumi.RunError(`VM ${vmName} has no network interface: set sshHost`);
      const nic = await network.getNetworkInterface({ ...toNicArgs(parseId(nicId)) });
      const ipId = nic.ipConfigurations?.[0]?.publicIPAddress?.id;
      if (!ipId) {
        throw new pulumi.RunError(
          `VM ${vmName}'s network interface has no public IP: set sshHost, or set accessCheckVia runCommand`,
        );
      }
      const ip = await network.getPublicIPAddress({ ...toIpArgs(parseId(ipId)) });
      if (!ip.ipAddress) throw new pulumi.RunError(`The public IP of VM ${vmName} has no address: set sshHost`);
      return ip.ipAddress;
    });
  return {
    host,
    port: config.getNumber("sshPort") ?? 22,
    user: config.get("sshUser") ?? "azureuser",
    privateKey: config.getSecret("sshPrivateKey") ?? "",
    hostKey: config.get("sshHostKey") ?? "",
  };
}

function toNicArgs(id: { resourceGroupName: string; name: string }) {
  return { resourceGroupName: id.resourceGroupName, networkInterfaceName: id.name };
}
function toIpArgs(id: { resourceGroupName: string; name: string }) {
  return { resourceGroupName: id.resourceGroupName, publicIpAddressName: id.name };
}

// What must hold. Unset grantReader: the identity reads the group, whoever granted it. true: this stack grants
// it Reader on the group and proves the read. false: this stack grants nothing and proves ARM refuses the read,
// waiting for its own earlier grant to go (the component asks ARM, and knows the update that removes it).
const scope = orUndefined(config.get("readableResourceGroupId")) ?? group.id;
const grantReaderSetting = orUndefined(config.get("grantReader"));
if (grantReaderSetting !== undefined && grantReaderSetting !== "true" && grantReaderSetting !== "false") {
  throw new pulumi.RunError(`grantReader = ${JSON.stringify(grantReaderSetting)} must be true, false or unset`);
}
const grantReader = grantReaderSetting === undefined ? undefined : grantReaderSetting === "true";
const reader = authorization
  .getClientConfigOutput()
  .subscriptionId.apply((sub) => roleDefinitionId(sub, READER_ROLE_ID));
const readerGrant =
  grantReader === true
    ? new authorization.RoleAssignment("existing-vm-reader", {
        scope,
        principalId: identity.principalId,
        // An identity made elsewhere may still be replicating: without the type, ARM may answer PrincipalNotFound.
        principalType: "ServicePrincipal",
        roleDefinitionId: reader,
        // The name VmAccessCheck's grant derives from scope, principal and role, once this grant is dropped.
        roleAssignmentName: pulumi
          .all([scope, identity.principalId, reader])
          .apply(([at, principal, role]) => roleAssignmentName(at, principal, role)),
      })
    : undefined;

const check = new VmAccessCheck(
  "existing-vm-check",
  {
    vmName,
    ...(accessCheckVia === "runCommand"
      ? { runCommand: { vmId: vm.apply((found) => found.id), location: vm.apply((found) => found.location) } }
      : { ssh: sshConnection() }),
    identity,
    ...(grantReader === false
      ? { refusedScopes: [scope], grant: { scope, roleDefinitionId: reader } }
      : { readableScopes: [scope] }),
    armEndpoint: orUndefined(config.get("armEndpoint")),
    // The VM's identity is re-checked whenever it changes (a new principal, another identity), and the
    // read whenever this stack's grant does.
    triggers: [vm.vmId, identity.principalId, readerGrant?.id ?? "no-grant"],
  },
  { dependsOn: readerGrant ? [readerGrant] : [] },
);

export const verified = check.verified;
export const checks = check.checks;
export const evidence = check.evidence;
