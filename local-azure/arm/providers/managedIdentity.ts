import { randomUUID } from "node:crypto";
import { cloudNow } from "../../store";
import type { ArmShared } from "../context";
import type { ResourceNamespace } from "../providerResources";

/**
 * Microsoft.ManagedIdentity: user-assigned identities. Creating one makes its service principal in
 * the directory (principal ID and client ID); deleting it removes the principal.
 */

export const USER_ASSIGNED_IDENTITY = "Microsoft.ManagedIdentity/userAssignedIdentities";

export function managedIdentityProvider(shared: ArmShared): ResourceNamespace {
  const { store } = shared.ctx;
  return {
    namespace: "Microsoft.ManagedIdentity",
    longRunning: false,
    types: [
      {
        type: USER_ASSIGNED_IDENTITY,
        // azure-native 3.28 (2023-01-31); @azure/arm-msi 2 and the Azure CLI 2.91's SDK profile
        // (2024-11-30); the Azure CLI 2.91's `az identity` commands (2025-05-31-preview).
        apiVersions: ["2025-05-31-preview", "2024-11-30", "2023-01-31"],
        // ARM spells a user-assigned identity's ID with "resourcegroups" in lower case.
        idFor: (path) => path.replace(/\/resourceGroups\//i, "/resourcegroups/"),
        build: ({ properties, previous, id }) => {
          const identity = (previous.principalId as string | undefined)
            ? { principalId: previous.principalId as string, clientId: previous.clientId as string }
            : { principalId: randomUUID(), clientId: randomUUID() };
          Object.assign(properties, identity, { tenantId: shared.ctx.tenantId });
          if (!previous.principalId) {
            store.principals.set(identity.principalId.toLowerCase(), {
              ...identity,
              resourceId: id,
              createdAt: cloudNow(shared.ctx.faults),
            });
          }
          return {};
        },
        forget: (resource) => {
          store.principals.delete(
            String((resource.body.properties as { principalId: string }).principalId).toLowerCase(),
          );
        },
      },
    ],
  };
}
