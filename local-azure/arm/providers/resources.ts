import { cloudNow, type StoredResourceGroup } from "../../store";
import { MICROSOFT_RESOURCES_API_VERSIONS } from "../apiVersions";
import type { ArmProvider, ArmRequest, ArmShared, ProviderDescription } from "../context";
import { type ArmReply, armError, listReply, resourceGroupBeingDeleted, resourceGroupNotFound } from "../errors";
import { rgScope } from "../providerResources";
import { isWithinScope } from "../rbac";
import { type Route, verbOf } from "../routes";
import { revokeRoleAssignment } from "./authorization";

/**
 * Microsoft.Resources: resource groups (create, read, update, check existence, delete with all they
 * hold) and the generic resource lists of a group or the subscription.
 */

export class ResourcesProvider implements ArmProvider {
  constructor(private readonly shared: ArmShared) {}

  /** The types this module and the discovery routes serve, at ARM's own api-versions (../apiVersions.ts). */
  describe(): ProviderDescription {
    const apiVersions = MICROSOFT_RESOURCES_API_VERSIONS;
    return {
      namespace: "Microsoft.Resources",
      resourceTypes: [
        "tenants",
        "providers",
        "subscriptions",
        "subscriptions/locations",
        "subscriptions/providers",
        "subscriptions/resourceGroups",
        "subscriptions/resources",
        "resourceGroups",
        "resources",
      ].map((resourceType) => ({ resourceType, apiVersions, global: true })),
    };
  }

  match(method: string, path: string): Route | undefined {
    const verb = verbOf(method);
    let match = /^(\/subscriptions\/[^/]+)\/resourceGroups$/i.exec(path);
    if (match) {
      return {
        kind: "resourceGroupList",
        scope: match[1],
        filtered: true,
        type: "Microsoft.Resources/resourceGroups",
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
            type: "Microsoft.Resources/resources",
            action: `Microsoft.Resources/subscriptions/resourceGroups/resources/${verb}`,
          }
        : {
            kind: "genericResourceList",
            scope: match[1],
            filtered: true,
            type: "Microsoft.Resources/resources",
            action: `Microsoft.Resources/subscriptions/resources/${verb}`,
          };
    }
    match = /^\/subscriptions\/[^/]+\/resourceGroups\/([^/]+)$/i.exec(path);
    if (match) {
      return {
        kind: "resourceGroup",
        scope: path,
        resourceGroup: match[1],
        type: "Microsoft.Resources/resourceGroups",
        action: `Microsoft.Resources/subscriptions/resourceGroups/${verb}`,
      };
    }
    return undefined;
  }

  async handle(request: ArmRequest): Promise<ArmReply> {
    const { method, route, caller } = request;
    const store = this.shared.ctx.store;
    switch (route.kind) {
      case "resourceGroupList":
        return listReply(
          method,
          [...store.resourceGroups.values()]
            .filter((rg) => this.shared.allowed(caller, rg.id, route.action))
            .map((rg) => this.view(rg)),
        );
      case "genericResourceList":
        if (route.resourceGroup && !store.resourceGroups.has(route.resourceGroup.toLowerCase()))
          return resourceGroupNotFound(route.resourceGroup);
        return listReply(method, this.genericResources(route, caller));
      default:
        return this.resourceGroup(request);
    }
  }

  /**
   * Top-level resources of a group or the subscription, in GenericResource form (id, name, type,
   * location, tags, sku, identity): ARM's resource list leaves out nested resources such as subnets.
   * (azure-rest-api-specs specification/resources/resource-manager/Microsoft.Resources/stable/2021-04-01/resources.json, GenericResourceExpanded)
   */
  private genericResources(route: Route, caller: string): Record<string, unknown>[] {
    const container = route.resourceGroup ? rgScope(route.scope) : route.scope;
    return [...this.shared.ctx.store.resources.values()]
      .filter((r) => r.type.split("/").length === 2 && isWithinScope(r.id, container))
      .filter((r) => !route.filtered || this.shared.allowed(caller, r.id, `${r.type}/read`))
      .map((r) => {
        const { id, name, type, location, tags, sku, identity, kind } = r.body as Record<string, unknown>;
        return Object.fromEntries(
          Object.entries({ id: id ?? r.id, name, type, location, tags, sku, identity, kind }).filter(
            ([, v]) => v !== undefined,
          ),
        );
      });
  }

  private view(rg: StoredResourceGroup) {
    return {
      id: rg.id,
      name: rg.name,
      type: "Microsoft.Resources/resourceGroups",
      location: rg.location,
      ...(rg.tags ? { tags: rg.tags } : {}),
      properties: { provisioningState: rg.deletingSince === undefined ? "Succeeded" : "Deleting" },
    };
  }

  /**
   * A group's deletion: the group and all it holds, ended when its operation ends (../deletions.ts).
   * Then what is still in the group leaves with it, and its role assignments (at the group and below)
   * are revoked as any deleted assignment is, as of the operation's end, so they keep authorizing while
   * the revocation propagates.
   */
  private beginGroupDeletion(key: string, group: StoredResourceGroup): void {
    const { store } = this.shared.ctx;
    const since = group.deletingSince as number;
    const inside = [...store.resources.values()].filter((resource) => isWithinScope(resource.id, group.id));
    this.shared.deletions.begin(
      [group.id.toLowerCase(), ...inside.map((resource) => resource.id.toLowerCase())],
      since,
      async () => {
        if (store.resourceGroups.get(key) !== group) return;
        store.resourceGroups.delete(key);
        // The operation ended this long ago on the real clock (ARM's operations run on it): as long ago
        // on the clock RBAC propagation is read on.
        const at = cloudNow(this.shared.ctx.faults) - Math.max(0, Date.now() - this.shared.operations.deletedAt(since));
        for (const assignment of [...store.roleAssignments.values()])
          if (isWithinScope(assignment.scope, group.id)) revokeRoleAssignment(store, assignment, at);
        await this.shared.forgetAll(
          [...store.resources.values()].filter((resource) => isWithinScope(resource.id, group.id)),
        );
      },
    );
  }

  /** A kept cloud came back: a group that was Deleting ends when its operation would have. */
  resumeDeletions(): void {
    for (const [key, group] of this.shared.ctx.store.resourceGroups)
      if (group.deletingSince !== undefined) this.beginGroupDeletion(key, group);
  }

  private resourceGroup({ method, route, body }: ArmRequest): ArmReply {
    const { store } = this.shared.ctx;
    const key = String(route.resourceGroup).toLowerCase();
    const existing = store.resourceGroups.get(key);
    const notFound = () => resourceGroupNotFound(route.resourceGroup);
    // resourceGroups.checkExistence: 204 or 404, no body (Learn, "Resource Groups - Check Existence"; azure-rest-api-specs
    // specification/resources/resource-manager/Microsoft.Resources/stable/2021-04-01/resources.json, ResourceGroups_CheckExistence).
    if (method === "HEAD") return { status: existing ? 204 : 404 };
    if (method === "GET") return existing ? { status: 200, body: this.view(existing) } : notFound();
    if (method === "PUT" || method === "PATCH") {
      const input = (body ?? {}) as { location?: string; tags?: unknown };
      if (!existing && method === "PATCH") return notFound();
      if (existing?.deletingSince !== undefined) return resourceGroupBeingDeleted(existing.name);
      if (!existing && !input.location) {
        return armError(400, "LocationRequired", "The location property is required for this definition.");
      }
      if (
        existing &&
        method === "PUT" &&
        input.location &&
        input.location.toLowerCase() !== existing.location.toLowerCase()
      ) {
        return armError(
          409,
          "InvalidResourceGroupLocation",
          `Invalid resource group location '${input.location}'. The Resource group already exists in location '${existing.location}'.`,
        );
      }
      const rg = {
        id: existing?.id ?? route.scope.replace(/\/resourceGroups\//i, "/resourceGroups/"),
        name: existing?.name ?? String(route.resourceGroup),
        location: existing?.location ?? String(input.location),
        tags: input.tags ?? existing?.tags,
      };
      store.resourceGroups.set(key, rg);
      return { status: existing ? 200 : 201, body: this.view(rg) };
    }
    if (method === "DELETE") {
      if (!existing) return notFound();
      // Learn, "Resource Groups - Delete": 202 with a Location to poll (ResourceGroups_Delete in the REST
      // spec). The group and what it holds read back Deleting until the operation ends
      // (beginGroupDeletion); a DELETE meanwhile answers the same end.
      if (existing.deletingSince === undefined) {
        const since = Date.now();
        existing.deletingSince = since;
        for (const resource of [...store.resources.values()])
          if (isWithinScope(resource.id, existing.id)) this.shared.markDeleting(resource, since);
        this.beginGroupDeletion(key, existing);
      }
      const operation = this.shared.operations.createDelete(existing.deletingSince, existing.id.toLowerCase());
      return { status: 202, headers: this.shared.operations.accepted(operation, { location: true }) };
    }
    return armError(405, "MethodNotAllowed", `${method} is not supported on resource groups.`);
  }
}
