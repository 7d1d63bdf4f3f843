import type { Route } from "./armRoutes";
import { isWithinScope, type RoleAssignment } from "./rbac";
import type { Store, StoredResource } from "./store";

/**
 * ARM's collection GETs over the store: resources of one type (in a resource group, under a parent,
 * or in the whole subscription), every resource of a group (`resources.listByResourceGroup`),
 * resource groups, and role assignments at a scope with ARM's `$filter` forms. Each answers
 * `{"value": [...]}` without `nextLink`: the store is small enough for one page.
 */

/** Whether the caller may perform `action` at the resource `id` (subscription-scope lists are filtered by it). */
export type Readable = (id: string, action: string) => boolean;

type StoredGroup = Store["resourceGroups"] extends Map<string, infer G> ? G : never;

const lower = (s: string) => s.toLowerCase();

/** Resources of `route.type` in scope: under the parent, in the resource group, or (filtered) in the subscription. */
export function listResources(
  store: Store,
  route: Route,
  readable: Readable,
  view: (resource: StoredResource) => Record<string, unknown>,
): Record<string, unknown>[] {
  const type = lower(String(route.type));
  const container = route.parentId ?? (route.resourceGroup ? rgScope(route.scope) : route.scope);
  return [...store.resources.values()]
    .filter((r) => lower(r.type) === type && isWithinScope(r.id, container))
    .filter((r) => !route.filtered || readable(r.id, route.action))
    .map(view);
}

/**
 * Top-level resources of a group or the subscription, in GenericResource form (id, name, type,
 * location, tags, sku, identity): ARM's resource list leaves out nested resources such as subnets.
 * (azure-rest-api-specs specification/resources/resource-manager/Microsoft.Resources/stable/2021-04-01/resources.json, GenericResourceExpanded)
 */
export function listGenericResources(store: Store, route: Route, readable: Readable): Record<string, unknown>[] {
  const container = route.resourceGroup ? rgScope(route.scope) : route.scope;
  return [...store.resources.values()]
    .filter((r) => r.type.split("/").length === 2 && isWithinScope(r.id, container))
    .filter((r) => !route.filtered || readable(r.id, `${r.type}/read`))
    .map((r) => {
      const { id, name, type, location, tags, sku, identity, kind } = r.body as Record<string, unknown>;
      return Object.fromEntries(
        Object.entries({ id: id ?? r.id, name, type, location, tags, sku, identity, kind }).filter(
          ([, v]) => v !== undefined,
        ),
      );
    });
}

/** Resource groups of the subscription that the caller may read. */
export function listResourceGroups<T>(
  store: Store,
  route: Route,
  readable: Readable,
  view: (rg: StoredGroup) => T,
): T[] {
  return [...store.resourceGroups.values()].filter((rg) => readable(rg.id, route.action)).map(view);
}

/**
 * Role assignments for a list at `scope`. Learn, "Role Assignments - List For Scope": no filter
 * gives those at, above and below the scope; `$filter=atScope()` those at or above it;
 * `principalId eq '{id}'` (or `assignedTo('{id}')`) that principal's at, above or below.
 */
export function listRoleAssignments(
  assignments: Iterable<RoleAssignment>,
  scope: string,
  filter: string | null,
): RoleAssignment[] {
  const text = filter ?? "";
  const atScope = /atScope\(\)/i.test(text);
  const principal =
    /principalId\s+eq\s+'?([0-9a-f-]+)'?/i.exec(text)?.[1] ?? /assignedTo\('([0-9a-f-]+)'\)/i.exec(text)?.[1];
  return [...assignments].filter((a) => {
    const aboveOrAt = isWithinScope(scope, a.scope);
    const below = isWithinScope(a.scope, scope);
    if (atScope ? !aboveOrAt : !aboveOrAt && !below) return false;
    return principal === undefined || lower(a.principalId) === lower(principal);
  });
}

/** `/subscriptions/{s}/resourceGroups/{rg}` of a path inside a resource group. */
function rgScope(path: string): string {
  return /^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+/i.exec(path)?.[0] ?? path;
}
