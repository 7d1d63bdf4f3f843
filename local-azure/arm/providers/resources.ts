import type { ArmProvider, ArmRequest, ArmShared, ProviderDescription } from "../context";
import { type ArmReply, armError, listReply, resourceGroupNotFound } from "../errors";
import { rgScope } from "../providerResources";
import { isWithinScope } from "../rbac";
import { type Route, verbOf } from "../routes";

/**
 * Microsoft.Resources: resource groups (create, read, update, check existence, delete with all they
 * hold) and the generic resource lists of a group or the subscription.
 */

type StoredGroup = { id: string; name: string; location: string; tags?: unknown };

export class ResourcesProvider implements ArmProvider {
  constructor(private readonly shared: ArmShared) {}

  /** The types this module and the discovery routes serve (the REST API version the program deploys with). */
  describe(): ProviderDescription {
    const apiVersions = ["2024-03-01"];
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
      ].map((resourceType) => ({ resourceType, apiVersions })),
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

  private view(rg: StoredGroup) {
    return {
      id: rg.id,
      name: rg.name,
      type: "Microsoft.Resources/resourceGroups",
      location: rg.location,
      ...(rg.tags ? { tags: rg.tags } : {}),
      properties: { provisioningState: "Succeeded" },
    };
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
      store.resourceGroups.delete(key);
      for (const resource of [...store.resources.values()])
        if (isWithinScope(resource.id, existing.id)) void this.shared.forget(resource);
      for (const [id, assignment] of store.roleAssignments)
        if (isWithinScope(assignment.scope, existing.id)) store.roleAssignments.delete(id);
      // Learn, "Resource Groups - Delete": 202 with a Location to poll (ResourceGroups_Delete in the REST spec).
      const operation = this.shared.operations.createNow();
      return { status: 202, headers: this.shared.operations.accepted(operation, { location: true }) };
    }
    return armError(405, "MethodNotAllowed", `${method} is not supported on resource groups.`);
  }
}
