import * as authorization from "@pulumi/azure-native/authorization";
import * as resources from "@pulumi/azure-native/resources";
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { ReaderAccess } from "./components/access";
import { AccessCheckRun, type ProbeTarget } from "./components/accessCheck";
import { UserIdentity } from "./components/identity";
import { Network } from "./components/network";
import { NEGATIVE_CONTROL_DEADLINE_SECONDS } from "./components/probeCommand";
import { DEFAULTS, readSettings } from "./components/settings";
import { LinuxVm } from "./components/vm";
import type { Expectation } from "./verify/contract";

// Validate every setting before anything is registered: a bad value creates nothing.
const settings = readSettings();
const prefix = "vmia";
const expectation: Expectation = settings.grantAccess ? "granted" : "denied";
const client = authorization.getClientConfigOutput();

const resourceGroup = new resources.ResourceGroup(`${prefix}-rg`, {});
const location = resourceGroup.location;

const net = new Network(prefix, {
  resourceGroupName: resourceGroup.name,
  location,
  sshAllowedCidr: settings.sshAllowedCidr,
  sshPort: settings.sshPort,
  vmCount: settings.vmCount,
});

const userIdentity =
  settings.identity === "system"
    ? undefined
    : new UserIdentity(prefix, { resourceGroupName: resourceGroup.name, location });

// The program's own key for the check. A key the user supplies is authorized too, but only the
// generated key's private half is ever known here, and exported (as a secret) only when it is the sole key.
const checkKey = new tls.PrivateKey(`${prefix}-admin-key`, { algorithm: "ED25519" });
const authorizedKeys: pulumi.Input<string>[] = [checkKey.publicKeyOpenssh.apply((key) => key.trim())];
if (settings.sshPublicKey !== undefined) authorizedKeys.push(settings.sshPublicKey);

const linuxVms = net.nics.map(
  (nic, index) =>
    new LinuxVm(`${prefix}-vm${index}`, {
      resourceGroupName: resourceGroup.name,
      location,
      nicId: nic.id,
      vmSize: settings.vmSize,
      adminUsername: settings.adminUsername,
      authorizedKeys,
      identity: settings.identity,
      userIdentityId: userIdentity?.resourceId,
    }),
);

// Reader at the resource group for each principal: the shared user identity once, each VM's
// system identity on its own. The negative control grants nothing.
const userAccess =
  settings.grantAccess && userIdentity
    ? new ReaderAccess(`${prefix}-user`, {
        subscriptionId: client.subscriptionId,
        scope: resourceGroup.id,
        principalId: userIdentity.principalId,
      })
    : undefined;
const systemAccess = linuxVms.map((vm, index) =>
  settings.grantAccess && vm.systemPrincipalId
    ? new ReaderAccess(`${prefix}-vm${index}-system`, {
        subscriptionId: client.subscriptionId,
        scope: resourceGroup.id,
        principalId: vm.systemPrincipalId,
      })
    : undefined,
);

const armResource = `${settings.armEndpoint}/`;
const targets: ProbeTarget[] = linuxVms.flatMap((vm, index) => {
  const common = {
    vm: vm.vmName,
    host: net.publicIps[index].ipAddress.apply(requireAddress),
    hostKey: vm.hostPublicKey,
  };
  const perVm: ProbeTarget[] = [];
  if (userIdentity) {
    perVm.push({
      ...common,
      identity: "user",
      expected: pulumi
        .all([
          userIdentity.principalId,
          userIdentity.clientId,
          userIdentity.resourceId,
          userIdentity.tenantId,
          resourceGroup.id,
        ])
        .apply(([principalId, clientId, resourceId, tenantId, resourceGroupId]) => ({
          principalId,
          clientId,
          resourceId,
          tenantId,
          resourceGroupId,
          resource: armResource,
        })),
      triggers: [vm.vmId, userIdentity.resourceId, userIdentity.principalId, userAccess?.assignmentId ?? "no-grant"],
      dependsOn: userAccess ? [userAccess, vm] : [vm],
    });
  }
  const access = systemAccess[index];
  if (vm.systemPrincipalId && vm.systemTenantId) {
    perVm.push({
      ...common,
      identity: "system",
      expected: pulumi
        .all([vm.systemPrincipalId, vm.systemTenantId, resourceGroup.id])
        .apply(([principalId, tenantId, resourceGroupId]) => ({
          principalId,
          tenantId,
          resourceGroupId,
          resource: armResource,
        })),
      triggers: [vm.vmId, vm.systemPrincipalId, access?.assignmentId ?? "no-grant"],
      dependsOn: access ? [access, vm] : [vm],
    });
  }
  return perVm;
});

const check = new AccessCheckRun(`${prefix}-check`, {
  targets,
  expectation,
  adminUsername: settings.adminUsername,
  privateKey: checkKey.privateKeyOpenssh,
  sshPort: settings.sshPort,
  dialErrorLimit: settings.sshDialErrorLimit ?? DEFAULTS.sshDialErrorLimit,
  armEndpoint: settings.armEndpoint,
  imdsEndpoint: settings.imdsEndpoint,
  subscriptionId: client.subscriptionId,
  resourceGroupName: resourceGroup.name,
  // Nothing propagates in the negative control, so denial is final at once: no need to wait 10 minutes.
  deadlineSeconds: settings.grantAccess ? settings.accessCheckTimeoutSeconds : NEGATIVE_CONTROL_DEADLINE_SECONDS,
});

function requireAddress(address: string | undefined): string {
  if (!address) throw new pulumi.RunError("The public IP has no address: a Standard static IP should have one");
  return address;
}

// `ssh -i vm-key …` after `pulumi stack output --show-secrets sshPrivateKey > vm-key && chmod 600 vm-key`.
const keyFlag = settings.sshPublicKey === undefined ? " -i vm-key" : "";
const portFlag = settings.sshPort === 22 ? "" : ` -p ${settings.sshPort}`;

export const accessCheck = check.result;
export const resourceGroupName = resourceGroup.name;
export const resourceGroupId = resourceGroup.id;
export const identity = userIdentity
  ? { clientId: userIdentity.clientId, principalId: userIdentity.principalId, resourceId: userIdentity.resourceId }
  : null;
export const vms = linuxVms.map((vm, index) => {
  const publicIp = net.publicIps[index].ipAddress.apply(requireAddress);
  return {
    name: vm.vmName,
    publicIp,
    sshCommand: pulumi.interpolate`ssh${keyFlag}${portFlag} ${settings.adminUsername}@${publicIp}`,
  };
});
export const sshPrivateKey =
  settings.sshPublicKey === undefined ? pulumi.secret(checkKey.privateKeyOpenssh) : undefined;
