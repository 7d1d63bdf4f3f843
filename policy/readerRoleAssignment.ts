import * as authorization from "@pulumi/azure-native/authorization";
import { type ResourceValidationPolicy, validateResourceOfType } from "@pulumi/policy";
import type * as pulumi from "@pulumi/pulumi";
import { peek, sameText, shown, UNKNOWN } from "./values";

export type RoleAssignmentProps = pulumi.Unwrap<authorization.RoleAssignmentArgs>;

/** Azure's built-in Reader role (`*\/read` only). */
export const READER_ROLE_ID = "acdd72a7-3385-48ef-bd42-f606fba81ae7";

// A full role definition ID ending in the Reader GUID: under a subscription or tenant-wide.
const READER_DEFINITION = new RegExp(
  `^(/subscriptions/[^/]+)?/providers/Microsoft\\.Authorization/roleDefinitions/${READER_ROLE_ID}$`,
  "i",
);
// Exactly a resource group: not the subscription above it, not a resource below it.
const RESOURCE_GROUP_SCOPE = /^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+$/i;

/**
 * A role assignment grants only the built-in Reader role, at exactly a resource group's scope, to a
 * service principal (a managed identity): least privilege at the narrowest scope that lets the
 * identity read its own group.
 */
export function roleAssignmentViolations(name: string, assignment: RoleAssignmentProps): string[] {
  const violations: string[] = [];
  const role = peek(() => assignment.roleDefinitionId);
  if (role !== UNKNOWN && !(typeof role === "string" && READER_DEFINITION.test(role.trim()))) {
    violations.push(
      `role assignment "${name}": roleDefinitionId is ${shown(role)}; allowed: the built-in Reader role, /subscriptions/{subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${READER_ROLE_ID}`,
    );
  }
  const scope = peek(() => assignment.scope);
  if (scope !== UNKNOWN && !(typeof scope === "string" && RESOURCE_GROUP_SCOPE.test(scope.trim()))) {
    violations.push(
      `role assignment "${name}": scope is ${shown(scope)}; allowed: a resource group, /subscriptions/{subscriptionId}/resourceGroups/{name}`,
    );
  }
  const principalType = peek(() => assignment.principalType);
  if (principalType !== UNKNOWN && !sameText(principalType, "ServicePrincipal")) {
    violations.push(`role assignment "${name}": principalType is ${shown(principalType)}; allowed: "ServicePrincipal"`);
  }
  return violations;
}

export const readerAtResourceGroup: ResourceValidationPolicy = {
  name: "role-assignment-reader-at-resource-group",
  description:
    "Role assignments grant only the built-in Reader role, at a resource-group scope, with principalType ServicePrincipal.",
  enforcementLevel: "mandatory",
  validateResource: validateResourceOfType(authorization.RoleAssignment, (assignment, args, reportViolation) => {
    for (const message of roleAssignmentViolations(args.name, assignment)) reportViolation(message);
  }),
};
