import { cloudNow, type Store } from "../../store";
import type { ArmProvider, ArmRequest, ArmShared, ProviderDescription } from "../context";
import { type ArmReply, armError, listReply, resourceGroupBeingDeleted, resourceGroupNotFound } from "../errors";
import { isWithinScope, ROLE_DEFINITIONS, type RoleAssignment, roleDefinitionByGuid, roleGuidOf } from "../rbac";
import { type Route, verbOf } from "../routes";

/**
 * Microsoft.Authorization at any scope: the built-in role definitions, role assignments (create,
 * read, delete, list with ARM's filters) and a caller's effective permissions. The RBAC decision
 * itself is the router's (../rbac.ts), made before any provider sees a request.
 */

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

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
    return principal === undefined || a.principalId.toLowerCase() === principal.toLowerCase();
  });
}

/**
 * Deletes a role assignment the one way ARM has: gone from reads at once, still authorizing while its
 * revocation propagates (it joins the revoked assignments with `deletedAt`, which ../rbac.ts reads with
 * the faults' propagation delay). A deleted assignment and those of a deleted resource group go this way.
 */
export function revokeRoleAssignment(store: Store, assignment: RoleAssignment, at: number): void {
  store.roleAssignments.delete(assignment.id.toLowerCase());
  store.revokedAssignments.push({ ...assignment, deletedAt: at });
}

export class AuthorizationProvider implements ArmProvider {
  constructor(private readonly shared: ArmShared) {}

  /**
   * Its types, global (no location), at the versions their clients here send: 2022-04-01
   * (@azure/arm-authorization 9, azure-native 3.28, the probe, the Azure CLI 2.91's role assignments)
   * and 2022-05-01-preview (the Azure CLI's role definitions and permissions, azure-mgmt-authorization 5).
   */
  describe(): ProviderDescription {
    return {
      namespace: "Microsoft.Authorization",
      resourceTypes: [
        { resourceType: "roleAssignments", apiVersions: ["2022-04-01"], global: true },
        { resourceType: "roleDefinitions", apiVersions: ["2022-05-01-preview", "2022-04-01"], global: true },
        { resourceType: "permissions", apiVersions: ["2022-05-01-preview", "2022-04-01"], global: true },
      ],
    };
  }

  match(method: string, path: string): Route | undefined {
    const verb = verbOf(method);
    let match = /^(.*)\/providers\/Microsoft\.Authorization\/roleAssignments(?:\/([^/]+))?$/i.exec(path);
    if (match) {
      return match[2]
        ? {
            kind: "roleAssignment",
            scope: match[1],
            target: path,
            name: match[2],
            type: "Microsoft.Authorization/roleAssignments",
            action: `Microsoft.Authorization/roleAssignments/${verb}`,
          }
        : {
            kind: "roleAssignmentList",
            scope: match[1],
            type: "Microsoft.Authorization/roleAssignments",
            action: `Microsoft.Authorization/roleAssignments/${verb}`,
          };
    }
    match = /^(.*)\/providers\/Microsoft\.Authorization\/permissions$/i.exec(path);
    if (match) {
      return {
        kind: "permissions",
        scope: match[1],
        type: "Microsoft.Authorization/permissions",
        action: "Microsoft.Authorization/permissions/read",
      };
    }
    match = /^(.*)\/providers\/Microsoft\.Authorization\/roleDefinitions(?:\/([^/]+))?$/i.exec(path);
    if (match) {
      return {
        kind: "roleDefinitions",
        scope: match[1],
        name: match[2],
        type: "Microsoft.Authorization/roleDefinitions",
        action: `Microsoft.Authorization/roleDefinitions/${verb}`,
      };
    }
    return undefined;
  }

  handle({ method, route, body, caller, url }: ArmRequest): ArmReply {
    const store = this.shared.ctx.store;
    switch (route.kind) {
      case "permissions":
        return listReply(method, this.shared.permissionsOf(caller, route.scope));
      case "roleDefinitions":
        return method === "GET"
          ? this.roleDefinitions(route, url)
          : armError(
              405,
              "MethodNotAllowed",
              `${method} is not supported on role definitions here: Local Azure holds built-in roles only.`,
            );
      case "roleAssignmentList":
        return listReply(
          method,
          listRoleAssignments(store.roleAssignments.values(), route.scope, url.searchParams.get("$filter")).map((a) =>
            this.roleAssignmentBody(a),
          ),
        );
      default:
        return this.roleAssignment(method, route, body);
    }
  }

  private roleDefinitionBody(guid: string) {
    const role = roleDefinitionByGuid(guid);
    if (!role) return undefined;
    return {
      id: `/subscriptions/${this.shared.ctx.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${role.name}`,
      type: "Microsoft.Authorization/roleDefinitions",
      name: role.name,
      properties: {
        roleName: role.roleName,
        type: "BuiltInRole",
        permissions: [{ actions: role.actions, notActions: role.notActions, dataActions: [], notDataActions: [] }],
        assignableScopes: ["/"],
      },
    };
  }

  private roleDefinitions(route: Route, url: URL): ArmReply {
    if (route.name) {
      const body = this.roleDefinitionBody(route.name);
      return body
        ? { status: 200, body }
        : armError(
            404,
            "RoleDefinitionDoesNotExist",
            `The specified role definition with ID '${route.name}' does not exist.`,
          );
    }
    const filter = /roleName eq '([^']*)'/i.exec(url.searchParams.get("$filter") ?? "")?.[1];
    const roles = ROLE_DEFINITIONS.filter(
      (role) => filter === undefined || role.roleName.toLowerCase() === filter.toLowerCase(),
    );
    return { status: 200, body: { value: roles.map((role) => this.roleDefinitionBody(role.name)) } };
  }

  private roleAssignmentBody(assignment: RoleAssignment) {
    return {
      id: assignment.id,
      type: "Microsoft.Authorization/roleAssignments",
      name: assignment.name,
      properties: {
        roleDefinitionId: assignment.roleDefinitionId,
        principalId: assignment.principalId,
        principalType: assignment.principalType,
        scope: assignment.scope,
        // As ARM reports them (2022-04-01): when the assignment was made; an assignment is never
        // updated in place, so updatedOn is the same instant. The program tells a grant deleted and
        // made again under its name from the one it saw by createdOn (components/grantState.ts).
        createdOn: new Date(assignment.createdAt).toISOString(),
        updatedOn: new Date(assignment.createdAt).toISOString(),
      },
    };
  }

  private roleAssignment(method: string, route: Route, body: unknown): ArmReply {
    const { store, faults, tenantId } = this.shared.ctx;
    const id = `${route.scope}/providers/Microsoft.Authorization/roleAssignments/${route.name}`;
    const existing = store.roleAssignments.get(id.toLowerCase());
    if (method === "GET") {
      return existing
        ? { status: 200, body: this.roleAssignmentBody(existing) }
        : armError(404, "RoleAssignmentNotFound", "The role assignment does not exist.");
    }
    if (method === "DELETE") {
      if (!existing) return { status: 204 };
      revokeRoleAssignment(store, existing, cloudNow(faults));
      return { status: 200, body: this.roleAssignmentBody(existing) };
    }
    if (method !== "PUT") return armError(405, "MethodNotAllowed", `${method} is not supported on role assignments.`);
    if (!GUID.test(route.name ?? "")) {
      return armError(
        400,
        "InvalidRoleAssignmentId",
        `The role assignment ID '${route.name}' is not valid. The role assignment ID must be a GUID.`,
      );
    }
    const properties = ((body as { properties?: Record<string, unknown> } | null)?.properties ?? {}) as Record<
      string,
      unknown
    >;
    const roleDefinitionId = String(properties.roleDefinitionId ?? "");
    const principalId = String(properties.principalId ?? "");
    const principalType = properties.principalType === undefined ? "" : String(properties.principalType);
    const guid = roleGuidOf(roleDefinitionId);
    if (!guid || !roleDefinitionByGuid(guid)) {
      return armError(
        400,
        "RoleDefinitionDoesNotExist",
        `The specified role definition with ID '${guid ?? roleDefinitionId}' does not exist.`,
      );
    }
    const rg = /^\/subscriptions\/[^/]+\/resourceGroups\/([^/]+)/i.exec(route.scope)?.[1];
    const group = rg ? store.resourceGroups.get(rg.toLowerCase()) : undefined;
    if (rg && !group) return resourceGroupNotFound(rg);
    if (group?.deletingSince !== undefined) return resourceGroupBeingDeleted(group.name);
    const principal = store.principals.get(principalId.toLowerCase());
    const replicating = principal && cloudNow(faults) - principal.createdAt < faults.directoryReplicationSeconds * 1000;
    if (!principal || (replicating && principalType === "")) {
      return armError(
        400,
        "PrincipalNotFound",
        `Principal ${principalId.replace(/-/g, "")} does not exist in the directory ${tenantId}. Check that you have the correct principal ID. If you are creating this principal and then immediately assigning a role, this error might be related to a replication delay. In this case, set the role assignment principalType property to a value, such as ServicePrincipal, User, or Group.  See https://aka.ms/docs-principaltype`,
      );
    }
    const same = (a: RoleAssignment) =>
      a.principalId.toLowerCase() === principalId.toLowerCase() &&
      a.roleDefinitionId.toLowerCase() === roleDefinitionId.toLowerCase() &&
      a.scope.toLowerCase() === route.scope.toLowerCase();
    if (existing) {
      if (!same(existing)) {
        return armError(
          409,
          "RoleAssignmentUpdateNotPermitted",
          "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.",
        );
      }
      return { status: 200, body: this.roleAssignmentBody(existing) };
    }
    if ([...store.roleAssignments.values()].some(same))
      return armError(409, "RoleAssignmentExists", "The role assignment already exists.");
    const assignment: RoleAssignment = {
      id,
      name: String(route.name),
      scope: route.scope,
      roleDefinitionId,
      principalId,
      principalType: principalType || "ServicePrincipal",
      createdAt: cloudNow(faults),
    };
    store.roleAssignments.set(id.toLowerCase(), assignment);
    return { status: 201, body: this.roleAssignmentBody(assignment) };
  }
}
