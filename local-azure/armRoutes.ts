/**
 * Which ARM operation a request path names, and the RBAC action it needs. Pure: no state.
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
  | "operationResult";

export interface Route {
  kind: RouteKind;
  /** The ARM scope the action is checked at (the request path, or the scope an Authorization route names). */
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

const GUIDISH = "[^/]+";

export function routeOf(method: string, path: string): Route | undefined {
  const verb = verbOf(method);
  let match = new RegExp(`^(.*)/providers/Microsoft\\.Authorization/roleAssignments(?:/(${GUIDISH}))?$`, "i").exec(
    path,
  );
  if (match) {
    return match[2]
      ? {
          kind: "roleAssignment",
          scope: match[1],
          target: path,
          name: match[2],
          action: `Microsoft.Authorization/roleAssignments/${verb}`,
        }
      : { kind: "roleAssignmentList", scope: match[1], action: `Microsoft.Authorization/roleAssignments/${verb}` };
  }
  match = /^(.*)\/providers\/Microsoft\.Authorization\/permissions$/i.exec(path);
  if (match) return { kind: "permissions", scope: match[1], action: "Microsoft.Authorization/permissions/read" };
  match = /^(.*)\/providers\/Microsoft\.Authorization\/roleDefinitions(?:\/([^/]+))?$/i.exec(path);
  if (match) {
    return {
      kind: "roleDefinitions",
      scope: match[1],
      name: match[2],
      action: `Microsoft.Authorization/roleDefinitions/${verb}`,
    };
  }
  match = /^\/subscriptions\/[^/]+\/providers\/Microsoft\.Resources\/operationStatuses\/([^/]+)$/i.exec(path);
  if (match) return { kind: "operationStatus", scope: path, name: match[1], action: "" };
  match = /^\/subscriptions\/[^/]+\/operationResults\/([^/]+)$/i.exec(path);
  if (match) return { kind: "operationResult", scope: path, name: match[1], action: "" };
  match = /^(\/subscriptions\/[^/]+)\/resourceGroups$/i.exec(path);
  if (match) {
    return {
      kind: "resourceGroupList",
      scope: match[1],
      filtered: true,
      action: `Microsoft.Resources/subscriptions/resourceGroups/${verb}`,
    };
  }
  match = /^(\/subscriptions\/[^/]+)(?:\/resourceGroups\/([^/]+))?\/resources$/i.exec(path);
  if (match) {
    return match[2]
      ? {
          kind: "genericResourceList",
          scope: path,
          resourceGroup: match[2],
          action: `Microsoft.Resources/subscriptions/resourceGroups/resources/${verb}`,
        }
      : {
          kind: "genericResourceList",
          scope: match[1],
          filtered: true,
          action: `Microsoft.Resources/subscriptions/resources/${verb}`,
        };
  }
  match = /^\/subscriptions\/[^/]+\/resourceGroups\/([^/]+)$/i.exec(path);
  if (match) {
    return {
      kind: "resourceGroup",
      scope: path,
      resourceGroup: match[1],
      action: `Microsoft.Resources/subscriptions/resourceGroups/${verb}`,
    };
  }
  match = /^(\/subscriptions\/[^/]+)(?:\/resourceGroups\/([^/]+))?\/providers\/([^/]+)\/(.+)$/i.exec(path);
  if (match) return providerRoute(path, match[1], match[2], match[3], match[4].split("/"), verb);
  return undefined;
}

/** `{type}[/{name}[/{childType}[/{childName}]]]` under one namespace: a collection when the count is even. */
function providerRoute(
  path: string,
  subscription: string,
  resourceGroup: string | undefined,
  namespace: string,
  segments: string[],
  verb: string,
): Route | undefined {
  if (segments.length > 4 || segments.some((s) => s === "")) return undefined;
  const typeSegments = segments.filter((_, i) => i % 2 === 0);
  const type = [namespace, ...typeSegments].join("/");
  const action = `${type}/${verb}`;
  const isList = segments.length % 2 === 1;
  const parentId =
    segments.length >= 3
      ? `${subscription}/resourceGroups/${resourceGroup}/providers/${namespace}/${segments[0]}/${segments[1]}`
      : undefined;
  if (!resourceGroup) {
    // Only top-level collections are listed at subscription scope (e.g. virtualMachines.listAll).
    if (segments.length !== 1) return undefined;
    return { kind: "resourceList", scope: subscription, type, action, filtered: true };
  }
  if (isList) return { kind: "resourceList", scope: path, resourceGroup, type, parentId, action };
  return { kind: "resource", scope: path, resourceGroup, type, name: segments[segments.length - 1], parentId, action };
}
