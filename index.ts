import * as authorization from "@pulumi/azure-native/authorization";
import * as resources from "@pulumi/azure-native/resources";
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { ReaderAccess } from "./components/access";
import {
  formerCommandAlias,
  isRevocationPending,
  programAccessCheck,
  revocationPendingLine,
} from "./components/accessCheck";
import { readerGrantRemains } from "./components/grantState";
import { UserIdentity } from "./components/identity";
import { Network } from "./components/network";
import { NEGATIVE_CONTROL_DEADLINE_SECONDS } from "./components/probeCommand";
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

const net = new Network(prefix, {
  resourceGroupName: resourceGroup.name,
  location,
  sshAllowedCidr: settings.sshAllowedCidr as string,
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

// One access check per VM and identity. Denial is proven on the resource group, or, on a stack
// switched from granted to denied, said to come with the next `pulumi up` (components/grantState.ts).
const denialPending = (principalId: pulumi.Input<string>) =>
  settings.grantAccess ? false : readerGrantRemains(client.subscriptionId, resourceGroup.id, principalId);
const scopes = settings.grantAccess ? { readableScopes: [resourceGroup.id] } : { refusedScopes: [resourceGroup.id] };
// Each check's command keeps the URN it had under the one AccessCheckRun before the checks became components.
const formerCheckAlias = formerCommandAlias(`${prefix}-check`);
const checks = linuxVms.flatMap((vm, index) => {
  const common = {
    vmName: vm.vmName,
    ssh: {
      host: net.publicIps[index].ipAddress.apply(requireAddress),
      port: settings.sshPort,
      user: settings.adminUsername,
      privateKey: checkKey.privateKeyOpenssh,
      hostKey: vm.hostPublicKey,
      dialErrorLimit: settings.sshDialErrorLimit ?? DEFAULTS.sshDialErrorLimit,
    },
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
          revocationPending: denialPending(userIdentity.principalId),
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
    perVm.push(
      new VmAccessCheck(
        `${prefix}-check-${index}-system`,
        {
          ...common,
          identity: { type: "SystemAssigned", principalId: vm.systemPrincipalId, tenantId: vm.systemTenantId },
          revocationPending: denialPending(vm.systemPrincipalId),
          triggers: [vm.vmId, vm.systemPrincipalId, access?.assignmentId ?? "no-grant"],
        },
        { dependsOn: access ? [access, vm] : [vm], transformations: [formerCheckAlias] },
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
  const pending = results.filter(isRevocationPending);
  if (pending.length > 0) pulumi.log.warn(revocationPendingLine(pending.map((r) => r.expected.resourceGroupId)));
  return programAccessCheck(expectation, results);
});
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
