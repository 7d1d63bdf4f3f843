import { v5 as uuidv5 } from "uuid";

/** Azure's built-in Reader role: `*\/read` and nothing else (least privilege for a read check). */
export const READER_ROLE_ID = "acdd72a7-3385-48ef-bd42-f606fba81ae7";

/** The full role definition ID ARM expects in a role assignment: under the subscription, not bare. */
export function roleDefinitionId(subscriptionId: string, roleId: string): string {
  return `/subscriptions/${subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${roleId}`;
}

// A fixed namespace for this project's name-based UUIDs; changing it would rename every assignment.
const ROLE_ASSIGNMENT_NAMESPACE = "5b1f0f4e-6c2a-4d35-9a51-3f1d0c6e7a90";

/**
 * The role assignment's name: a GUID derived from scope, principal and role. The same triple always
 * gives the same name, so a re-run never collides with its own earlier assignment
 * (RoleAssignmentExists), and a re-created principal gets a new name instead of trying to update
 * the old one (RoleAssignmentUpdateNotPermitted). ARM IDs compare case-insensitively, so does this.
 */
export function roleAssignmentName(scope: string, principalId: string, roleDefinition: string): string {
  const key = [scope, principalId, roleDefinition].map((part) => part.trim().toLowerCase()).join("|");
  return uuidv5(key, ROLE_ASSIGNMENT_NAMESPACE);
}
