import { randomUUID } from "node:crypto";
import { cloudNow, type StoredResource } from "../../store";
import { RUN_COMMAND_TYPE } from "../../vm/runCommandRecord";
import type { ArmShared } from "../context";
import { type ArmReply, armError } from "../errors";
import { type Draft, missingReference, type ResourceNamespace } from "../providerResources";
import { USER_ASSIGNED_IDENTITY } from "./managedIdentity";

/**
 * Microsoft.Compute: virtual machines, with their identities (system-assigned, user-assigned), and
 * their run commands; what a VM is at runtime (IMDS, guest, power) is the VM model's, told through
 * ctx.vms. Run commands' and VMs' own routes (PUT …/runCommands/{name}, POST …/runCommand, power
 * actions) are ./runCommands.ts and ./virtualMachineActions.ts; here they are a type of the namespace,
 * deleted with their VM.
 */

export const VIRTUAL_MACHINE = "Microsoft.Compute/virtualMachines";

/**
 * The versions virtualMachines is served with, newest first: @azure/arm-compute 25 (2026-04-01) and 24
 * (2026-03-01), azure-native 3.28 (2024-11-01); the Azure CLI 2.91 sends 2026-04-01 (show, create,
 * update), 2025-11-01 (deallocate), 2024-11-01 (its SDK profile: identity, stop, delete) and 2022-11-01
 * (start, restart and the other actions).
 */
export const VIRTUAL_MACHINE_API_VERSIONS = ["2026-04-01", "2026-03-01", "2025-11-01", "2024-11-01", "2022-11-01"];

/**
 * The versions a VM's managed run commands (virtualMachines/runCommands) are served with: azure-native
 * 3.28 and the Azure CLI 2.91 (2024-11-01), @azure/arm-compute 24 (2026-03-01) and 25 (2026-04-01).
 */
export const RUN_COMMAND_API_VERSIONS = ["2026-04-01", "2026-03-01", "2024-11-01"];

/**
 * Compute's refusal of an operation on a VM being deleted, as Learn's "Understand common error messages
 * when you manage virtual machines in Azure" lists it (OperationNotAllowed), 409 as Compute answers
 * OperationNotAllowed (coreos/fedora-coreos-tracker#1444 records one). The operation's name is
 * Compute's where a user quoted it: 'Update VM' for a PUT (Azure/azure-sdk-for-python#2702), an
 * action's own name for an action ('powerOff', microsoft/AzureTRE#4135).
 */
export function vmMarkedForDeletion(operation: string, vmName: string): ArmReply {
  return armError(
    409,
    "OperationNotAllowed",
    `Operation '${operation}' is not allowed on VM '${vmName}' since the VM is marked for deletion. You can only retry the Delete operation (or wait for an ongoing one to complete).`,
  );
}

/**
 * The same for a VM extension being deleted (the same Learn table), which a managed run command is
 * delivered as: 'PUT Extension' is the operation's name users quote for an extension's PUT.
 */
export function extensionMarkedForDeletion(operation: string, name: string): ArmReply {
  return armError(
    409,
    "OperationNotAllowed",
    `Operation '${operation}' is not allowed on VM extension '${name}' since it is marked for deletion. You can only retry the Delete operation (or wait for an ongoing one to complete).`,
  );
}

interface LinuxConfiguration {
  disablePasswordAuthentication?: boolean;
  ssh?: { publicKeys?: Array<{ keyData?: string }> };
}

export function computeProvider(shared: ArmShared): ResourceNamespace {
  const { ctx } = shared;
  const store = ctx.store;

  const vmIdentity = (
    vmId: string,
    input: Record<string, unknown> | undefined,
    existing: StoredResource | undefined,
  ): { identity?: Record<string, unknown> } | { error: ArmReply } => {
    const type = String(input?.type ?? "None");
    const attached = store.attachedAt.get(vmId.toLowerCase()) ?? new Map<string, number>();
    const now = cloudNow(ctx.faults);
    const nextAttached = new Map<string, number>();
    if (type === "None") {
      store.attachedAt.set(vmId.toLowerCase(), nextAttached);
      return {};
    }
    const identity: Record<string, unknown> = { type };
    if (/SystemAssigned/i.test(type)) {
      const previous = existing?.body.identity as { principalId?: string } | undefined;
      const principalId = previous?.principalId ?? randomUUID();
      if (!store.principals.has(principalId.toLowerCase())) {
        store.principals.set(principalId.toLowerCase(), {
          principalId,
          clientId: randomUUID(),
          resourceId: vmId,
          createdAt: now,
        });
      }
      identity.principalId = principalId;
      identity.tenantId = ctx.tenantId;
      nextAttached.set(principalId.toLowerCase(), attached.get(principalId.toLowerCase()) ?? now);
    }
    if (/UserAssigned/i.test(type)) {
      const map: Record<string, unknown> = {};
      for (const id of Object.keys((input?.userAssignedIdentities as Record<string, unknown>) ?? {})) {
        const resource = store.resource(id);
        if (resource?.type !== USER_ASSIGNED_IDENTITY) {
          return {
            error: armError(
              400,
              "FailedIdentityOperation",
              `Identity operation for resource '${vmId}' failed with error 'Failed to perform resource identity operation. Status: 'NotFound'. Response: 'The user assigned identity '${id}' was not found.''.`,
            ),
          };
        }
        const props = resource.body.properties as { principalId: string; clientId: string };
        map[resource.id] = { principalId: props.principalId, clientId: props.clientId };
        nextAttached.set(props.principalId.toLowerCase(), attached.get(props.principalId.toLowerCase()) ?? now);
      }
      if (Object.keys(map).length === 0) {
        return {
          error: armError(
            400,
            "InvalidParameter",
            "The user assigned identities must be specified for identity type 'UserAssigned'.",
          ),
        };
      }
      identity.userAssignedIdentities = map;
    }
    store.attachedAt.set(vmId.toLowerCase(), nextAttached);
    return { identity };
  };

  const buildVirtualMachine = ({ properties, previous, route, input, existing, base }: Draft) => {
    for (const nic of (properties.networkProfile as { networkInterfaces?: Array<{ id?: string }> } | undefined)
      ?.networkInterfaces ?? []) {
      const error = missingReference(shared, nic.id, route.scope);
      if (error) return { error };
    }
    const linux = (properties.osProfile as { linuxConfiguration?: LinuxConfiguration } | undefined)?.linuxConfiguration;
    if (linux?.disablePasswordAuthentication && !linux.ssh?.publicKeys?.length) {
      // Compute's answer to a Linux VM with neither a password nor a key, with its target, as
      // hashicorp/terraform-provider-azurerm quotes it in linux_virtual_machine_resource.go.
      return {
        error: {
          status: 400,
          body: {
            error: {
              code: "InvalidParameter",
              message: "Authentication using either SSH or by user name and password must be enabled in Linux profile.",
              target: "linuxConfiguration",
            },
          },
        },
      };
    }
    const built = vmIdentity(route.scope, input.identity as Record<string, unknown> | undefined, existing);
    if ("error" in built) return built;
    if (built.identity) base.identity = built.identity;
    properties.vmId = previous.vmId ?? randomUUID();
    return { stored: (vm: StoredResource) => ctx.vms.changed(vm.id) };
  };

  return {
    namespace: "Microsoft.Compute",
    longRunning: true,
    beingDeleted: (resource) =>
      resource.type === RUN_COMMAND_TYPE
        ? extensionMarkedForDeletion("PUT Extension", String(resource.body.name))
        : vmMarkedForDeletion("Update VM", String(resource.body.name)),
    types: [
      {
        type: VIRTUAL_MACHINE,
        apiVersions: VIRTUAL_MACHINE_API_VERSIONS,
        build: buildVirtualMachine,
        view: (_vm, properties) => {
          const osProfile = { ...((properties.osProfile as Record<string, unknown>) ?? {}) };
          // ARM never returns customData.
          delete osProfile.customData;
          properties.osProfile = osProfile;
        },
        // A VM's run commands go with it (their scripts end with its guest).
        children: (vm) =>
          [...store.resources.values()].filter(
            (r) => r.type === RUN_COMMAND_TYPE && r.id.toLowerCase().startsWith(`${vm.id.toLowerCase()}/runcommands/`),
          ),
        forget: (vm) => ctx.vms.deleted(vm.id),
      },
      {
        type: RUN_COMMAND_TYPE,
        apiVersions: RUN_COMMAND_API_VERSIONS,
        nested: true,
        forget: (runCommand) => ctx.vms.cancelRunCommand(runCommand.id),
      },
    ],
  };
}
