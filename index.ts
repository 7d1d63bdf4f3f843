import * as authorization from "@pulumi/azure-native/authorization";
import * as resources from "@pulumi/azure-native/resources";
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { ReaderAccess } from "./components/access";
import { formerCommandAlias, programAccessCheck, revocationWarnings } from "./components/accessCheck";
import { UserIdentity } from "./components/identity";
import { Network } from "./components/network";
import { NEGATIVE_CONTROL_DEADLINE_SECONDS } from "./components/probeCommand";
import { READER_ROLE_ID, roleDefinitionId } from "./components/roleAssignment";
import { DEFAULTS, readSettings } from "./components/settings";
import { LinuxVm } from "./components/vm";
import { VmAccessCheck } from "./components/vmAccessCheck";
import type { AccessCheckResult, Expectation } from "./verify/contract";

// Validate every setting before anything is registered: a bad value creates nothing.
const settings = readSettings();
const prefix = "vmia";
const expectation: Expectation = settings.grantAccess ? "granted" : "denied";
const client = authorization.getClientConfigOutput();

const resourceGroup = new resources.ResourceGroup(`${prefix}-rg`, {});
const location = resourceGroup.location;

// Over SSH: a public IP per VM and SSH from one network. Through Run Command: no public IP, no inbound rule,
// and egress through a NAT gateway, or the user's own subnet and no network of the program's at all.
const viaRunCommand = settings.accessCheckVia === "runCommand";
const net = new Network(prefix, {
  resourceGroupName: resourceGroup.name,
  location,
  access: !viaRunCommand
    ? { kind: "ssh", sshAllowedCidr: settings.sshAllowedCidr, sshPort: settings.sshPort }
    : settings.subnetId !== undefined
      ? { kind: "existingSubnet", subnetId: settings.subnetId }
      : { kind: "natGateway" },
  vmCount: settings.vmCount,
});

const userIdentity =
  settings.identity === "system"
    ? undefined
    : new UserIdentity(prefix, { resourceGroupName: resourceGroup.name, location });

// The program's own key for the check. A key the user supplies is authorized too, but only the
// generated key's private half is ever known here, and exported (as a secret) only over SSH when it is the
// sole key. The VM gets the same keys whatever the transport: Azure cannot change a VM's authorized keys in
// place (PropertyChangeNotAllowed), so switching accessCheckVia must not change them (nor the host key:
// components/vm.ts).
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

// One access check per VM and identity. Denial is proven on the resource group; on a stack switched from
// granted to denied, the check itself tells whether this update removes the grant (components/grantState.ts).
const readerRole = client.subscriptionId.apply((subscription) => roleDefinitionId(subscription, READER_ROLE_ID));
const revoked = (principalId: pulumi.Input<string>) =>
  settings.grantAccess ? {} : { grant: { scope: resourceGroup.id, roleDefinitionId: readerRole, principalId } };
const scopes = settings.grantAccess ? { readableScopes: [resourceGroup.id] } : { refusedScopes: [resourceGroup.id] };
// Each check's command keeps the URN it had under the one AccessCheckRun before the checks became components.
const formerCheckAlias = formerCommandAlias(`${prefix}-check`);
const checks = linuxVms.flatMap((vm, index) => {
  const way = viaRunCommand
    ? { runCommand: { vmId: vm.vmId, location } }
    : {
        ssh: {
          host: net.publicIps[index].ipAddress.apply(requireAddress),
          port: settings.sshPort,
          user: settings.adminUsername,
          privateKey: checkKey.privateKeyOpenssh,
          hostKey: vm.hostPublicKey,
          dialErrorLimit: settings.sshDialErrorLimit ?? DEFAULTS.sshDialErrorLimit,
        },
      };
  const common = {
    vmName: vm.vmName,
    ...way,
    ...scopes,
    deadlineSeconds: settings.accessCheckTimeoutSeconds,
    // Nothing propagates in the negative control, so a first denial is taken at once (a re-run after a revocation waits).
    ...(settings.grantAccess ? {} : { quickRefusalSeconds: NEGATIVE_CONTROL_DEADLINE_SECONDS }),
    armEndpoint: settings.armEndpoint,
    imdsEndpoint: settings.imdsEndpoint,
    // The program judges all checks together (one error naming every failed check).
    failOnMismatch: false,
  };
  const perVm: VmAccessCheck[] = [];
  if (userIdentity) {
    perVm.push(
      new VmAccessCheck(
        `${prefix}-check-${index}-user`,
        {
          ...common,
          identity: {
            type: "UserAssigned",
            principalId: userIdentity.principalId,
            tenantId: userIdentity.tenantId,
            clientId: userIdentity.clientId,
            resourceId: userIdentity.resourceId,
          },
          ...revoked(userIdentity.principalId),
          triggers: [
            vm.vmId,
            userIdentity.resourceId,
            userIdentity.principalId,
            userAccess?.assignmentId ?? "no-grant",
          ],
        },
        { dependsOn: userAccess ? [userAccess, vm] : [vm], transformations: [formerCheckAlias] },
      ),
    );
  }
  const access = systemAccess[index];
  if (vm.systemPrincipalId && vm.systemTenantId) {
    // Through Run Command, one VM's runs go one after the other: its agent is never handed two at once.
    const after = viaRunCommand ? perVm : [];
    perVm.push(
      new VmAccessCheck(
        `${prefix}-check-${index}-system`,
        {
          ...common,
          identity: { type: "SystemAssigned", principalId: vm.systemPrincipalId, tenantId: vm.systemTenantId },
          ...revoked(vm.systemPrincipalId),
          triggers: [vm.vmId, vm.systemPrincipalId, access?.assignmentId ?? "no-grant"],
        },
        { dependsOn: [...(access ? [access] : []), vm, ...after], transformations: [formerCheckAlias] },
      ),
    );
  }
  return perVm;
});

function requireAddress(address: string | undefined): string {
  if (!address) throw new pulumi.RunError("The public IP has no address: a Standard static IP should have one");
  return address;
}

// `ssh -i vm-key …` after `pulumi stack output --show-secrets sshPrivateKey > vm-key && chmod 600 vm-key`.
const keyFlag = settings.sshPublicKey === undefined ? " -i vm-key" : "";
const portFlag = settings.sshPort === 22 ? "" : ` -p ${settings.sshPort}`;

export const accessCheck = pulumi.all(checks.map((check) => check.results)).apply((all) => {
  const results = all.flat() as AccessCheckResult[];
  for (const line of revocationWarnings(results)) pulumi.log.warn(line);
  return programAccessCheck(expectation, results);
});
export const resourceGroupName = resourceGroup.name;
export const resourceGroupId = resourceGroup.id;
export const identity = userIdentity
  ? { clientId: userIdentity.clientId, principalId: userIdentity.principalId, resourceId: userIdentity.resourceId }
  : null;
// Only the exports follow the transport: through Run Command the VMs have no address to give, and no key is
// exported (nobody logs in from here; the check key's private half stays in the state).
export const vms = linuxVms.map((vm, index) => {
  if (viaRunCommand) return { name: vm.vmName };
  const publicIp = net.publicIps[index].ipAddress.apply(requireAddress);
  return {
    name: vm.vmName,
    publicIp,
    sshCommand: pulumi.interpolate`ssh${keyFlag}${portFlag} ${settings.adminUsername}@${publicIp}`,
  };
});
export const sshPrivateKey =
  !viaRunCommand && settings.sshPublicKey === undefined ? pulumi.secret(checkKey.privateKeyOpenssh) : undefined;
