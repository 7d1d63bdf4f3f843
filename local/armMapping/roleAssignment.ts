import { segment } from "./convert";
import type { ResourceMapping } from "./types";

/** A scope as a path prefix: exactly one leading slash, no trailing one. */
export function scopePath(scope: unknown): string {
  if (typeof scope !== "string" || scope.trim() === "") {
    throw new Error(
      `input scope must be a resource ID such as /subscriptions/<id>/resourceGroups/<name>, got ${JSON.stringify(scope)}`,
    );
  }
  return `/${scope.trim().replace(/^\/+/, "").replace(/\/+$/, "")}`;
}

/** azure-native:authorization:RoleAssignment (2022-04-01): at any scope; a GUID name when none is given. */
export const roleAssignmentMapping: ResourceMapping = {
  type: "azure-native:authorization:RoleAssignment",
  armType: "Microsoft.Authorization/roleAssignments",
  apiVersion: "2022-04-01",
  nameInput: "roleAssignmentName",
  autoname: "guid",
  pathInputs: ["scope", "roleAssignmentName"],
  // ARM refuses any change of these on an existing assignment (RoleAssignmentUpdateNotPermitted).
  forceNew: ["principalId", "roleDefinitionId"],
  topLevel: [],
  flattenProperties: true,
  path: (inputs, name) =>
    `${scopePath(inputs.scope)}/providers/Microsoft.Authorization/roleAssignments/${segment(name, "roleAssignmentName")}`,
};
