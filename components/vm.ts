import * as compute from "@pulumi/azure-native/compute";
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { renderHostKeyCloudConfig } from "./cloudInit";
import type { IdentityMode } from "./settings";

export interface LinuxVmArgs {
  readonly resourceGroupName: pulumi.Input<string>;
  readonly location: pulumi.Input<string>;
  readonly nicId: pulumi.Input<string>;
  readonly vmSize: string;
  readonly adminUsername: string;
  /** OpenSSH public key lines authorized for adminUsername. */
  readonly authorizedKeys: pulumi.Input<string>[];
  readonly identity: IdentityMode;
  /** The shared user-assigned identity; required when identity is user or both. */
  readonly userIdentityId?: pulumi.Input<string>;
}

/** ARM's identity type for each identity mode. */
export function vmIdentityType(mode: IdentityMode): "UserAssigned" | "SystemAssigned" | "SystemAssigned, UserAssigned" {
  switch (mode) {
    case "user":
      return "UserAssigned";
    case "system":
      return "SystemAssigned";
    case "both":
      return "SystemAssigned, UserAssigned";
  }
}

/**
 * A Linux VM: Ubuntu 24.04 LTS (Gen2) with Trusted Launch, SSH keys only, the managed identities of
 * its mode, and an SSH host key generated here and installed through cloud-init, so a check over SSH can
 * pin it. The host key is made whatever the check's transport: Azure cannot change a VM's customData in
 * place (PropertyChangeNotAllowed), so a VM made without it would be replaced (its OS disk, its system
 * identity) the day the check switches to SSH, and one made with it the day it switches back.
 */
export class LinuxVm extends pulumi.ComponentResource {
  public readonly vmId: pulumi.Output<string>;
  public readonly vmName: pulumi.Output<string>;
  /** The system-assigned identity's principal and tenant; undefined when the mode has none. */
  public readonly systemPrincipalId?: pulumi.Output<string>;
  public readonly systemTenantId?: pulumi.Output<string>;
  /** The host key line a check over SSH pins in its connection. */
  public readonly hostPublicKey: pulumi.Output<string>;

  constructor(name: string, args: LinuxVmArgs, opts?: pulumi.ComponentResourceOptions) {
    super("vm-identity-access:vm:LinuxVm", name, {}, opts);
    const usesUserIdentity = args.identity !== "system";
    if (usesUserIdentity && args.userIdentityId === undefined) {
      throw new Error(`LinuxVm ${name}: identity ${args.identity} needs userIdentityId`);
    }

    const hostKey = new tls.PrivateKey(`${name}-hostkey`, { algorithm: "ED25519" }, { parent: this });
    const customData = pulumi
      .all([hostKey.privateKeyOpenssh, hostKey.publicKeyOpenssh])
      // customData is the base64 of the cloud-config text.
      .apply(([privateKey, publicKey]) =>
        Buffer.from(renderHostKeyCloudConfig({ privateKey, publicKey })).toString("base64"),
      );

    const vm = new compute.VirtualMachine(
      `${name}`,
      {
        resourceGroupName: args.resourceGroupName,
        location: args.location,
        hardwareProfile: { vmSize: args.vmSize },
        identity: {
          type: vmIdentityType(args.identity),
          userAssignedIdentities: usesUserIdentity ? [args.userIdentityId as pulumi.Input<string>] : undefined,
        },
        osProfile: {
          computerName: name,
          adminUsername: args.adminUsername,
          customData: pulumi.secret(customData),
          linuxConfiguration: {
            // Security control: keys only; no password exists to guess.
            disablePasswordAuthentication: true,
            ssh: {
              publicKeys: args.authorizedKeys.map((keyData) => ({
                path: `/home/${args.adminUsername}/.ssh/authorized_keys`,
                keyData,
              })),
            },
          },
        },
        storageProfile: {
          imageReference: { publisher: "Canonical", offer: "ubuntu-24_04-lts", sku: "server", version: "latest" },
          osDisk: {
            createOption: "FromImage",
            deleteOption: "Delete",
            managedDisk: { storageAccountType: "StandardSSD_LRS" },
          },
        },
        networkProfile: { networkInterfaces: [{ id: args.nicId, primary: true }] },
        // Security control: Trusted Launch (Secure Boot and vTPM) guards the boot chain of a Gen2 image.
        securityProfile: {
          securityType: "TrustedLaunch",
          uefiSettings: { secureBootEnabled: true, vTpmEnabled: true },
        },
      },
      { parent: this },
    );

    this.vmId = vm.id;
    this.vmName = vm.name;
    if (args.identity !== "user") {
      this.systemPrincipalId = vm.identity.apply((identity) =>
        requireValue(identity?.principalId, name, "principalId"),
      );
      this.systemTenantId = vm.identity.apply((identity) => requireValue(identity?.tenantId, name, "tenantId"));
    }
    this.hostPublicKey = hostKey.publicKeyOpenssh.apply((key) => key.trim());
    this.registerOutputs({ vmId: this.vmId, vmName: this.vmName });
  }
}

function requireValue(value: string | undefined, vm: string, field: string): string {
  if (value === undefined || value === "") {
    throw new pulumi.RunError(`VM ${vm} has no system-assigned identity ${field}: ARM did not return one`);
  }
  return value;
}
