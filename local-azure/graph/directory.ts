import type { Principal } from "../store";

/**
 * The directory as Microsoft Graph shows it: one service principal for each principal Local Azure
 * holds (the deployer's application, and every managed identity), `appId` its client ID and `id` its
 * principal (object) ID, with the members of Graph's servicePrincipal resource that tell them apart
 * (Learn, "servicePrincipal resource type": servicePrincipalType `Application` or `ManagedIdentity`;
 * a managed identity's alternativeNames name whether it is user-assigned, `isExplicit=True`, and its
 * resource ID). Pure: the store's principals in, Graph's objects out.
 */

export const DEPLOYER_DISPLAY_NAME = "Local Azure deployer";

/** A principal as a Graph servicePrincipal. */
export function servicePrincipalOf(principal: Principal, tenantId: string): Record<string, unknown> {
  const managed = principal.resourceId !== "";
  const userAssigned = /\/providers\/Microsoft\.ManagedIdentity\/userAssignedIdentities\//i.test(principal.resourceId);
  return {
    id: principal.principalId,
    deletedDateTime: null,
    accountEnabled: true,
    alternativeNames: managed ? [`isExplicit=${userAssigned ? "True" : "False"}`, principal.resourceId] : [],
    appDisplayName: managed ? null : DEPLOYER_DISPLAY_NAME,
    appId: principal.clientId,
    appOwnerOrganizationId: managed ? null : tenantId,
    appRoleAssignmentRequired: false,
    displayName: managed ? principal.resourceId.split("/").pop() : DEPLOYER_DISPLAY_NAME,
    servicePrincipalNames: [principal.clientId],
    servicePrincipalType: managed ? "ManagedIdentity" : "Application",
    signInAudience: managed ? null : "AzureADMyOrg",
    tags: [],
  };
}

/** A `$filter` Local Azure answers on servicePrincipals: the forms `az ad sp` and `az role assignment` send. */
export type ServicePrincipalFilter = { appId: string } | { servicePrincipalName: string } | { id: string };

/**
 * Parses `appId eq '…'`, `id eq '…'` and `servicePrincipalNames/any(c:c eq '…')` (azure-cli's role
 * module, `_resolve_object_id_and_type`); undefined for anything else.
 */
export function parseServicePrincipalFilter(filter: string): ServicePrincipalFilter | undefined {
  const text = filter.trim();
  let match = /^appId\s+eq\s+'([^']*)'$/i.exec(text);
  if (match) return { appId: match[1] };
  match = /^id\s+eq\s+'([^']*)'$/i.exec(text);
  if (match) return { id: match[1] };
  match = /^servicePrincipalNames\/any\((\w+):\s*\1\s+eq\s+'([^']*)'\)$/i.exec(text);
  if (match) return { servicePrincipalName: match[2] };
  return undefined;
}

export function matchesFilter(principal: Principal, filter: ServicePrincipalFilter): boolean {
  const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();
  if ("appId" in filter) return same(principal.clientId, filter.appId);
  if ("id" in filter) return same(principal.principalId, filter.id);
  return same(principal.clientId, filter.servicePrincipalName);
}
