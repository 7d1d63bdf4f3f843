import type { StoredResource } from "../store";
import type { ArmProvider, ArmRequest, ArmShared, ProviderDescription } from "./context";
import {
  type ArmReply,
  armError,
  listReply,
  resourceGroupBeingDeleted,
  resourceGroupNotFound,
  resourceNotFound,
} from "./errors";
import { isWithinScope } from "./rbac";
import { type Route, verbOf } from "./routes";

/**
 * The resources a namespace provider holds (`…/providers/{namespace}/{type}/{name}[/{child}/{name}]`):
 * ARM's common life cycle (PUT creates or replaces, PATCH merges, GET, HEAD, DELETE, lists, long-running
 * answers) kept here once, as moto keeps its BaseBackend; what is particular to a type (what it
 * computes, validates, shows, refuses to delete, and what hangs on it) lives in its provider's
 * module (./providers/*.ts) as a ResourceType.
 */

/** A PUT or PATCH on its way into the store. */
export interface Draft {
  route: Route;
  /** The request body (PATCH: already merged onto the stored resource). */
  input: Record<string, unknown>;
  existing: StoredResource | undefined;
  /** The resource's top level as it will be stored (name, type, location, tags, sku, zones); a type may add members. */
  base: Record<string, unknown>;
  /** The properties as asked for; a type fills in what Azure computes. */
  properties: Record<string, unknown>;
  /** The properties stored before this request ({} on create). */
  previous: Record<string, unknown>;
  /** The ID ARM gives the resource. */
  id: string;
}

/** A refusal, or what to do once the resource is stored. */
export type BuildResult = { error: ArmReply } | { stored?: (resource: StoredResource) => Promise<void> | void };

export interface ResourceType {
  /** The full type as ARM spells it, e.g. Microsoft.Network/virtualNetworks/subnets. */
  type: string;
  /**
   * The REST API versions ARM serves the type with here, newest first: those its clients here send
   * (azure-native 3.28, the Azure CLI 2.91, the @azure/arm-* majors the tests pin and the newest). A
   * request at another version is refused as ARM refuses it (./apiVersions.ts); `/providers` lists these.
   */
  apiVersions: readonly string[];
  /** A nested type (a VNet's subnets) carries no location of its own. */
  nested?: boolean;
  /** The ID ARM gives a resource at `path` (default: the path with "resourceGroups" spelled so). */
  idFor?(path: string): string;
  build?(draft: Draft): BuildResult;
  /** Adjusts the properties ARM answers (provisioningState already set). */
  view?(resource: StoredResource, properties: Record<string, unknown>): void;
  /** Resources deleted with this one (a VNet's subnets). */
  children?(resource: StoredResource): StoredResource[];
  /** Why this resource cannot be deleted now, if it cannot. */
  refuseDelete?(resource: StoredResource): ArmReply | undefined;
  /** Called once the resource has left the store. */
  forget?(resource: StoredResource): Promise<void> | void;
}

/** A resource provider's namespace and its types. */
export interface ResourceNamespace {
  namespace: string;
  /** Whether its PUT and DELETE are long-running (201/202 with Azure-AsyncOperation), as Network's and Compute's are. */
  longRunning: boolean;
  types: ResourceType[];
  /**
   * The provider's refusal of a write (PUT, PATCH) on `resource` while it is Deleting (or into it, a
   * child of it): each provider words its own 409.
   */
  beingDeleted?(resource: StoredResource): ArmReply;
}

/** A resource referenced by ID that does not exist: the Network and Compute providers' 400. */
export function missingReference(shared: ArmShared, id: unknown, by: string): ArmReply | undefined {
  if (typeof id !== "string" || !shared.ctx.store.resource(id)) {
    return armError(
      400,
      "InvalidResourceReference",
      `Resource ${String(id)} referenced by resource ${by} was not found. Please make sure that the referenced resource exists, and that both resources are in the same region.`,
    );
  }
  return undefined;
}

/** `/subscriptions/{s}/resourceGroups/{rg}` of a path inside a resource group. */
export function rgScope(path: string): string {
  return /^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+/i.exec(path)?.[0] ?? path;
}

const lower = (s: string) => s.toLowerCase();

export class ProviderResources implements ArmProvider {
  constructor(
    private readonly shared: ArmShared,
    private readonly namespaces: ResourceNamespace[],
  ) {}

  /** What `/providers/{namespace}` shows for each namespace held here. */
  describe(): ProviderDescription[] {
    return this.namespaces.map(({ namespace, types }) => ({
      namespace,
      resourceTypes: types.map((t) => ({
        resourceType: t.type.slice(namespace.length + 1),
        apiVersions: t.apiVersions,
      })),
    }));
  }

  match(method: string, path: string): Route | undefined {
    const match = /^(\/subscriptions\/[^/]+)(?:\/resourceGroups\/([^/]+))?\/providers\/([^/]+)\/(.+)$/i.exec(path);
    if (!match) return undefined;
    const [, subscription, resourceGroup, namespace, rest] = match;
    const segments = rest.split("/");
    // `{type}[/{name}[/{childType}[/{childName}]]]` under one namespace: a collection when the count is odd.
    if (segments.length > 4 || segments.some((s) => s === "")) return undefined;
    const typeSegments = segments.filter((_, i) => i % 2 === 0);
    const type = [namespace, ...typeSegments].join("/");
    const action = `${type}/${verbOf(method)}`;
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
    return {
      kind: "resource",
      scope: path,
      resourceGroup,
      type,
      name: segments[segments.length - 1],
      parentId,
      action,
    };
  }

  async handle(request: ArmRequest): Promise<ArmReply> {
    return request.route.kind === "resourceList" ? this.list(request) : this.resource(request);
  }

  /** A stored resource as ARM answers it: provisioningState from its operation, then its type's view. */
  view(resource: StoredResource): Record<string, unknown> {
    const now = Date.now();
    const properties = { ...((resource.body.properties as Record<string, unknown>) ?? {}) };
    properties.provisioningState =
      resource.deletingSince !== undefined
        ? "Deleting"
        : now < resource.readyAt
          ? resource.created
            ? "Creating"
            : "Updating"
          : "Succeeded";
    this.typeOf(resource.type)?.view?.(resource, properties);
    return { ...resource.body, properties };
  }

  /** Removes a resource and what hangs on it. */
  async forget(resource: StoredResource): Promise<void> {
    this.shared.ctx.store.resources.delete(resource.id.toLowerCase());
    await this.typeOf(resource.type)?.forget?.(resource);
  }

  /**
   * A deletion's end: the resources still stored leave the store at once (a poller that sees its
   * operation Succeeded then gets 404, as on Azure), then what hangs on each is torn down, in order
   * (a VM's guest before its run commands' records).
   */
  async forgetAll(resources: StoredResource[]): Promise<void> {
    const store = this.shared.ctx.store;
    const leaving = resources.filter((resource) => store.resource(resource.id) === resource);
    for (const resource of leaving) store.resources.delete(resource.id.toLowerCase());
    for (const resource of leaving) {
      try {
        await this.typeOf(resource.type)?.forget?.(resource);
      } catch (error) {
        console.error(`Local Azure: deleting ${resource.id} failed: ${(error as Error).message}`);
      }
    }
  }

  /** Marks a resource (and the resources deleted with it) Deleting since `since`, unless it already is. */
  markDeleting(resource: StoredResource, since: number): void {
    for (const part of this.deletedWith(resource)) part.deletingSince = part.deletingSince ?? since;
  }

  /** See ArmShared.beginDelete. */
  beginDelete(resource: StoredResource): string {
    if (resource.deletingSince === undefined) {
      const since = Date.now();
      const parts = this.deletedWith(resource);
      this.markDeleting(resource, since);
      this.shared.deletions.begin(
        parts.map((part) => part.id.toLowerCase()),
        since,
        () => this.forgetAll(parts),
      );
    }
    return this.shared.operations.createDelete(resource.deletingSince ?? Date.now(), resource.id.toLowerCase());
  }

  /** A kept cloud came back: a resource that was Deleting ends when its operation would have. */
  resumeDelete(resource: StoredResource): void {
    if (resource.deletingSince === undefined) return;
    this.shared.deletions.begin([resource.id.toLowerCase()], resource.deletingSince, () => this.forgetAll([resource]));
  }

  /** The resource and those deleted with it (a VNet's subnets, a VM's run commands). */
  private deletedWith(resource: StoredResource): StoredResource[] {
    return [resource, ...(this.typeOf(resource.type)?.children?.(resource) ?? [])];
  }

  private typeOf(type: string): ResourceType | undefined {
    for (const namespace of this.namespaces) {
      const found = namespace.types.find((t) => lower(t.type) === lower(type));
      if (found) return found;
    }
    return undefined;
  }

  private beingDeleted(resource: StoredResource): ArmReply {
    const namespace = lower(resource.type.split("/")[0]);
    const refuse = this.namespaces.find((n) => lower(n.namespace) === namespace)?.beingDeleted;
    return (
      refuse?.(resource) ??
      armError(409, "Conflict", `The resource '${resource.id}' is being deleted: retry once its deletion has ended.`)
    );
  }

  private longRunning(type: string): boolean {
    const namespace = lower(type.split("/")[0]);
    return this.namespaces.some((n) => n.longRunning && lower(n.namespace) === namespace);
  }

  private idFor(type: string, route: Route): string {
    return this.typeOf(type)?.idFor?.(route.scope) ?? route.scope.replace(/\/resourceGroups\//i, "/resourceGroups/");
  }

  /** Resources of `route.type` in scope: under the parent, in the resource group, or (filtered) in the subscription. */
  private list({ method, route, caller }: ArmRequest): ArmReply {
    const store = this.shared.ctx.store;
    if (route.resourceGroup && !store.resourceGroups.has(route.resourceGroup.toLowerCase()))
      return resourceGroupNotFound(route.resourceGroup);
    const parent = route.parentId ? store.resource(route.parentId) : undefined;
    if (route.parentId && !parent) {
      const [namespace, type, name] = route.parentId.split(/\/providers\//i)[1].split("/");
      return resourceNotFound(`${namespace}/${type}`, name, String(route.resourceGroup));
    }
    const type = lower(String(route.type));
    const container = route.parentId ?? (route.resourceGroup ? rgScope(route.scope) : route.scope);
    return listReply(
      method,
      [...store.resources.values()]
        .filter((r) => lower(r.type) === type && isWithinScope(r.id, container))
        .filter((r) => !route.filtered || this.shared.allowed(caller, r.id, route.action))
        .map((r) => this.view(r)),
    );
  }

  private async resource({ method, route, body }: ArmRequest): Promise<ArmReply> {
    const { store, faults } = this.shared.ctx;
    const operations = this.shared.operations;
    const definition = this.typeOf(String(route.type));
    const type = definition?.type ?? String(route.type);
    const existing = store.resource(route.scope);
    const notFound = () => resourceNotFound(type, String(route.name), String(route.resourceGroup));
    if (!store.resourceGroups.has(String(route.resourceGroup).toLowerCase())) {
      return method === "HEAD" ? { status: 404 } : resourceGroupNotFound(route.resourceGroup);
    }
    // resources.checkExistenceById: 204 or 404 (Resources_CheckExistenceById in the REST spec).
    if (method === "HEAD") return { status: existing ? 204 : 404 };
    if (method === "GET") return existing ? { status: 200, body: this.view(existing) } : notFound();
    const longRunning = this.longRunning(type);
    const group = store.resourceGroups.get(String(route.resourceGroup).toLowerCase());
    if (method === "DELETE") {
      if (!existing) return { status: 204 };
      const children = definition?.children?.(existing) ?? [];
      if (existing.deletingSince === undefined) {
        for (const part of [existing, ...children]) {
          const refused = this.typeOf(part.type)?.refuseDelete?.(part);
          if (refused) return refused;
        }
      }
      if (!longRunning) {
        for (const child of children) await this.forget(child);
        await this.forget(existing);
        return { status: 200 };
      }
      // Network and Compute deletes: 202 with Azure-AsyncOperation and Location (their REST specs'
      // x-ms-long-running-operation). The resource reads back Deleting until the operation ends, then
      // 404 (./deletions.ts); a DELETE meanwhile answers the same operation's end.
      const operation = this.beginDelete(existing);
      return { status: 202, headers: operations.accepted(operation, { asyncOperation: true, location: true }) };
    }
    if (method !== "PUT" && method !== "PATCH") return armError(405, "MethodNotAllowed", `${method} is not supported.`);
    if (group?.deletingSince !== undefined) return resourceGroupBeingDeleted(group.name);
    // A write onto a resource being deleted (or into one: a VNet's new subnet) would take it back from
    // its delete: the provider refuses it, and the delete goes on.
    const deleting = [existing, route.parentId ? store.resource(route.parentId) : undefined].find(
      (resource) => resource?.deletingSince !== undefined,
    );
    if (deleting) return this.beingDeleted(deleting);
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
    const draft: Draft = {
      route,
      input,
      existing,
      base: {
        name: route.name,
        type,
        ...(definition?.nested ? {} : { location: input.location ?? this.shared.ctx.location }),
        ...(input.tags ? { tags: input.tags } : {}),
        ...(input.sku ? { sku: input.sku } : {}),
        ...(input.zones ? { zones: input.zones } : {}),
      },
      properties: { ...((input.properties as Record<string, unknown>) ?? {}) },
      previous: (existing?.body.properties ?? {}) as Record<string, unknown>,
      id: this.idFor(type, route),
    };
    const built = definition?.build?.(draft) ?? {};
    if ("error" in built) return built.error;
    const resource: StoredResource = {
      id: existing?.id ?? draft.id,
      type,
      body: { ...draft.base, properties: draft.properties },
      readyAt: longRunning ? Date.now() + faults.lroSeconds * 1000 : 0,
      created: !existing,
    };
    resource.body.id = resource.id;
    store.resources.set(route.scope.toLowerCase(), resource);
    await built.stored?.(resource);
    const status = existing ? 200 : 201;
    if (!longRunning) return { status, body: this.view(resource) };
    const operation = operations.create(resource.readyAt);
    return { status, headers: operations.accepted(operation, { asyncOperation: true }), body: this.view(resource) };
  }
}
