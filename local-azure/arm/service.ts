import { cloudNow } from "../store";
import { apiVersionRefusal, MISSING_API_VERSION } from "./apiVersions";
import { authenticate, type Caller, unauthenticated } from "./auth";
import type { ArmContext, ArmProvider, ArmShared, ProviderDescription } from "./context";
import { Deletions } from "./deletions";
import { type ArmReply, armError } from "./errors";
import { Operations } from "./operations";
import { ProviderResources } from "./providerResources";
import { AuthorizationProvider } from "./providers/authorization";
import { computeProvider } from "./providers/compute";
import { DiscoveryProvider, MISSING_SUBSCRIPTION, metadataReply, subscriptionNotFound } from "./providers/discovery";
import { managedIdentityProvider } from "./providers/managedIdentity";
import { networkProvider } from "./providers/network";
import { ResourcesProvider } from "./providers/resources";
import { RunCommandsProvider } from "./providers/runCommands";
import { VirtualMachineActionsProvider } from "./providers/virtualMachineActions";
import { allowedByRevoked, effectivePermissions, holdsRoleAround, isAllowed, rbacPropagation } from "./rbac";
import type { Route } from "./routes";

/**
 * The request pipeline every ARM request goes through, in ARM's order: anonymous discovery, then
 * authentication (bearer token), injected faults, api-version, routing to the provider that serves
 * the path, RBAC on the route's action, and only then the provider.
 */
export class ArmService {
  private readonly providers: ArmProvider[];

  constructor(private readonly ctx: ArmContext) {
    const operations = new Operations(ctx, (key) => this.deletions.ended(key));
    this.deletions = new Deletions(
      (since) => operations.deletedAt(since),
      (error) => console.error(`Local Azure: ${error.message}`),
      () => ctx.onStoreChanged?.(),
    );
    const shared: ArmShared = {
      ctx,
      operations,
      deletions: this.deletions,
      permissionsOf: (principalId, scope) =>
        effectivePermissions(
          ctx.store.authorizingAssignments(),
          principalId,
          scope,
          cloudNow(ctx.faults),
          rbacPropagation(ctx.faults),
        ),
      holdsRoleAround: (principalId, scope) =>
        holdsRoleAround(
          ctx.store.authorizingAssignments(),
          principalId,
          scope,
          cloudNow(ctx.faults),
          rbacPropagation(ctx.faults),
        ),
      allowed: (principalId, scope, action) => isAllowed(shared.permissionsOf(principalId, scope), action),
      forget: (resource) => resources.forget(resource),
      forgetAll: (list) => resources.forgetAll(list),
      markDeleting: (resource, since) => resources.markDeleting(resource, since),
      beginDelete: (resource) => resources.beginDelete(resource),
      view: (resource) => resources.view(resource),
    };
    const resources = new ProviderResources(shared, [
      networkProvider(shared),
      computeProvider(shared),
      managedIdentityProvider(shared),
    ]);
    const authorization = new AuthorizationProvider(shared);
    const resourceGroups = new ResourcesProvider(shared);
    this.catalog = () => [resourceGroups.describe(), authorization.describe(), ...resources.describe()];
    const discovery = new DiscoveryProvider(shared, this.catalog);
    this.resumeDeletions = () => {
      resourceGroups.resumeDeletions();
      for (const resource of [...ctx.store.resources.values()])
        if (!this.deletions.covers(resource.id.toLowerCase())) resources.resumeDelete(resource);
    };
    // Tried in this order: Authorization's paths sit under any scope, so they are matched first;
    // discovery's `/subscriptions/{id}/providers/{namespace}/register` before the generic
    // `/providers/{namespace}/…` paths, which come last; a VM's run commands and actions before them.
    this.providers = [
      authorization,
      shared.operations,
      discovery,
      resourceGroups,
      new RunCommandsProvider(shared),
      new VirtualMachineActionsProvider(shared),
      resources,
    ];
    this.shared = shared;
  }

  private readonly shared: ArmShared;
  /** Every provider's namespace and types with their api-versions: what `/providers` shows and requests are checked against. */
  private readonly catalog: () => ProviderDescription[];
  private readonly deletions: Deletions;
  /**
   * A kept cloud came back: each delete that was running when Local Azure stopped ends when its
   * operation would have (at once, if that time has passed). Called once the VMs are back.
   */
  readonly resumeDeletions: () => void;

  /** The faults changed (a test stretches or ends a delete): each pending delete's end is read again. */
  faultsChanged(): void {
    this.deletions.faultsChanged();
  }

  /** Local Azure stops: no pending delete ends from now on, and those ending are awaited. */
  stop(): Promise<void> {
    return this.deletions.stop();
  }

  /** The region that answers (ARM names it in x-ms-routing-request-id): the cloud's location. */
  get region(): string {
    return this.ctx.location;
  }

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
    const anonymous = metadataReply(this.ctx, method, path, url);
    if (anonymous) return { reply: anonymous, principalId: null };
    const authenticated = await authenticate(this.ctx, headers.authorization);
    if (!authenticated.ok) return { reply: authenticated.reply, principalId: null };
    const caller = authenticated.caller;
    const fault = this.injectedFault(caller);
    if (fault) return { reply: fault, principalId: caller.oid };
    const version = url.searchParams.get("api-version");
    if (!version) return { reply: MISSING_API_VERSION, principalId: caller.oid };
    const matched = this.match(method, path);
    const outside = this.outsideSubscription(matched?.route.scope ?? path);
    if (!matched || outside) {
      return {
        reply: outside ?? armError(404, "NotFound", `No route for ${method} ${path}.`),
        principalId: caller.oid,
      };
    }
    const { provider, route } = matched;
    const unserved = this.unservedVersion(method, route, version, body);
    if (unserved) return { reply: unserved, principalId: caller.oid };
    // Operation polls carry their own unguessable ID; a subscription-scope list is filtered item by item.
    if (route.action !== "" && !route.filtered && !this.authorized(caller.oid, route.scope, route.action)) {
      return {
        reply: armError(
          403,
          "AuthorizationFailed",
          `The client '${caller.appid}' with object id '${caller.oid}' does not have authorization to perform action '${route.action}' over scope '${route.target ?? route.scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
        ),
        principalId: caller.oid,
      };
    }
    return { reply: await provider.handle({ method, route, body, caller: caller.oid, url }), principalId: caller.oid };
  }

  /**
   * RBAC's answer for the route; while a revocation lags (faults.revocationLag), what only a deleted
   * assignment grants is still allowed, one request fewer each time.
   */
  private authorized(principalId: string, scope: string, action: string): boolean {
    if (this.shared.allowed(principalId, scope, action)) return true;
    const lag = this.ctx.faults.revocationLag;
    if (lag.count <= 0) return false;
    if (!allowedByRevoked(this.ctx.store.revokedAssignments, principalId, scope, action)) return false;
    lag.count--;
    return true;
  }

  /**
   * ARM's refusal when no provider serves the route's type at `version` (./apiVersions.ts); undefined
   * when one does. An operation poll carries its own version; a POST to `{resource}/{action}` (a VM's
   * restart, its runCommand) is served by the resource's type, whatever route a provider gives it.
   */
  private unservedVersion(method: string, route: Route, version: string, body: unknown): ArmReply | undefined {
    if (!route.type) return undefined;
    const parent = route.type.split("/").slice(0, -1).join("/");
    const known = (type: string) =>
      this.catalog().some((p) =>
        p.resourceTypes.some((t) => `${p.namespace}/${t.resourceType}`.toLowerCase() === type.toLowerCase()),
      );
    const action = method === "POST" && parent.includes("/") && !known(route.type) && known(parent);
    return apiVersionRefusal(this.catalog(), {
      type: action ? parent : route.type,
      version,
      location: this.locationOf(route, body),
      locations: [this.ctx.location],
    });
  }

  /** Where the route's resource lives, as ARM routes it: the location a PUT names, the resource's, its parent's or its group's. */
  private locationOf(route: Route, body: unknown): string {
    const store = this.ctx.store;
    const named = (body as { location?: unknown } | null)?.location;
    const found =
      (typeof named === "string" ? named : undefined) ??
      [route.kind === "resource" ? route.scope : undefined, route.parentId]
        .map((id) => (id ? store.resource(id)?.body.location : undefined))
        .find((location): location is string => typeof location === "string") ??
      (route.resourceGroup ? store.resourceGroups.get(route.resourceGroup.toLowerCase())?.location : undefined) ??
      this.ctx.location;
    return found.replace(/\s+/g, "").toLowerCase();
  }

  private match(method: string, path: string): { provider: ArmProvider; route: Route } | undefined {
    for (const provider of this.providers) {
      const route = provider.match(method, path);
      if (route) return { provider, route };
    }
    return undefined;
  }

  /**
   * ARM's 404 for a scope outside Local Azure's subscription: SubscriptionNotFound under another
   * subscription, MissingSubscription outside any (unless it is a tenant-level route, scope "/").
   */
  private outsideSubscription(scope: string): ArmReply | undefined {
    if (scope === "/") return undefined;
    const subscription = /^\/subscriptions\/([^/]+)/i.exec(scope)?.[1];
    if (!subscription) return MISSING_SUBSCRIPTION;
    return subscription.toLowerCase() === this.ctx.subscriptionId.toLowerCase()
      ? undefined
      : subscriptionNotFound(subscription);
  }

  /** The faults a test injected for managed-identity callers: a 401 or a 429 for the next N requests. */
  private injectedFault(caller: Caller): ArmReply | undefined {
    if (caller.oid === this.ctx.deployerPrincipalId) return undefined;
    const faults = this.ctx.faults;
    if (faults.armUnauthorized.count > 0) {
      faults.armUnauthorized.count--;
      return unauthenticated(this.ctx, "InvalidAuthenticationToken", "The access token is invalid.");
    }
    if (faults.armThrottle.count > 0) {
      faults.armThrottle.count--;
      return armError(429, "TooManyRequests", "The request is being throttled.", {
        "retry-after": String(faults.armThrottle.retryAfterSeconds),
      });
    }
    return undefined;
  }
}
