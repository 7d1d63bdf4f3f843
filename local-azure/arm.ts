import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
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
  onVmChanged(vmId: string): Promise<void>;
  onVmDeleted(vmId: string): Promise<void>;
}

const armError = (status: number, code: string, message: string, headers?: Record<string, string>): ArmReply => ({
  status,
  headers,
  body: { error: { code, message } },
});

// Resource types whose PUT is long-running in ARM (201 + Azure-AsyncOperation).
const LONG_RUNNING = /^Microsoft\.(Network|Compute)\//i;

interface Route {
  kind: "resourceGroup" | "resource" | "roleAssignment" | "roleDefinitions" | "permissions" | "operation";
  scope: string;
  action: string;
  resourceGroup?: string;
  type?: string;
  name?: string;
  parentId?: string;
}

/** Which ARM operation a path names, and the RBAC action it needs. */
export function routeOf(method: string, path: string): Route | undefined {
  const verb = method === "GET" ? "read" : method === "DELETE" ? "delete" : "write";
  let match = /^(.*)\/providers\/Microsoft\.Authorization\/roleAssignments\/([^/]+)$/i.exec(path);
  if (match)
    return {
      kind: "roleAssignment",
      scope: match[1],
      name: match[2],
      action: `Microsoft.Authorization/roleAssignments/${verb}`,
    };
  match = /^(.*)\/providers\/Microsoft\.Authorization\/permissions$/i.exec(path);
  if (match) return { kind: "permissions", scope: match[1], action: "Microsoft.Authorization/permissions/read" };
  match = /^(\/subscriptions\/[^/]+)\/providers\/Microsoft\.Authorization\/roleDefinitions(?:\/([^/]+))?$/i.exec(path);
  if (match)
    return {
      kind: "roleDefinitions",
      scope: match[1],
      name: match[2],
      action: "Microsoft.Authorization/roleDefinitions/read",
    };
  match = /^\/subscriptions\/[^/]+\/providers\/Microsoft\.Resources\/operationStatuses\/([^/]+)$/i.exec(path);
  if (match) return { kind: "operation", scope: path, name: match[1], action: "" };
  match = /^\/subscriptions\/[^/]+\/resourceGroups\/([^/]+)$/i.exec(path);
  if (match)
    return {
      kind: "resourceGroup",
      scope: path,
      resourceGroup: match[1],
      action: `Microsoft.Resources/subscriptions/resourceGroups/${verb}`,
    };
  match =
    /^(\/subscriptions\/[^/]+\/resourceGroups\/([^/]+))\/providers\/([^/]+)\/([^/]+)\/([^/]+)(?:\/([^/]+)\/([^/]+))?$/i.exec(
      path,
    );
  if (match) {
    const [, , resourceGroup, namespace, type, name, childType, childName] = match;
    const fullType = childType ? `${namespace}/${type}/${childType}` : `${namespace}/${type}`;
    return {
      kind: "resource",
      scope: path,
      resourceGroup,
      type: fullType,
      name: childName ?? name,
      parentId: childType ? path.slice(0, path.length - childType.length - childName.length - 2) : undefined,
      action: `${fullType}/${verb}`,
    };
  }
  return undefined;
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
    const url = new URL(rawUrl, this.ctx.endpoint);
    const path = url.pathname.replace(/\/+$/, "");
    if (path.toLowerCase() === "/metadata/endpoints")
      return { reply: { status: 200, body: this.metadataEndpoints() }, principalId: null };
    const authorization = headers.authorization;
    if (!authorization?.startsWith("Bearer ")) {
      return {
        reply: armError(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing."),
        principalId: null,
      };
    }
    const verdict = await this.ctx.entra.verify(authorization.slice(7), [this.ctx.endpoint, `${this.ctx.endpoint}/`]);
    if (!verdict.ok) return { reply: armError(401, verdict.code, verdict.message), principalId: null };
    const caller = verdict.token;
    const isManagedIdentity = caller.oid !== this.ctx.deployerPrincipalId;
    const faults = this.ctx.faults;
    if (isManagedIdentity && faults.armUnauthorized.count > 0) {
      faults.armUnauthorized.count--;
      return {
        reply: armError(401, "InvalidAuthenticationToken", "The access token is invalid."),
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
    if (route.kind !== "operation") {
      const permissions = effectivePermissions(
        [...this.ctx.store.roleAssignments.values()],
        caller.oid,
        route.scope,
        Date.now(),
        this.propagationMs(),
      );
      if (!isAllowed(permissions, route.action)) {
        return {
          reply: armError(
            403,
            "AuthorizationFailed",
            `The client '${caller.appid}' with object id '${caller.oid}' does not have authorization to perform action '${route.action}' over scope '${route.scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
          ),
          principalId: caller.oid,
        };
      }
    }
    return { reply: await this.route(method, route, body, caller.oid, url), principalId: caller.oid };
  }

  private propagationMs(): number {
    return this.ctx.faults.rbacDelaySeconds * 1000;
  }

  private metadataEndpoints() {
    return {
      name: "LocalAzure",
      resourceManager: `${this.ctx.endpoint}/`,
      authentication: {
        loginEndpoint: `${this.ctx.endpoint}/login`,
        audiences: [`${this.ctx.endpoint}/`],
        tenant: this.ctx.tenantId,
      },
    };
  }

  private async route(method: string, route: Route, body: unknown, caller: string, url: URL): Promise<ArmReply> {
    switch (route.kind) {
      case "operation": {
        const operation = this.ctx.store.operations.get(route.name ?? "");
        if (!operation) return armError(404, "NotFound", "The operation was not found.");
        return { status: 200, body: { status: Date.now() >= operation.readyAt ? "Succeeded" : "InProgress" } };
      }
      case "permissions":
        return {
          status: 200,
          body: {
            value: effectivePermissions(
              [...this.ctx.store.roleAssignments.values()],
              caller,
              route.scope,
              Date.now(),
              this.propagationMs(),
            ),
          },
        };
      case "roleDefinitions":
        return this.roleDefinitions(route, url);
      case "roleAssignment":
        return this.roleAssignment(method, route, body);
      case "resourceGroup":
        return this.resourceGroup(method, route, body);
      case "resource":
        return this.resource(method, route, body);
    }
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

  private resourceGroup(method: string, route: Route, body: unknown): ArmReply {
    const store = this.ctx.store;
    const key = String(route.resourceGroup).toLowerCase();
    const existing = store.resourceGroups.get(key);
    const notFound = () =>
      armError(404, "ResourceGroupNotFound", `Resource group '${route.resourceGroup}' could not be found.`);
    const view = (rg: { id: string; name: string; location: string; tags?: unknown }) => ({
      id: rg.id,
      name: rg.name,
      type: "Microsoft.Resources/resourceGroups",
      location: rg.location,
      ...(rg.tags ? { tags: rg.tags } : {}),
      properties: { provisioningState: "Succeeded" },
    });
    if (method === "GET") return existing ? { status: 200, body: view(existing) } : notFound();
    if (method === "PUT" || method === "PATCH") {
      const input = (body ?? {}) as { location?: string; tags?: unknown };
      if (!existing && method === "PATCH") return notFound();
      if (!existing && !input.location) {
        return armError(400, "LocationRequired", "The location property is required for this definition.");
      }
      const rg = {
        id: existing?.id ?? route.scope.replace(/\/resourceGroups\//i, "/resourceGroups/"),
        name: existing?.name ?? String(route.resourceGroup),
        location: existing?.location ?? String(input.location),
        tags: input.tags ?? existing?.tags,
      };
      store.resourceGroups.set(key, rg);
      return { status: existing ? 200 : 201, body: view(rg) };
    }
    if (method === "DELETE") {
      if (!existing) return notFound();
      store.resourceGroups.delete(key);
      const prefix = `${existing.id.toLowerCase()}/`;
      for (const [id, resource] of store.resources) {
        if (id.startsWith(prefix)) {
          store.resources.delete(id);
          if (resource.type === "Microsoft.Compute/virtualMachines") void this.ctx.onVmDeleted(resource.id);
          if (resource.type === "Microsoft.ManagedIdentity/userAssignedIdentities") {
            store.principals.delete(
              String((resource.body.properties as { principalId: string }).principalId).toLowerCase(),
            );
          }
        }
      }
      for (const [id, assignment] of store.roleAssignments)
        if (isWithinScope(assignment.scope, existing.id)) store.roleAssignments.delete(id);
      return { status: 202, headers: { location: this.newOperationUrl() } };
    }
    return armError(405, "MethodNotAllowed", `${method} is not supported on resource groups.`);
  }

  private newOperationUrl(): string {
    const id = randomUUID();
    this.ctx.store.operations.set(id, { readyAt: Date.now() + this.ctx.faults.lroSeconds * 1000 });
    return `${this.ctx.endpoint}/subscriptions/${this.ctx.subscriptionId}/providers/Microsoft.Resources/operationStatuses/${id}?api-version=2020-01-01`;
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
    return { ...resource.body, properties };
  }

  private async resource(method: string, route: Route, body: unknown): Promise<ArmReply> {
    const store = this.ctx.store;
    const type = canonicalTypeName(String(route.type));
    const existing = store.resource(route.scope);
    const notFound = () =>
      armError(
        404,
        "ResourceNotFound",
        `The Resource '${type}/${route.name}' under resource group '${route.resourceGroup}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
      );
    if (!store.resourceGroups.has(String(route.resourceGroup).toLowerCase())) {
      return armError(404, "ResourceGroupNotFound", `Resource group '${route.resourceGroup}' could not be found.`);
    }
    if (method === "GET") return existing ? { status: 200, body: this.view(existing) } : notFound();
    if (method === "DELETE") {
      if (!existing) return { status: 204 };
      store.resources.delete(route.scope.toLowerCase());
      if (type === "Microsoft.Compute/virtualMachines") await this.ctx.onVmDeleted(existing.id);
      if (type === "Microsoft.ManagedIdentity/userAssignedIdentities") {
        store.principals.delete(
          String((existing.body.properties as { principalId: string }).principalId).toLowerCase(),
        );
      }
      return { status: 200 };
    }
    if (method !== "PUT" && method !== "PATCH") return armError(405, "MethodNotAllowed", `${method} is not supported.`);
    if (method === "PATCH" && !existing) return notFound();
    const input = (method === "PATCH" ? { ...existing?.body, ...(body as object) } : (body ?? {})) as Record<
      string,
      unknown
    >;
    if (route.parentId && !store.resource(route.parentId)) {
      return armError(
        404,
        "ParentResourceNotFound",
        `Can not perform requested operation on nested resource. Parent resource '${route.parentId.split("/").pop()}' not found.`,
      );
    }
    const built = this.build(type, route, input, existing);
    if ("error" in built) return built.error;
    const longRunning = LONG_RUNNING.test(type);
    const resource: StoredResource = {
      id: existing?.id ?? this.idFor(type, route),
      type,
      body: built.body,
      readyAt: longRunning ? Date.now() + this.ctx.faults.lroSeconds * 1000 : 0,
      created: !existing,
    };
    resource.body.id = resource.id;
    store.resources.set(route.scope.toLowerCase(), resource);
    if (type === "Microsoft.Compute/virtualMachines") await this.ctx.onVmChanged(resource.id);
    const status = existing ? 200 : 201;
    if (!longRunning) return { status, body: this.view(resource) };
    const operation = this.newOperationUrl();
    const operationId = operation.split("/operationStatuses/")[1].split("?")[0];
    store.operations.set(operationId, { readyAt: resource.readyAt });
    return { status, headers: { "azure-asyncoperation": operation }, body: this.view(resource) };
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
  ): { body: Record<string, unknown> } | { error: ArmReply } {
    const properties = { ...((input.properties as Record<string, unknown>) ?? {}) };
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
        break;
      }
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
        const built = this.vmIdentity(route.scope, input.identity as Record<string, unknown> | undefined, existing);
        if ("error" in built) return built;
        if (built.identity) base.identity = built.identity;
        properties.vmId = previous.vmId ?? randomUUID();
        break;
      }
    }
    return { body: { ...base, properties } };
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
      res.end(reply.body === undefined ? "" : JSON.stringify(reply.body));
    });
  };
}
