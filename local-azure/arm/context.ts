import type { Entra } from "../entra";
import type { Faults, Store, StoredResource } from "../store";
import type { VirtualMachineModel } from "../vm/model";
import type { Deletions } from "./deletions";
import type { ArmReply } from "./errors";
import type { Operations } from "./operations";
import type { Permission } from "./rbac";
import type { Route } from "./routes";

/** What Local Azure's ARM is started with: its address, its tenant and subscription, and the cloud's state. */
export interface ArmContext {
  endpoint: string;
  subscriptionId: string;
  tenantId: string;
  location: string;
  deployerPrincipalId: string;
  faults: Faults;
  store: Store;
  entra: Entra;
  /** Entra's authority host: the login endpoint of /metadata/endpoints and of ARM's 401 challenge. */
  authorityHost?: string;
  /** Microsoft Graph's base URL, named by /metadata/endpoints. */
  graphEndpoint?: string;
  /** The VMs' model: what ARM's providers ask of a VM (its runtime is the model's, never a provider's). */
  vms: VirtualMachineModel;
  /**
   * The store changed outside a write request (a delete ending on its timer, or while a GET polls it):
   * a kept cloud is saved then, as it is after each write is answered.
   */
  onStoreChanged?: () => void;
}

/** One authenticated request that a provider matched, authorized before the provider sees it. */
export interface ArmRequest {
  method: string;
  route: Route;
  body: unknown;
  /** The caller's principal (object) ID. */
  caller: string;
  url: URL;
}

/**
 * A resource provider, as ARM routes to one: the paths it serves (`match`, tried in the router's
 * order) and its answers (`handle`).
 */
export interface ArmProvider {
  match(method: string, path: string): Route | undefined;
  handle(request: ArmRequest): Promise<ArmReply> | ArmReply;
}

/**
 * A resource provider as `/providers/{namespace}` describes it: its resource types and the API
 * versions each is served with (newest first, as Providers_Get lists them), the same list ARM checks a
 * request's api-version against (./apiVersions.ts).
 */
export interface ProviderDescription {
  namespace: string;
  resourceTypes: Array<{
    resourceType: string;
    apiVersions: readonly string[];
    /** A type with no location of its own (Microsoft.Authorization's, ARM's own): `locations: []`. */
    global?: boolean;
  }>;
}

/** What the router shares with every provider: the context, long-running operations, RBAC, and the stored resources. */
export interface ArmShared {
  ctx: ArmContext;
  operations: Operations;
  /** The permissions a principal holds at a scope now (RBAC propagation applied). */
  permissionsOf(principalId: string, scope: string): Permission[];
  /** Whether a principal holds any role at, above or below a scope now (which subscriptions it sees). */
  holdsRoleAround(principalId: string, scope: string): boolean;
  /** Whether a principal may perform an action at a scope now. */
  allowed(principalId: string, scope: string, action: string): boolean;
  /** Long-running deletes, each ended by a timer of its own (./deletions.ts). */
  deletions: Deletions;
  /** Removes a stored resource and what hangs on it (a VM's runtime, an identity's principal). */
  forget(resource: StoredResource): Promise<void>;
  /**
   * Removes resources from the store at once, then tears down what hangs on each, in order; a
   * failure is reported, never thrown (a deletion's end).
   */
  forgetAll(resources: StoredResource[]): Promise<void>;
  /** Marks a resource, and the resources deleted with it, Deleting since `since` (a long-running delete). */
  markDeleting(resource: StoredResource, since: number): void;
  /**
   * A long-running DELETE of `resource` (and the resources deleted with it): Deleting from now (unless
   * it already is), gone when its operation ends; returns the operation a client polls.
   */
  beginDelete(resource: StoredResource): string;
  /** A stored resource as ARM answers it. */
  view(resource: StoredResource): Record<string, unknown>;
}

/** Local Azure's Entra authority host, without a trailing slash. */
export function authorityHostOf(ctx: ArmContext): string {
  return (ctx.authorityHost ?? `${ctx.endpoint}/login`).replace(/\/+$/, "");
}
