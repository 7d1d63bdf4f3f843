/**
 * What a request path names once a provider has matched it: the operation, the ARM scope its RBAC
 * action is checked at, and the parts of the path the provider needs. Each provider module matches
 * its own paths (see ./index.ts); this file holds only the shape they share.
 *
 * Paths follow ARM's URL grammar (azure-rest-api-specs, and Learn "Resource Manager REST API"):
 * `/subscriptions/{s}/resourceGroups/{rg}/providers/{namespace}/{type}/{name}[/{childType}/{childName}]`
 * names a resource; the same path without the last name names the collection (a list). GET and HEAD
 * are reads (HEAD is how `checkExistence` asks), DELETE deletes, everything else writes.
 */

export type RouteKind =
  | "resourceGroup"
  | "resourceGroupList"
  | "resource"
  | "resourceList"
  | "genericResourceList"
  | "roleAssignment"
  | "roleAssignmentList"
  | "roleDefinitions"
  | "permissions"
  | "operationStatus"
  | "operationResult"
  | "subscriptionList"
  | "subscription"
  | "locationList"
  | "tenantList"
  | "tenantProviders"
  | "providers"
  | "providerRegister";

export interface Route {
  kind: RouteKind;
  /** The ARM scope the action is checked at (the request path, or the scope an Authorization route names); "/" for the tenant. */
  scope: string;
  /** The RBAC action; "" for operation polls, which ARM scopes to the operation itself. */
  action: string;
  /** The scope ARM names in a 403 when it differs from `scope`: a role assignment's own path. */
  target?: string;
  /** Lists at subscription scope answer only what the caller may read, instead of refusing the whole list. */
  filtered?: boolean;
  resourceGroup?: string;
  /** Full ARM type, e.g. Microsoft.Network/virtualNetworks/subnets. */
  type?: string;
  name?: string;
  /** A child resource's (or child list's) parent resource ID. */
  parentId?: string;
}

export function verbOf(method: string): "read" | "delete" | "write" {
  return method === "GET" || method === "HEAD" ? "read" : method === "DELETE" ? "delete" : "write";
}
