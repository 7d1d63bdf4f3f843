import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { listGenericResources, listResourceGroups, listResources, listRoleAssignments } from "./armList";
import { type Route, routeOf } from "./armRoutes";
import type { Entra } from "./entra";
import {
  effectivePermissions,
  isAllowed,
  isWithinScope,
  ROLE_DEFINITIONS,
  type RoleAssignment,
  roleDefinitionByGuid,
  roleGuidOf,
} from "./rbac";
import type { Faults, Store, StoredResource } from "./store";

export { type Route, routeOf } from "./armRoutes";

/**
 * Local Azure's Resource Manager: every request authenticated (bearer token against the JWKS) and
 * authorized (RBAC) before it is routed; resource groups, the resource types the program creates,
 * role definitions and assignments, effective permissions; long-running operations; ARM's errors.
 */

export interface ArmReply {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

export interface ArmContext {
  endpoint: string;
  subscriptionId: string;
  tenantId: string;
  location: string;
  deployerPrincipalId: string;
  faults: Faults;
  store: Store;
  entra: Entra;
  /** Where ARM's 401 challenge sends clients to sign in; defaults to the login endpoint of /metadata/endpoints. */
  authorityHost?: string;
  onVmChanged(vmId: string): Promise<void>;
  onVmDeleted(vmId: string): Promise<void>;
}

const armError = (status: number, code: string, message: string, headers?: Record<string, string>): ArmReply => ({
  status,
  headers,
  body: { error: { code, message } },
});

// Resource types whose PUT and DELETE are long-running in ARM (201/202 + Azure-AsyncOperation).
const LONG_RUNNING = /^Microsoft\.(Network|Compute)\//i;
const VIRTUAL_NETWORK = "Microsoft.Network/virtualNetworks";
const SUBNET = "Microsoft.Network/virtualNetworks/subnets";

interface LinuxConfiguration {
  disablePasswordAuthentication?: boolean;
  ssh?: { publicKeys?: Array<{ keyData?: string }> };
}

/**
 * Named sub-resources (a NIC's ipConfigurations, an NSG's securityRules) carry their own IDs in ARM's
 * answers, `{parent}/{collection}/{name}`, as the Network REST spec's examples show.
 */
function withChildIds(items: unknown, parentId: string, collection: string): unknown {
  if (!Array.isArray(items)) return items;
  return items.map((item) =>
    typeof item === "object" && item !== null && typeof (item as { name?: unknown }).name === "string"
      ? { ...item, id: `${parentId}/${collection}/${(item as { name: string }).name}` }
      : item,
  );
}

function canonicalTypeName(type: string): string {
  const known = [
    "Microsoft.Network/virtualNetworks",
    "Microsoft.Network/virtualNetworks/subnets",
    "Microsoft.Network/networkSecurityGroups",
    "Microsoft.Network/publicIPAddresses",
    "Microsoft.Network/networkInterfaces",
    "Microsoft.ManagedIdentity/userAssignedIdentities",
    "Microsoft.Compute/virtualMachines",
  ];
  return known.find((k) => k.toLowerCase() === type.toLowerCase()) ?? type;
}

export class ArmService {
  constructor(private readonly ctx: ArmContext) {}

  /** The whole request: authentication, faults, authorization, then the route. */
  async handle(
    method: string,
    rawUrl: string,
    headers: Record<string, string | undefined>,
    body: unknown,
  ): Promise<{ reply: ArmReply; principalId: string | null }> {
    // Not new URL(rawUrl, base): a request line "//subscriptions/…" would parse as a host name.
    const url = new URL(`${this.ctx.endpoint}${rawUrl.startsWith("/") ? "" : "/"}${rawUrl}`);
    // SDK clients join a scope that starts with "/" to "/{scope}/providers/…": ARM reads "//" as "/".
    const path = url.pathname.replace(/\/{2,}/g, "/").replace(/\/+$/, "");
    if (path.toLowerCase() === "/metadata/endpoints")
      return { reply: { status: 200, body: this.metadataEndpoints() }, principalId: null };
    const authorization = headers.authorization;
    if (!authorization?.startsWith("Bearer ")) {
      return {
        reply: this.unauthenticated(
          "AuthenticationFailed",
          "Authentication failed. The 'Authorization' header is missing.",
          "The authentication failed because of missing 'Authorization' header.",
        ),
        principalId: null,
      };
    }
    const verdict = await this.ctx.entra.verify(authorization.slice(7), [this.ctx.endpoint, `${this.ctx.endpoint}/`]);
    if (!verdict.ok) return { reply: this.unauthenticated(verdict.code, verdict.message), principalId: null };
    const caller = verdict.token;
    const isManagedIdentity = caller.oid !== this.ctx.deployerPrincipalId;
    const faults = this.ctx.faults;
    if (isManagedIdentity && faults.armUnauthorized.count > 0) {
      faults.armUnauthorized.count--;
      return {
        reply: this.unauthenticated("InvalidAuthenticationToken", "The access token is invalid."),
        principalId: caller.oid,
      };
    }
    if (isManagedIdentity && faults.armThrottle.count > 0) {
      faults.armThrottle.count--;
      return {
        reply: armError(429, "TooManyRequests", "The request is being throttled.", {
          "retry-after": String(faults.armThrottle.retryAfterSeconds),
        }),
        principalId: caller.oid,
      };
    }
    if (!url.searchParams.get("api-version")) {
      return {
        reply: armError(
          400,
          "MissingApiVersionParameter",
          "The api-version query parameter (?api-version=) is required for all requests.",
        ),
        principalId: caller.oid,
      };
    }
    const route = routeOf(method, path);
    if (!route?.scope.toLowerCase().startsWith(`/subscriptions/${this.ctx.subscriptionId.toLowerCase()}`)) {
      return { reply: armError(404, "NotFound", `No route for ${method} ${path}.`), principalId: caller.oid };
    }
    // Operation polls carry their own unguessable ID; a subscription-scope list is filtered item by item.
    if (route.action !== "" && !route.filtered && !this.allowed(caller.oid, route.scope, route.action)) {
      return {
        reply: armError(
          403,
          "AuthorizationFailed",
          `The client '${caller.appid}' with object id '${caller.oid}' does not have authorization to perform action '${route.action}' over scope '${route.target ?? route.scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
        ),
        principalId: caller.oid,
      };
    }
    return { reply: await this.route(method, route, body, caller.oid, url), principalId: caller.oid };
  }

  private allowed(principalId: string, scope: string, action: string): boolean {
    const permissions = effectivePermissions(
      [...this.ctx.store.roleAssignments.values()],
      principalId,
      scope,
      Date.now(),
      this.propagationMs(),
    );
    return isAllowed(permissions, action);
  }

  /**
   * 401 with the challenge ARM sends: `WWW-Authenticate: Bearer authorization_uri="{authority}/{tenant}",
   * error="invalid_token", error_description="…"` (RFC 6750 section 3; ARM's form as Azure/aks-engine's
   * ARM mock copies it in pkg/armhelpers: HTTPMockClient.RegisterLogin).
   */
  private unauthenticated(code: string, message: string, description = message): ArmReply {
    const authority = `${this.authorityHost()}/${this.ctx.tenantId}`;
    return armError(401, code, message, {
      "www-authenticate": `Bearer authorization_uri="${authority}", error="invalid_token", error_description="${description.replace(/["\\]/g, "")}"`,
    });
  }

  private authorityHost(): string {
    return (this.ctx.authorityHost ?? `${this.ctx.endpoint}/login`).replace(/\/+$/, "");
  }

  private propagationMs(): number {
    return this.ctx.faults.rbacDelaySeconds * 1000;
  }

  private metadataEndpoints() {
    return {
      name: "LocalAzure",
      resourceManager: `${this.ctx.endpoint}/`,
      authentication: {
        loginEndpoint: `${this.authorityHost()}/`,
        audiences: [`${this.ctx.endpoint}/`],
        tenant: this.ctx.tenantId,
      },
    };
  }

  private async route(method: string, route: Route, body: unknown, caller: string, url: URL): Promise<ArmReply> {
    const store = this.ctx.store;
    const readable = (id: string, action: string) => this.allowed(caller, id, action);
    const list = (value: unknown[]): ArmReply =>
      method === "GET"
        ? { status: 200, body: { value } }
        : armError(405, "MethodNotAllowed", `${method} is not supported on a collection.`);
    switch (route.kind) {
      case "operationStatus": {
        // Learn, "Track asynchronous Azure operations": the Azure-AsyncOperation URL answers 200 with a status.
        const operation = store.operations.get(route.name ?? "");
        if (!operation) return armError(404, "NotFound", "The operation was not found.");
        const done = Date.now() >= operation.readyAt;
        return { status: 200, body: { name: route.name, status: done ? "Succeeded" : "InProgress" } };
      }
      case "operationResult": {
        // The same page: a Location URL answers 202 while the operation runs, then 200 or 204.
        const operation = store.operations.get(route.name ?? "");
        if (!operation) return armError(404, "NotFound", "The operation was not found.");
        if (Date.now() < operation.readyAt)
          return { status: 202, headers: { location: this.operationResultUrl(String(route.name)) } };
        return { status: 200 };
      }
      case "permissions":
        return list(
          effectivePermissions(
            [...store.roleAssignments.values()],
            caller,
            route.scope,
            Date.now(),
            this.propagationMs(),
          ),
        );
      case "roleDefinitions":
        return method === "GET"
          ? this.roleDefinitions(route, url)
          : armError(
              405,
              "MethodNotAllowed",
              `${method} is not supported on role definitions here: Local Azure holds built-in roles only.`,
            );
      case "roleAssignment":
        return this.roleAssignment(method, route, body);
      case "roleAssignmentList":
        return list(
          listRoleAssignments(store.roleAssignments.values(), route.scope, url.searchParams.get("$filter")).map((a) =>
            this.roleAssignmentBody(a),
          ),
        );
      case "resourceGroup":
        return this.resourceGroup(method, route, body);
      case "resourceGroupList":
        return list(listResourceGroups(store, route, readable, (rg) => this.resourceGroupView(rg)));
      case "genericResourceList":
        if (route.resourceGroup && !store.resourceGroups.has(route.resourceGroup.toLowerCase()))
          return this.noGroup(route);
        return list(listGenericResources(store, route, readable));
      case "resourceList": {
        if (route.resourceGroup && !store.resourceGroups.has(route.resourceGroup.toLowerCase()))
          return this.noGroup(route);
        const parent = route.parentId ? store.resource(route.parentId) : undefined;
        if (route.parentId && !parent) {
          const [namespace, type, name] = route.parentId.split(/\/providers\//i)[1].split("/");
          return this.notFound(`${namespace}/${type}`, name, String(route.resourceGroup));
        }
        return list(listResources(store, route, readable, (r) => this.view(r)));
      }
      case "resource":
        return this.resource(method, route, body);
    }
  }

  private noGroup(route: Route): ArmReply {
    return armError(404, "ResourceGroupNotFound", `Resource group '${route.resourceGroup}' could not be found.`);
  }

  private notFound(type: string, name: string, resourceGroup: string): ArmReply {
    return armError(
      404,
      "ResourceNotFound",
      `The Resource '${type}/${name}' under resource group '${resourceGroup}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
    );
  }

  private roleDefinitionBody(guid: string) {
    const role = roleDefinitionByGuid(guid);
    if (!role) return undefined;
    return {
      id: `/subscriptions/${this.ctx.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${role.name}`,
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
      },
    };
  }

  private roleAssignment(method: string, route: Route, body: unknown): ArmReply {
    const store = this.ctx.store;
    const id = `${route.scope}/providers/Microsoft.Authorization/roleAssignments/${route.name}`;
    const existing = store.roleAssignments.get(id.toLowerCase());
    if (method === "GET") {
      return existing
        ? { status: 200, body: this.roleAssignmentBody(existing) }
        : armError(404, "RoleAssignmentNotFound", "The role assignment does not exist.");
    }
    if (method === "DELETE") {
      if (!existing) return { status: 204 };
      store.roleAssignments.delete(id.toLowerCase());
      return { status: 200, body: this.roleAssignmentBody(existing) };
    }
    if (method !== "PUT") return armError(405, "MethodNotAllowed", `${method} is not supported on role assignments.`);
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(route.name ?? "")) {
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
    if (rg && !store.resourceGroups.has(rg.toLowerCase())) {
      return armError(404, "ResourceGroupNotFound", `Resource group '${rg}' could not be found.`);
    }
    const principal = store.principals.get(principalId.toLowerCase());
    const replicating =
      principal && Date.now() - principal.createdAt < this.ctx.faults.directoryReplicationSeconds * 1000;
    if (!principal || (replicating && principalType === "")) {
      return armError(
        400,
        "PrincipalNotFound",
        `Principal ${principalId.replace(/-/g, "")} does not exist in the directory ${this.ctx.tenantId}. Check that you have the correct principal ID. If you are creating this principal and then immediately assigning a role, this error might be related to a replication delay. In this case, set the role assignment principalType property to a value, such as ServicePrincipal, User, or Group.  See https://aka.ms/docs-principaltype`,
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
      createdAt: Date.now(),
    };
    store.roleAssignments.set(id.toLowerCase(), assignment);
    return { status: 201, body: this.roleAssignmentBody(assignment) };
  }

  private resourceGroupView(rg: { id: string; name: string; location: string; tags?: unknown }) {
    return {
      id: rg.id,
      name: rg.name,
      type: "Microsoft.Resources/resourceGroups",
      location: rg.location,
      ...(rg.tags ? { tags: rg.tags } : {}),
      properties: { provisioningState: "Succeeded" },
    };
  }

  private resourceGroup(method: string, route: Route, body: unknown): ArmReply {
    const store = this.ctx.store;
    const key = String(route.resourceGroup).toLowerCase();
    const existing = store.resourceGroups.get(key);
    const notFound = () => this.noGroup(route);
    // resourceGroups.checkExistence: 204 or 404, no body (Learn, "Resource Groups - Check Existence"; azure-rest-api-specs
    // specification/resources/resource-manager/Microsoft.Resources/stable/2021-04-01/resources.json, ResourceGroups_CheckExistence).
    if (method === "HEAD") return { status: existing ? 204 : 404 };
    if (method === "GET") return existing ? { status: 200, body: this.resourceGroupView(existing) } : notFound();
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
      return { status: existing ? 200 : 201, body: this.resourceGroupView(rg) };
    }
    if (method === "DELETE") {
      if (!existing) return notFound();
      store.resourceGroups.delete(key);
      for (const resource of [...store.resources.values()])
        if (isWithinScope(resource.id, existing.id)) void this.forget(resource);
      for (const [id, assignment] of store.roleAssignments)
        if (isWithinScope(assignment.scope, existing.id)) store.roleAssignments.delete(id);
      // Learn, "Resource Groups - Delete": 202 with a Location to poll (ResourceGroups_Delete in the REST spec).
      const operation = this.newOperation(Date.now() + this.ctx.faults.lroSeconds * 1000);
      return { status: 202, headers: { location: this.operationResultUrl(operation) } };
    }
    return armError(405, "MethodNotAllowed", `${method} is not supported on resource groups.`);
  }

  /** Removes a resource and what hangs on it: a VM's runtime, an identity's directory principal. */
  private async forget(resource: StoredResource): Promise<void> {
    const store = this.ctx.store;
    store.resources.delete(resource.id.toLowerCase());
    if (resource.type === "Microsoft.Compute/virtualMachines") await this.ctx.onVmDeleted(resource.id);
    if (resource.type === "Microsoft.ManagedIdentity/userAssignedIdentities") {
      store.principals.delete(String((resource.body.properties as { principalId: string }).principalId).toLowerCase());
    }
  }

  private newOperation(readyAt: number): string {
    const id = randomUUID();
    this.ctx.store.operations.set(id, { readyAt });
    return id;
  }

  private operationStatusUrl(id: string): string {
    return `${this.ctx.endpoint}/subscriptions/${this.ctx.subscriptionId}/providers/Microsoft.Resources/operationStatuses/${id}?api-version=2020-01-01`;
  }

  private operationResultUrl(id: string): string {
    return `${this.ctx.endpoint}/subscriptions/${this.ctx.subscriptionId}/operationResults/${id}?api-version=2020-01-01`;
  }

  private view(resource: StoredResource): Record<string, unknown> {
    const creating = Date.now() < resource.readyAt;
    const properties = { ...((resource.body.properties as Record<string, unknown>) ?? {}) };
    properties.provisioningState = creating ? (resource.created ? "Creating" : "Updating") : "Succeeded";
    if (resource.type === "Microsoft.Compute/virtualMachines") {
      const osProfile = { ...((properties.osProfile as Record<string, unknown>) ?? {}) };
      // ARM never returns customData.
      delete osProfile.customData;
      properties.osProfile = osProfile;
    }
    if (resource.type === VIRTUAL_NETWORK) {
      // A VNet shows its subnets, inline or created on their own, each with its ID
      // (azure-rest-api-specs specification/network/resource-manager/Microsoft.Network/stable/2024-05-01/virtualNetwork.json:
      // VirtualNetworkPropertiesFormat.subnets is Subnet[], and a Subnet carries its id).
      properties.subnets = this.subnetsOf(resource.id).map((subnet) => this.view(subnet));
    }
    return { ...resource.body, properties };
  }

  private subnetsOf(vnetId: string): StoredResource[] {
    return [...this.ctx.store.resources.values()].filter(
      (r) => r.type === SUBNET && r.id.toLowerCase().startsWith(`${vnetId.toLowerCase()}/subnets/`),
    );
  }

  /**
   * Azure refuses to delete a network resource something else still uses (Learn, "Add, change, or
   * delete an Azure virtual network subnet": a subnet with resources in it cannot be deleted). Codes
   * and messages are the Network provider's, as reported in hashicorp/terraform-provider-azurerm#334
   * (a VNet PUT that drops a used subnet: InUseSubnetCannotBeDeleted, naming the NIC's ipConfiguration)
   * and #688 (PublicIPAddressCannotBeDeleted).
   */
  private inUse(resource: StoredResource): ArmReply | undefined {
    const id = resource.id.toLowerCase();
    const user = [...this.ctx.store.resources.values()].find(
      (other) =>
        other.id.toLowerCase() !== id &&
        !other.id.toLowerCase().startsWith(`${id}/`) &&
        JSON.stringify(other.body.properties ?? {})
          .toLowerCase()
          .includes(`"id":"${id}"`),
    );
    if (!user) return undefined;
    // A NIC uses a subnet or a public IP through one of its ipConfigurations, and Azure names that.
    const configs = (user.body.properties as { ipConfigurations?: Array<{ id?: string }> } | undefined)
      ?.ipConfigurations;
    const userId =
      configs?.find((config) => JSON.stringify(config).toLowerCase().includes(`"id":"${id}"`))?.id ?? user.id;
    const name = String(resource.body.name);
    switch (resource.type) {
      case SUBNET:
        return armError(
          400,
          "InUseSubnetCannotBeDeleted",
          `Subnet ${name} is in use by ${userId} and cannot be deleted. In order to delete the subnet, delete all the resources within the subnet. See aka.ms/deletesubnet.`,
        );
      case "Microsoft.Network/networkInterfaces":
        return armError(
          400,
          "NicInUse",
          `Network Interface ${resource.id} is used by existing resource ${user.id}. In order to delete the network interface, it must be dissociated from the resource. To learn more, see aka.ms/deletenic.`,
        );
      case "Microsoft.Network/publicIPAddresses":
        return armError(
          400,
          "PublicIPAddressCannotBeDeleted",
          `Public IP address ${resource.id} can not be deleted since it is still allocated to resource ${userId}. In order to delete the public IP, disassociate/detach the Public IP address from the resource.`,
        );
      case "Microsoft.Network/networkSecurityGroups":
        return armError(
          400,
          "InUseNetworkSecurityGroupCannotBeDeleted",
          `Network security group ${resource.id} cannot be deleted because it is in use by the following resources: ${user.id}. In order to delete the Network security group, remove the association with the resource(s).`,
        );
      default:
        return undefined;
    }
  }

  private async resource(method: string, route: Route, body: unknown): Promise<ArmReply> {
    const store = this.ctx.store;
    const type = canonicalTypeName(String(route.type));
    const existing = store.resource(route.scope);
    const notFound = () => this.notFound(type, String(route.name), String(route.resourceGroup));
    if (!store.resourceGroups.has(String(route.resourceGroup).toLowerCase())) {
      return method === "HEAD" ? { status: 404 } : this.noGroup(route);
    }
    // resources.checkExistenceById: 204 or 404 (Resources_CheckExistenceById in the REST spec).
    if (method === "HEAD") return { status: existing ? 204 : 404 };
    if (method === "GET") return existing ? { status: 200, body: this.view(existing) } : notFound();
    const longRunning = LONG_RUNNING.test(type);
    if (method === "DELETE") {
      if (!existing) return { status: 204 };
      for (const part of [existing, ...(type === VIRTUAL_NETWORK ? this.subnetsOf(existing.id) : [])]) {
        const refused = this.inUse(part);
        if (refused) return refused;
      }
      for (const subnet of type === VIRTUAL_NETWORK ? this.subnetsOf(existing.id) : []) await this.forget(subnet);
      await this.forget(existing);
      if (!longRunning) return { status: 200 };
      // Network and Compute deletes: 202 with Azure-AsyncOperation and Location (their REST specs' x-ms-long-running-operation).
      const operation = this.newOperation(Date.now() + this.ctx.faults.lroSeconds * 1000);
      return {
        status: 202,
        headers: {
          "azure-asyncoperation": this.operationStatusUrl(operation),
          location: this.operationResultUrl(operation),
        },
      };
    }
    if (method !== "PUT" && method !== "PATCH") return armError(405, "MethodNotAllowed", `${method} is not supported.`);
    if (method === "PATCH" && !existing) return notFound();
    const patch = (body ?? {}) as Record<string, unknown>;
    // PATCH merges: top-level members replace, properties merge one level deep.
    const input = (
      method === "PATCH"
        ? {
            ...existing?.body,
            ...patch,
            properties: { ...(existing?.body.properties as object), ...(patch.properties as object) },
          }
        : patch
    ) as Record<string, unknown>;
    if (route.parentId && !store.resource(route.parentId)) {
      return armError(
        404,
        "ParentResourceNotFound",
        `Can not perform requested operation on nested resource. Parent resource '${route.parentId.split("/").pop()}' not found.`,
      );
    }
    const built = this.build(type, route, input, existing);
    if ("error" in built) return built.error;
    const resource: StoredResource = {
      id: existing?.id ?? this.idFor(type, route),
      type,
      body: built.body,
      readyAt: longRunning ? Date.now() + this.ctx.faults.lroSeconds * 1000 : 0,
      created: !existing,
    };
    resource.body.id = resource.id;
    store.resources.set(route.scope.toLowerCase(), resource);
    if (built.subnets) this.replaceSubnets(resource, built.subnets);
    if (type === "Microsoft.Compute/virtualMachines") await this.ctx.onVmChanged(resource.id);
    const status = existing ? 200 : 201;
    if (!longRunning) return { status, body: this.view(resource) };
    const operation = this.newOperation(resource.readyAt);
    return {
      status,
      headers: { "azure-asyncoperation": this.operationStatusUrl(operation) },
      body: this.view(resource),
    };
  }

  /** A VNet PUT that lists subnets makes them exactly its subnets, each a child resource with its own ID. */
  private replaceSubnets(vnet: StoredResource, subnets: Array<{ name: string; properties: Record<string, unknown> }>) {
    const store = this.ctx.store;
    const wanted = new Set(subnets.map((s) => s.name.toLowerCase()));
    for (const subnet of this.subnetsOf(vnet.id))
      if (!wanted.has(String(subnet.body.name).toLowerCase())) void this.forget(subnet);
    for (const { name, properties } of subnets) {
      const id = `${vnet.id}/subnets/${name}`;
      const existing = store.resource(id);
      store.resources.set(id.toLowerCase(), {
        id: existing?.id ?? id,
        type: SUBNET,
        body: {
          name: existing?.body.name ?? name,
          id: existing?.id ?? id,
          type: SUBNET,
          properties: { ...properties },
        },
        readyAt: vnet.readyAt,
        created: !existing,
      });
    }
  }

  private idFor(type: string, route: Route): string {
    // ARM spells a user-assigned identity's ID with "resourcegroups" in lower case.
    if (type === "Microsoft.ManagedIdentity/userAssignedIdentities")
      return route.scope.replace(/\/resourceGroups\//i, "/resourcegroups/");
    return route.scope.replace(/\/resourceGroups\//i, "/resourceGroups/");
  }

  private missingReference(id: unknown, by: string): ArmReply | undefined {
    if (typeof id !== "string" || !this.ctx.store.resource(id)) {
      return armError(
        400,
        "InvalidResourceReference",
        `Resource ${String(id)} referenced by resource ${by} was not found. Please make sure that the referenced resource exists, and that both resources are in the same region.`,
      );
    }
    return undefined;
  }

  private build(
    type: string,
    route: Route,
    input: Record<string, unknown>,
    existing: StoredResource | undefined,
  ):
    | { body: Record<string, unknown>; subnets?: Array<{ name: string; properties: Record<string, unknown> }> }
    | { error: ArmReply } {
    const properties = { ...((input.properties as Record<string, unknown>) ?? {}) };
    let subnets: Array<{ name: string; properties: Record<string, unknown> }> | undefined;
    const base: Record<string, unknown> = {
      name: route.name,
      type,
      ...(type.endsWith("/subnets") ? {} : { location: input.location ?? this.ctx.location }),
      ...(input.tags ? { tags: input.tags } : {}),
      ...(input.sku ? { sku: input.sku } : {}),
      ...(input.zones ? { zones: input.zones } : {}),
    };
    const previous = (existing?.body.properties ?? {}) as Record<string, unknown>;
    switch (type) {
      case VIRTUAL_NETWORK: {
        const inline = properties.subnets;
        delete properties.subnets;
        // Listed subnets become exactly the VNet's subnets (Azure refuses to drop one in use:
        // terraform-provider-azurerm#334). An absent list keeps them, as Azure does since API 2023-11-01
        // (Learn, "Create virtual network resources by using Bicep": omitting subnets leaves them unchanged;
        // Azure Networking Blog, "Azure Virtual Network now supports updates without subnet property").
        if (inline === undefined) break;
        if (!Array.isArray(inline))
          return { error: armError(400, "InvalidRequestFormat", "subnets must be an array.") };
        subnets = [];
        for (const item of inline as Array<{ name?: unknown; properties?: Record<string, unknown> }>) {
          if (typeof item?.name !== "string" || item.name === "") {
            return {
              error: armError(400, "InvalidRequestFormat", "Cannot parse the request: every subnet needs a name."),
            };
          }
          subnets.push({ name: item.name, properties: { ...(item.properties ?? {}) } });
        }
        const wanted = new Set(subnets.map((s) => s.name.toLowerCase()));
        for (const subnet of existing ? this.subnetsOf(existing.id) : []) {
          if (wanted.has(String(subnet.body.name).toLowerCase())) continue;
          const refused = this.inUse(subnet);
          if (refused) return { error: refused };
        }
        break;
      }
      case "Microsoft.Network/publicIPAddresses":
        properties.ipAddress = previous.ipAddress ?? this.ctx.store.allocatePublicIp();
        break;
      case "Microsoft.Network/networkInterfaces": {
        const by = route.scope;
        if (properties.networkSecurityGroup) {
          const error = this.missingReference((properties.networkSecurityGroup as { id?: string }).id, by);
          if (error) return { error };
        }
        for (const config of (properties.ipConfigurations as Array<{ properties?: Record<string, { id?: string }> }>) ??
          []) {
          for (const reference of ["subnet", "publicIPAddress"]) {
            const target = config.properties?.[reference];
            if (target) {
              const error = this.missingReference(target.id, by);
              if (error) return { error };
            }
          }
        }
        properties.ipConfigurations = withChildIds(
          properties.ipConfigurations,
          this.idFor(type, route),
          "ipConfigurations",
        );
        break;
      }
      case "Microsoft.Network/networkSecurityGroups":
        properties.securityRules = withChildIds(properties.securityRules, this.idFor(type, route), "securityRules");
        break;
      case "Microsoft.ManagedIdentity/userAssignedIdentities": {
        const identity = (previous.principalId as string | undefined)
          ? { principalId: previous.principalId as string, clientId: previous.clientId as string }
          : { principalId: randomUUID(), clientId: randomUUID() };
        Object.assign(properties, identity, { tenantId: this.ctx.tenantId });
        if (!previous.principalId) {
          this.ctx.store.principals.set(identity.principalId.toLowerCase(), {
            ...identity,
            resourceId: this.idFor(type, route),
            createdAt: Date.now(),
          });
        }
        break;
      }
      case "Microsoft.Compute/virtualMachines": {
        for (const nic of (properties.networkProfile as { networkInterfaces?: Array<{ id?: string }> } | undefined)
          ?.networkInterfaces ?? []) {
          const error = this.missingReference(nic.id, route.scope);
          if (error) return { error };
        }
        const linux = (properties.osProfile as { linuxConfiguration?: LinuxConfiguration } | undefined)
          ?.linuxConfiguration;
        if (linux?.disablePasswordAuthentication && !linux.ssh?.publicKeys?.length) {
          // Compute's answer to a Linux VM with neither a password nor a key, with its target, as
          // hashicorp/terraform-provider-azurerm quotes it in linux_virtual_machine_resource.go.
          return {
            error: {
              status: 400,
              body: {
                error: {
                  code: "InvalidParameter",
                  message:
                    "Authentication using either SSH or by user name and password must be enabled in Linux profile.",
                  target: "linuxConfiguration",
                },
              },
            },
          };
        }
        const built = this.vmIdentity(route.scope, input.identity as Record<string, unknown> | undefined, existing);
        if ("error" in built) return built;
        if (built.identity) base.identity = built.identity;
        properties.vmId = previous.vmId ?? randomUUID();
        break;
      }
    }
    return { body: { ...base, properties }, subnets };
  }

  private vmIdentity(
    vmId: string,
    input: Record<string, unknown> | undefined,
    existing: StoredResource | undefined,
  ): { identity?: Record<string, unknown> } | { error: ArmReply } {
    const store = this.ctx.store;
    const type = String(input?.type ?? "None");
    const attached = store.attachedAt.get(vmId.toLowerCase()) ?? new Map<string, number>();
    const now = Date.now();
    const nextAttached = new Map<string, number>();
    if (type === "None") {
      store.attachedAt.set(vmId.toLowerCase(), nextAttached);
      return {};
    }
    const identity: Record<string, unknown> = { type };
    if (/SystemAssigned/i.test(type)) {
      const previous = existing?.body.identity as { principalId?: string } | undefined;
      const principalId = previous?.principalId ?? randomUUID();
      if (!store.principals.has(principalId.toLowerCase())) {
        store.principals.set(principalId.toLowerCase(), {
          principalId,
          clientId: randomUUID(),
          resourceId: vmId,
          createdAt: now,
        });
      }
      identity.principalId = principalId;
      identity.tenantId = this.ctx.tenantId;
      nextAttached.set(principalId.toLowerCase(), attached.get(principalId.toLowerCase()) ?? now);
    }
    if (/UserAssigned/i.test(type)) {
      const map: Record<string, unknown> = {};
      for (const id of Object.keys((input?.userAssignedIdentities as Record<string, unknown>) ?? {})) {
        const resource = store.resource(id);
        if (resource?.type !== "Microsoft.ManagedIdentity/userAssignedIdentities") {
          return {
            error: armError(
              400,
              "FailedIdentityOperation",
              `Identity operation for resource '${vmId}' failed with error 'Failed to perform resource identity operation. Status: 'NotFound'. Response: 'The user assigned identity '${id}' was not found.''.`,
            ),
          };
        }
        const props = resource.body.properties as { principalId: string; clientId: string };
        map[resource.id] = { principalId: props.principalId, clientId: props.clientId };
        nextAttached.set(props.principalId.toLowerCase(), attached.get(props.principalId.toLowerCase()) ?? now);
      }
      if (Object.keys(map).length === 0) {
        return {
          error: armError(
            400,
            "InvalidParameter",
            "The user assigned identities must be specified for identity type 'UserAssigned'.",
          ),
        };
      }
      identity.userAssignedIdentities = map;
    }
    store.attachedAt.set(vmId.toLowerCase(), nextAttached);
    return { identity };
  }
}

/** Reads a request body (bounded) and answers it through the service. */
export function armRequestHandler(service: ArmService, store: Store) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size <= 4 << 20) chunks.push(chunk);
    });
    req.on("end", async () => {
      let body: unknown;
      const text = Buffer.concat(chunks).toString("utf8");
      try {
        body = text === "" ? undefined : JSON.parse(text);
      } catch {
        const reply = armError(
          400,
          "InvalidRequestContent",
          "The request content was invalid and could not be deserialized.",
        );
        res.writeHead(reply.status, { "content-type": "application/json" }).end(JSON.stringify(reply.body));
        return;
      }
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v[0] : v]));
      let outcome: { reply: ArmReply; principalId: string | null };
      try {
        outcome = await service.handle(String(req.method), String(req.url), headers, body);
      } catch (error) {
        outcome = { reply: armError(500, "InternalServerError", (error as Error).message), principalId: null };
      }
      const { reply, principalId } = outcome;
      store.requestLog.push({
        at: Date.now(),
        service: "arm",
        method: String(req.method),
        path: String(req.url).split("?")[0],
        status: reply.status,
        principalId,
      });
      res.writeHead(reply.status, { "content-type": "application/json; charset=utf-8", ...(reply.headers ?? {}) });
      // A HEAD answer has headers only (RFC 9110 section 9.3.2).
      res.end(reply.body === undefined || req.method === "HEAD" ? "" : JSON.stringify(reply.body));
    });
  };
}
