import { armAudiences } from "../../audiences";
import { invalidApiVersion, MISSING_API_VERSION } from "../apiVersions";
import type { ProviderDescription } from "../context";
import { type ArmContext, type ArmProvider, type ArmRequest, type ArmShared, authorityHostOf } from "../context";
import { type ArmReply, armError } from "../errors";
import { type Route, verbOf } from "../routes";

/**
 * The routes a client reads to find its way around a cloud, as Azure answers them:
 *
 * - `/metadata/endpoints` (anonymous): the cloud's endpoints, the document `az cloud register` and
 *   hashicorp/go-azure-sdk's `environments.FromEndpoint` read;
 * - `/subscriptions`, `/subscriptions/{id}`, `/subscriptions/{id}/locations`, `/tenants`
 *   (azure-rest-api-specs specification/resources/resource-manager/Microsoft.Resources/stable/2022-12-01/subscriptions.json);
 * - `/providers[/{namespace}]` at tenant and subscription scope, and `…/providers/{namespace}/register`
 *   (the same folder's resources.json: Providers_*), listing the providers Local Azure serves.
 */

/**
 * The api-versions of /metadata/endpoints Azure serves, newest first, and the document each returns:
 * one cloud in 2022-09-01 (hashicorp/go-azure-sdk `environments.FromEndpoint`, the Azure CLI's `az
 * cloud register`); an array of clouds in 2020-06-01 and 2019-05-01 (hashicorp/go-azure-helpers,
 * msrestazure, the Azure CLI's ARM_CLOUD_METADATA_URL); in 2018-01-01 the first document with the
 * clouds' hosts and locations under `cloudEndpoint` (what hashicorp/terraform-provider-azurerm's
 * location package reads at that version); in 2015-01-01 and 1.0 the first document alone
 * (`galleryEndpoint`, `graphEndpoint`, `portalEndpoint`, `authentication`: what Azure/go-autorest's
 * `EnvironmentFromURL` and Azure Stack Hub's documented `Add-AzEnvironment` recipes read).
 */
export const METADATA_API_VERSIONS = [
  "2022-09-01",
  "2020-06-01",
  "2019-05-01",
  "2018-01-01",
  "2015-01-01",
  "1.0",
] as const;

/**
 * What the public cloud answers for the services Local Azure does not emulate (as hashicorp/go-azure-sdk's
 * and pulumi-azure-native's metadata tests record management.azure.com's document): a client composing a
 * storage or Key Vault address gets the public cloud's, as it would on Azure.
 */
const PUBLIC = {
  portal: "https://portal.azure.com",
  media: "https://rest.media.azure.net",
  batch: "https://batch.core.windows.net/",
  vmImageAliasDoc:
    "https://raw.githubusercontent.com/Azure/azure-rest-api-specs/master/arm-compute/quickstart-templates/aliases.json",
  activeDirectoryDataLake: "https://datalake.azure.net/",
  sqlManagement: "https://management.core.windows.net:8443/",
  gallery: "https://gallery.azure.com/",
  appInsightsResourceId: "https://api.applicationinsights.io",
  appInsightsTelemetryChannelResourceId: "https://dc.applicationinsights.azure.com/v2/track",
  attestationResourceId: "https://attest.azure.net",
  synapseAnalyticsResourceId: "https://dev.azuresynapse.net",
  logAnalyticsResourceId: "https://api.loganalytics.io",
  ossrDbmsResourceId: "https://ossrdbms-aad.database.windows.net",
};

/** The suffixes of the 2019-05-01 document; 2022-09-01 adds the ones after azureFrontDoorEndpointSuffix. */
const SUFFIXES_2019 = {
  azureDataLakeStoreFileSystem: "azuredatalakestore.net",
  acrLoginServer: "azurecr.io",
  sqlServerHostname: "database.windows.net",
  azureDataLakeAnalyticsCatalogAndJob: "azuredatalakeanalytics.net",
  keyVaultDns: "vault.azure.net",
  storage: "core.windows.net",
  azureFrontDoorEndpointSuffix: "azurefd.net",
};
const SUFFIXES_2022 = {
  ...SUFFIXES_2019,
  storageSyncEndpointSuffix: "afs.azure.net",
  mhsmDns: "managedhsm.azure.net",
  mysqlServerEndpoint: "mysql.database.azure.com",
  postgresqlServerEndpoint: "postgres.database.azure.com",
  mariadbServerEndpoint: "mariadb.database.azure.com",
  synapseAnalytics: "dev.azuresynapse.net",
  attestationEndpoint: "attest.azure.net",
};

/** Local Azure's name for itself in /metadata/endpoints (`az cloud register` keeps the name it is given). */
export const CLOUD_NAME = "LocalAzure";

/**
 * The audiences /metadata/endpoints names, first the one a client asks tokens for (the Azure CLI takes
 * `audiences[0]` as its `active_directory_resource_id`): Local Azure's own URL, then the public cloud's
 * two, which ARM accepts as well.
 */
function metadataAudiences(ctx: ArmContext): string[] {
  return armAudiences(ctx.endpoint).filter((audience) => audience.endsWith("/"));
}

function graphOf(ctx: ArmContext): string {
  return `${(ctx.graphEndpoint ?? "https://graph.microsoft.com").replace(/\/+$/, "")}/`;
}

/**
 * The 2022-09-01 document, member for member in management.azure.com's order. Local Azure's own
 * endpoints: `resourceManager`, `authentication` (its Entra, the audiences ARM accepts, its tenant)
 * and Microsoft Graph (`microsoftGraphResourceId`, and the retired Azure AD Graph's `graph` and
 * `graphAudience`, which point at the same Graph).
 */
export function cloudMetadata(ctx: ArmContext) {
  const graph = graphOf(ctx);
  return {
    portal: PUBLIC.portal,
    authentication: {
      loginEndpoint: authorityHostOf(ctx),
      audiences: metadataAudiences(ctx),
      tenant: ctx.tenantId,
      identityProvider: "AAD",
    },
    media: PUBLIC.media,
    graphAudience: graph,
    graph,
    name: CLOUD_NAME,
    suffixes: SUFFIXES_2022,
    batch: PUBLIC.batch,
    resourceManager: `${ctx.endpoint}/`,
    vmImageAliasDoc: PUBLIC.vmImageAliasDoc,
    activeDirectoryDataLake: PUBLIC.activeDirectoryDataLake,
    sqlManagement: PUBLIC.sqlManagement,
    microsoftGraphResourceId: graph,
    appInsightsResourceId: PUBLIC.appInsightsResourceId,
    appInsightsTelemetryChannelResourceId: PUBLIC.appInsightsTelemetryChannelResourceId,
    attestationResourceId: PUBLIC.attestationResourceId,
    synapseAnalyticsResourceId: PUBLIC.synapseAnalyticsResourceId,
    logAnalyticsResourceId: PUBLIC.logAnalyticsResourceId,
    ossrDbmsResourceId: PUBLIC.ossrDbmsResourceId,
  };
}

/** The 2019-05-01 (and 2020-06-01) document: an array of clouds, here Local Azure alone, in that version's members. */
export function cloudMetadataList(ctx: ArmContext) {
  const graph = graphOf(ctx);
  return [
    {
      portal: PUBLIC.portal,
      authentication: {
        loginEndpoint: `${authorityHostOf(ctx)}/`,
        audiences: metadataAudiences(ctx),
        tenant: ctx.tenantId,
        identityProvider: "AAD",
      },
      media: PUBLIC.media,
      graphAudience: graph,
      graph,
      name: CLOUD_NAME,
      suffixes: SUFFIXES_2019,
      batch: PUBLIC.batch,
      resourceManager: `${ctx.endpoint}/`,
      vmImageAliasDoc: PUBLIC.vmImageAliasDoc,
      activeDirectoryDataLake: PUBLIC.activeDirectoryDataLake,
      sqlManagement: PUBLIC.sqlManagement,
      gallery: PUBLIC.gallery,
    },
  ];
}

/**
 * The first document (2015-01-01 and 1.0): the portal, gallery and (Azure AD) Graph endpoints with
 * their slashes, and the authentication ARM's tokens come from, as management.azure.com answers it
 * (`loginEndpoint` with its slash, the audiences ARM accepts).
 */
export function cloudMetadataV1(ctx: ArmContext) {
  return {
    galleryEndpoint: PUBLIC.gallery,
    graphEndpoint: graphOf(ctx),
    portalEndpoint: `${PUBLIC.portal}/`,
    authentication: { loginEndpoint: `${authorityHostOf(ctx)}/`, audiences: metadataAudiences(ctx) },
  };
}

/**
 * The 2018-01-01 document: the first one, and under `cloudEndpoint` each cloud's ARM host with the
 * locations it serves; here Local Azure alone, its host as a client compares it (no scheme, no slash).
 */
export function cloudMetadata2018(ctx: ArmContext) {
  return {
    ...cloudMetadataV1(ctx),
    cloudEndpoint: { [CLOUD_NAME]: { endpoint: new URL(ctx.endpoint).host, locations: [ctx.location] } },
  };
}

/** `/metadata/endpoints`, answered before any authentication; undefined for any other path. */
export function metadataReply(ctx: ArmContext, method: string, path: string, url: URL): ArmReply | undefined {
  if (path.toLowerCase() !== "/metadata/endpoints") return undefined;
  if (method !== "GET" && method !== "HEAD")
    return armError(405, "MethodNotAllowed", `${method} is not supported on /metadata/endpoints.`);
  const version = url.searchParams.get("api-version");
  if (!version) return MISSING_API_VERSION;
  switch (version) {
    case "2022-09-01":
      return { status: 200, body: cloudMetadata(ctx) };
    case "2020-06-01":
    case "2019-05-01":
      return { status: 200, body: cloudMetadataList(ctx) };
    case "2018-01-01":
      return { status: 200, body: cloudMetadata2018(ctx) };
    case "2015-01-01":
    case "1.0":
      return { status: 200, body: cloudMetadataV1(ctx) };
    default:
      return invalidApiVersion(version, METADATA_API_VERSIONS);
  }
}

/** The regions Local Azure knows by display name (Subscriptions_ListLocations' example, GetLocations.json). */
const REGIONS: Record<string, { displayName: string; regionalDisplayName: string; metadata: Record<string, unknown> }> =
  {
    eastus: {
      displayName: "East US",
      regionalDisplayName: "(US) East US",
      metadata: {
        regionType: "Physical",
        regionCategory: "Recommended",
        geographyGroup: "US",
        longitude: "-79.8164",
        latitude: "37.3719",
        physicalLocation: "Virginia",
        pairedRegion: [{ name: "westus" }],
      },
    },
    eastus2: {
      displayName: "East US 2",
      regionalDisplayName: "(US) East US 2",
      metadata: {
        regionType: "Physical",
        regionCategory: "Recommended",
        geographyGroup: "US",
        longitude: "-78.3889",
        latitude: "36.6681",
        physicalLocation: "Virginia",
        pairedRegion: [{ name: "centralus" }],
      },
    },
  };

export function subscriptionNotFound(subscriptionId: string): ArmReply {
  return armError(404, "SubscriptionNotFound", `The subscription '${subscriptionId}' could not be found.`);
}

/** ARM's answer to a path outside any subscription that no tenant-level provider serves. */
export const MISSING_SUBSCRIPTION = armError(
  404,
  "MissingSubscription",
  "The request did not have a subscription or a valid tenant level resource provider.",
);

export class DiscoveryProvider implements ArmProvider {
  constructor(
    private readonly shared: ArmShared,
    private readonly providers: () => ProviderDescription[],
  ) {}

  match(method: string, path: string): Route | undefined {
    const lower = path.toLowerCase();
    // Tenant-level routes: any signed-in caller of this tenant may read them.
    const type = (resourceType: string) => `Microsoft.Resources/${resourceType}`;
    if (lower === "/subscriptions")
      return { kind: "subscriptionList", scope: "/", action: "", type: type("subscriptions") };
    if (lower === "/tenants") return { kind: "tenantList", scope: "/", action: "", type: type("tenants") };
    let match = /^\/providers(?:\/([^/]+))?$/i.exec(path);
    if (match) return { kind: "tenantProviders", scope: "/", action: "", name: match[1], type: type("providers") };
    match = /^(\/subscriptions\/[^/]+)(\/locations)?$/i.exec(path);
    // Visible to a caller with any role in the subscription (checked here, not as an RBAC action).
    if (match) {
      return match[2]
        ? { kind: "locationList", scope: match[1], action: "", type: type("subscriptions/locations") }
        : { kind: "subscription", scope: match[1], action: "", type: type("subscriptions") };
    }
    match = /^(\/subscriptions\/[^/]+)\/providers(?:\/([^/]+))?$/i.exec(path);
    if (match) {
      // Providers_List needs Microsoft.Resources/subscriptions/providers/read at the subscription
      // (the 403 hashicorp/terraform-provider-azurerm#2678 quotes).
      return {
        kind: "providers",
        scope: match[1],
        name: match[2],
        type: type("subscriptions/providers"),
        action: `Microsoft.Resources/subscriptions/providers/${verbOf(method)}`,
      };
    }
    match = /^(\/subscriptions\/[^/]+)\/providers\/([^/]+)\/register$/i.exec(path);
    // Registering needs the namespace's own action, e.g. Microsoft.Compute/register/action.
    if (match) {
      return {
        kind: "providerRegister",
        scope: match[1],
        name: match[2],
        type: type("subscriptions/providers"),
        action: `${match[2]}/register/action`,
      };
    }
    return undefined;
  }

  handle({ method, route, caller }: ArmRequest): ArmReply {
    const { ctx } = this.shared;
    const register = route.kind === "providerRegister";
    if (register ? method !== "POST" : method !== "GET")
      return armError(
        405,
        "MethodNotAllowed",
        `${method} is not supported on ${register ? "register" : "this route"}.`,
      );
    const visible = this.shared.holdsRoleAround(caller, `/subscriptions/${ctx.subscriptionId}`);
    switch (route.kind) {
      case "subscriptionList":
        // Subscriptions_List: the subscriptions where the caller holds a role, an empty list when none.
        return { status: 200, body: { value: visible ? [this.subscription()] : [] } };
      case "tenantList":
        return { status: 200, body: { value: [this.tenant()] } };
      case "tenantProviders":
        return this.providerReply(route.name, false);
      case "subscription":
        return visible ? { status: 200, body: this.subscription() } : subscriptionNotFound(ctx.subscriptionId);
      case "locationList":
        return visible ? { status: 200, body: { value: [this.location()] } } : subscriptionNotFound(ctx.subscriptionId);
      default:
        return this.providerReply(route.name, true);
    }
  }

  private providerReply(namespace: string | undefined, inSubscription: boolean): ArmReply {
    const all = this.providers().map((p) => this.provider(p, inSubscription));
    if (namespace === undefined) return { status: 200, body: { value: all } };
    const found = all.find((p) => p.namespace.toLowerCase() === namespace.toLowerCase());
    return found
      ? { status: 200, body: found }
      : armError(404, "InvalidResourceNamespace", `The resource namespace '${namespace}' is invalid.`);
  }

  /** A provider as Providers_Get answers it: at tenant scope without an ID or registration state (GetNamedProviderAtTenant.json). */
  private provider({ namespace, resourceTypes }: ProviderDescription, inSubscription: boolean) {
    const { ctx } = this.shared;
    const locations = [this.location().displayName];
    return {
      ...(inSubscription ? { id: `/subscriptions/${ctx.subscriptionId}/providers/${namespace}` } : {}),
      namespace,
      ...(inSubscription ? { registrationState: "Registered", registrationPolicy: "RegistrationRequired" } : {}),
      // A global type has no locations (GetNamedProviderAtTenant.json: Microsoft.Authorization's are []).
      resourceTypes: resourceTypes.map(({ resourceType, apiVersions, global }) => ({
        resourceType,
        locations: global ? [] : locations,
        apiVersions,
      })),
    };
  }

  /** Subscriptions_Get's shape (GetSubscription.json). */
  private subscription() {
    const { ctx } = this.shared;
    return {
      id: `/subscriptions/${ctx.subscriptionId}`,
      subscriptionId: ctx.subscriptionId,
      tenantId: ctx.tenantId,
      displayName: "Local Azure",
      state: "Enabled",
      subscriptionPolicies: {
        locationPlacementId: "Public_2014-09-01",
        quotaId: "PayAsYouGo_2014-09-01",
        spendingLimit: "Off",
      },
      authorizationSource: "RoleBased",
      managedByTenants: [],
    };
  }

  /** Tenants_List's shape (GetTenants.json). */
  private tenant() {
    const { tenantId } = this.shared.ctx;
    return {
      id: `/tenants/${tenantId}`,
      tenantId,
      countryCode: "US",
      displayName: "Local Azure",
      domains: ["localazure.onmicrosoft.com"],
      tenantCategory: "Home",
      defaultDomain: "localazure.onmicrosoft.com",
      tenantType: "AAD",
    };
  }

  /** Local Azure's one region, in Subscriptions_ListLocations' shape (GetLocations.json). */
  private location() {
    const { subscriptionId, location } = this.shared.ctx;
    const known = REGIONS[location.toLowerCase()];
    const base = `/subscriptions/${subscriptionId}/locations`;
    return {
      id: `${base}/${location}`,
      name: location,
      type: "Region",
      displayName: known?.displayName ?? location,
      regionalDisplayName: known?.regionalDisplayName ?? location,
      ...(known
        ? {
            metadata: {
              ...known.metadata,
              pairedRegion: (known.metadata.pairedRegion as Array<{ name: string }>).map(({ name }) => ({
                name,
                id: `${base}/${name}`,
              })),
            },
          }
        : {}),
    };
  }
}
