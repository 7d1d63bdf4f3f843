import { SubscriptionClient } from "@azure/arm-resources-subscriptions";
import { ResourceManagementClient } from "@azure/arm-resources-v8";
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import { ClientSecretCredential } from "@azure/identity";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ArmClient } from "../../local-azure/armClient";
import { LocalAzure, type SeededVm, seedVm } from "../../local-azure/index";
import { all, deployerCredential, FAST_FAULTS, failure, refusal } from "./support/arm";
import { claimsOf } from "./support/identity";

/**
 * ARM's discovery routes, driven by the clients that read them: the anonymous /metadata/endpoints
 * (the document `az cloud register --endpoint-resource-manager` reads through azure-cli's
 * `_arm_to_cli_mapper`), and Subscriptions, Tenants, Locations and Providers through Microsoft's newest
 * TypeSpec-generated clients (@azure/arm-resources-subscriptions 3, @azure/arm-resources 8) with their
 * default scope https://management.azure.com/.default. Shapes follow azure-rest-api-specs
 * specification/resources/resource-manager/Microsoft.Resources/stable/2022-12-01 (subscriptions.json,
 * resources.json and their examples).
 */

let azure: LocalAzure;
let reader: SeededVm;
let stranger: SeededVm;

beforeAll(async () => {
  azure = await LocalAzure.start({ faults: FAST_FAULTS });
  reader = await seedVm(azure, { identity: "user", resourceGroup: "disc-reader", vmName: "disc-reader" });
  stranger = await seedVm(azure, { identity: "user", grant: false, resourceGroup: "disc-none", vmName: "disc-none" });
});
afterAll(() => azure.stop());

const options = () => ({ endpoint: azure.armEndpoint, tlsOptions: { ca: azure.caCertPem } });

/** A managed identity's credential that, like IMDS, issues a token for whatever resource the client asks. */
function identity(principalId: string | undefined): TokenCredential {
  return {
    async getToken(scopes: string | string[]): Promise<AccessToken> {
      const scope = [scopes].flat()[0] ?? "";
      const token = await azure.issueToken({
        principalId: String(principalId),
        resource: scope.replace(/\/\.default$/, ""),
      });
      return { token, expiresOnTimestamp: Date.now() + 3_600_000 };
    },
  };
}

const subscriptions = (credential: TokenCredential) => new SubscriptionClient(credential, options());
const resources = (credential: TokenCredential) =>
  new ResourceManagementClient(credential, azure.subscriptionId, options());

describe("/metadata/endpoints (the cloud's document; anonymous)", () => {
  const get = async (query: string) => {
    const client = new ArmClient(azure.armEndpoint, azure.caCertPem, async () => "");
    return client.request("GET", `/metadata/endpoints${query}`);
  };

  it("api-version 2022-09-01: one cloud, Azure's members, Local Azure's ARM, Entra, audiences, tenant and Graph", async () => {
    const { status, body } = await get("?api-version=2022-09-01");
    expect(status).toBe(200);
    expect(body).toEqual({
      portal: "https://portal.azure.com",
      authentication: {
        loginEndpoint: azure.authorityHost,
        audiences: [`${azure.armEndpoint}/`, "https://management.core.windows.net/", "https://management.azure.com/"],
        tenant: azure.tenantId,
        identityProvider: "AAD",
      },
      media: "https://rest.media.azure.net",
      graphAudience: `${azure.graphEndpoint}/`,
      graph: `${azure.graphEndpoint}/`,
      name: "LocalAzure",
      suffixes: {
        azureDataLakeStoreFileSystem: "azuredatalakestore.net",
        acrLoginServer: "azurecr.io",
        sqlServerHostname: "database.windows.net",
        azureDataLakeAnalyticsCatalogAndJob: "azuredatalakeanalytics.net",
        keyVaultDns: "vault.azure.net",
        storage: "core.windows.net",
        azureFrontDoorEndpointSuffix: "azurefd.net",
        storageSyncEndpointSuffix: "afs.azure.net",
        mhsmDns: "managedhsm.azure.net",
        mysqlServerEndpoint: "mysql.database.azure.com",
        postgresqlServerEndpoint: "postgres.database.azure.com",
        mariadbServerEndpoint: "mariadb.database.azure.com",
        synapseAnalytics: "dev.azuresynapse.net",
        attestationEndpoint: "attest.azure.net",
      },
      batch: "https://batch.core.windows.net/",
      resourceManager: `${azure.armEndpoint}/`,
      vmImageAliasDoc:
        "https://raw.githubusercontent.com/Azure/azure-rest-api-specs/master/arm-compute/quickstart-templates/aliases.json",
      activeDirectoryDataLake: "https://datalake.azure.net/",
      sqlManagement: "https://management.core.windows.net:8443/",
      microsoftGraphResourceId: `${azure.graphEndpoint}/`,
      appInsightsResourceId: "https://api.applicationinsights.io",
      appInsightsTelemetryChannelResourceId: "https://dc.applicationinsights.azure.com/v2/track",
      attestationResourceId: "https://attest.azure.net",
      synapseAnalyticsResourceId: "https://dev.azuresynapse.net",
      logAnalyticsResourceId: "https://api.loganalytics.io",
      ossrDbmsResourceId: "https://ossrdbms-aad.database.windows.net",
    });
  });

  it("api-version 2019-05-01 (and 2020-06-01): an array of clouds in that version's members, the login endpoint with its slash", async () => {
    const older = await get("?api-version=2019-05-01");
    expect(older.status).toBe(200);
    expect(older.body).toEqual([
      {
        portal: "https://portal.azure.com",
        authentication: {
          loginEndpoint: `${azure.authorityHost}/`,
          audiences: [`${azure.armEndpoint}/`, "https://management.core.windows.net/", "https://management.azure.com/"],
          tenant: azure.tenantId,
          identityProvider: "AAD",
        },
        media: "https://rest.media.azure.net",
        graphAudience: `${azure.graphEndpoint}/`,
        graph: `${azure.graphEndpoint}/`,
        name: "LocalAzure",
        suffixes: {
          azureDataLakeStoreFileSystem: "azuredatalakestore.net",
          acrLoginServer: "azurecr.io",
          sqlServerHostname: "database.windows.net",
          azureDataLakeAnalyticsCatalogAndJob: "azuredatalakeanalytics.net",
          keyVaultDns: "vault.azure.net",
          storage: "core.windows.net",
          azureFrontDoorEndpointSuffix: "azurefd.net",
        },
        batch: "https://batch.core.windows.net/",
        resourceManager: `${azure.armEndpoint}/`,
        vmImageAliasDoc:
          "https://raw.githubusercontent.com/Azure/azure-rest-api-specs/master/arm-compute/quickstart-templates/aliases.json",
        activeDirectoryDataLake: "https://datalake.azure.net/",
        sqlManagement: "https://management.core.windows.net:8443/",
        gallery: "https://gallery.azure.com/",
      },
    ]);
    expect((await get("?api-version=2020-06-01")).body).toEqual(older.body);
  });

  it("api-version 2015-01-01 (and 1.0): the first document, gallery, Graph, portal and authentication, as go-autorest and Azure Stack Hub read it", async () => {
    const first = await get("?api-version=2015-01-01");
    expect(first.status).toBe(200);
    expect(first.body).toEqual({
      galleryEndpoint: "https://gallery.azure.com/",
      graphEndpoint: `${azure.graphEndpoint}/`,
      portalEndpoint: "https://portal.azure.com/",
      authentication: {
        loginEndpoint: `${azure.authorityHost}/`,
        audiences: [`${azure.armEndpoint}/`, "https://management.core.windows.net/", "https://management.azure.com/"],
      },
    });
    expect((await get("?api-version=1.0")).body).toEqual(first.body);
  });

  it("api-version 2018-01-01: the first document and each cloud's ARM host with its locations under cloudEndpoint", async () => {
    const { status, body } = await get("?api-version=2018-01-01");
    const first = (await get("?api-version=2015-01-01")).body as object;
    expect(status).toBe(200);
    expect(body).toEqual({
      ...first,
      cloudEndpoint: { LocalAzure: { endpoint: new URL(azure.armEndpoint).host, locations: [azure.location] } },
    });
    // What hashicorp/terraform-provider-azurerm's location package does with it: the entry whose endpoint is
    // the ARM host it talks to gives the locations it offers.
    const entries = Object.values(
      (body as { cloudEndpoint: Record<string, { endpoint: string; locations: string[] }> }).cloudEndpoint,
    );
    expect(entries.find((e) => e.endpoint === new URL(azure.armEndpoint).host)?.locations).toEqual([azure.location]);
  });

  it("refuses a missing or unknown api-version with ARM's 400s", async () => {
    expect(await get("")).toMatchObject({
      status: 400,
      body: { error: { code: "MissingApiVersionParameter" } },
    });
    expect(await get("?api-version=2017-01-01")).toMatchObject({
      status: 400,
      body: {
        error: {
          code: "InvalidApiVersionParameter",
          message:
            "The api-version '2017-01-01' is invalid. The supported versions are '2022-09-01,2020-06-01,2019-05-01,2018-01-01,2015-01-01,1.0'.",
        },
      },
    });
  });

  it("is enough to sign in and call ARM: loginEndpoint's token for audiences[0] (as az asks: {audience}/.default) is accepted", async () => {
    const { body } = await get("?api-version=2022-09-01");
    const cloud = body as { authentication: { loginEndpoint: string; audiences: string[] }; resourceManager: string };
    const credential = new ClientSecretCredential(
      azure.tenantId,
      azure.deployer.clientId,
      azure.deployer.clientSecret,
      {
        authorityHost: cloud.authentication.loginEndpoint,
        disableInstanceDiscovery: true,
        tlsOptions: { ca: azure.caCertPem },
      },
    );
    const scope = `${cloud.authentication.audiences[0]}/.default`;
    expect(claimsOf((await credential.getToken(scope)).token).aud).toBe(cloud.authentication.audiences[0]);
    const client = new SubscriptionClient(credential, {
      endpoint: cloud.resourceManager,
      credentials: { scopes: [scope] },
      tlsOptions: { ca: azure.caCertPem },
    });
    expect((await all(client.subscriptions.list())).map((s) => s.subscriptionId)).toEqual([azure.subscriptionId]);
  });
});

describe("Subscriptions and Tenants (subscriptions.json: Subscriptions_List, Subscriptions_Get, Subscriptions_ListLocations, Tenants_List)", () => {
  it("lists the subscription to the deployer (Owner on it), as GetSubscriptions.json shapes it", async () => {
    const listed = await all(subscriptions(deployerCredential(azure)).subscriptions.list());
    expect(listed).toEqual([
      {
        id: `/subscriptions/${azure.subscriptionId}`,
        subscriptionId: azure.subscriptionId,
        tenantId: azure.tenantId,
        displayName: "Local Azure",
        state: "Enabled",
        subscriptionPolicies: {
          locationPlacementId: "Public_2014-09-01",
          quotaId: "PayAsYouGo_2014-09-01",
          spendingLimit: "Off",
        },
        authorizationSource: "RoleBased",
        managedByTenants: [],
      },
    ]);
    expect(await subscriptions(deployerCredential(azure)).subscriptions.get(azure.subscriptionId)).toEqual(listed[0]);
  });

  it("lists it to an identity whose only role is Reader on one resource group (a role below the subscription)", async () => {
    const client = subscriptions(identity(reader.userIdentity?.principalId));
    expect((await all(client.subscriptions.list())).map((s) => s.subscriptionId)).toEqual([azure.subscriptionId]);
    expect((await client.subscriptions.get(azure.subscriptionId)).subscriptionId).toBe(azure.subscriptionId);
  });

  it("shows nothing to an identity without any role: an empty list, and 404 SubscriptionNotFound for the ID", async () => {
    const client = subscriptions(identity(stranger.userIdentity?.principalId));
    expect(await all(client.subscriptions.list())).toEqual([]);
    const refused = await refusal(client.subscriptions.get(azure.subscriptionId));
    expect([refused.statusCode, refused.code, refused.message]).toEqual([
      404,
      "SubscriptionNotFound",
      `The subscription '${azure.subscriptionId}' could not be found.`,
    ]);
  });

  it("answers 404 SubscriptionNotFound for a subscription it does not hold, whatever the path under it", async () => {
    const other = "00000000-0000-4000-8000-0000000000aa";
    const client = subscriptions(deployerCredential(azure));
    expect(await failure(client.subscriptions.get(other))).toEqual([404, "SubscriptionNotFound"]);
    const groups = new ResourceManagementClient(deployerCredential(azure), other, options());
    expect(await failure(groups.resourceGroups.get("anything"))).toEqual([404, "SubscriptionNotFound"]);
  });

  it("lists Local Azure's region (GetLocations.json's shape and its eastus values)", async () => {
    const locations = await all(
      subscriptions(deployerCredential(azure)).subscriptions.listLocations(azure.subscriptionId),
    );
    expect(locations).toEqual([
      {
        id: `/subscriptions/${azure.subscriptionId}/locations/eastus`,
        name: "eastus",
        type: "Region",
        displayName: "East US",
        regionalDisplayName: "(US) East US",
        metadata: {
          regionType: "Physical",
          regionCategory: "Recommended",
          geographyGroup: "US",
          longitude: "-79.8164",
          latitude: "37.3719",
          physicalLocation: "Virginia",
          pairedRegion: [{ name: "westus", id: `/subscriptions/${azure.subscriptionId}/locations/westus` }],
        },
      },
    ]);
  });

  it("lists the caller's tenant (GetTenants.json's shape)", async () => {
    expect(await all(subscriptions(identity(stranger.userIdentity?.principalId)).tenants.list())).toEqual([
      {
        id: `/tenants/${azure.tenantId}`,
        tenantId: azure.tenantId,
        countryCode: "US",
        displayName: "Local Azure",
        domains: ["localazure.onmicrosoft.com"],
        tenantCategory: "Home",
        defaultDomain: "localazure.onmicrosoft.com",
        tenantType: "AAD",
      },
    ]);
  });
});

describe("Providers (resources.json: Providers_List, Providers_Get, Providers_Register, Providers_*AtTenantScope)", () => {
  const NAMESPACES = [
    "Microsoft.Resources",
    "Microsoft.Authorization",
    "Microsoft.Network",
    "Microsoft.Compute",
    "Microsoft.ManagedIdentity",
  ];

  it("lists the providers Local Azure serves, each Registered, with its resource types", async () => {
    const client = resources(deployerCredential(azure));
    const listed = await all(client.providers.list());
    expect(listed.map((p) => [p.namespace, p.registrationState])).toEqual(
      NAMESPACES.map((namespace) => [namespace, "Registered"]),
    );
    const network = await client.providers.get("microsoft.network");
    expect(network).toMatchObject({
      id: `/subscriptions/${azure.subscriptionId}/providers/Microsoft.Network`,
      namespace: "Microsoft.Network",
      registrationState: "Registered",
      registrationPolicy: "RegistrationRequired",
    });
    // Each type at the versions its clients here send, newest first (local-azure/arm/providers/network.ts).
    const sdks = ["2026-01-01", "2025-05-01", "2024-05-01"];
    expect(network.resourceTypes?.map((t) => [t.resourceType, t.locations, t.apiVersions])).toEqual([
      ["virtualNetworks", ["East US"], [...sdks.slice(0, 1), "2025-07-01", ...sdks.slice(1), "2022-01-01"]],
      ["virtualNetworks/subnets", ["East US"], [...sdks.slice(0, 2), "2024-07-01", "2024-05-01", "2022-01-01"]],
      ["networkSecurityGroups", ["East US"], [...sdks, "2022-01-01"]],
      ["publicIPAddresses", ["East US"], [...sdks.slice(0, 1), "2025-09-01", ...sdks.slice(1), "2022-01-01"]],
      ["networkInterfaces", ["East US"], [...sdks, "2023-11-01", "2022-01-01"]],
      ["natGateways", ["East US"], [...sdks.slice(0, 1), "2025-07-01", ...sdks.slice(1)]],
    ]);
    // Global types have no locations (GetNamedProviderAtTenant.json).
    const authorization = await client.providers.get("Microsoft.Authorization");
    expect(authorization.resourceTypes?.map((t) => [t.resourceType, t.locations, t.apiVersions])).toEqual([
      ["roleAssignments", [], ["2022-04-01"]],
      ["roleDefinitions", [], ["2022-05-01-preview", "2022-04-01"]],
      ["permissions", [], ["2022-05-01-preview", "2022-04-01"]],
    ]);
  });

  it("registers a provider for the deployer, and refuses a Reader with the namespace's register action", async () => {
    expect((await resources(deployerCredential(azure)).providers.register("Microsoft.Compute")).registrationState).toBe(
      "Registered",
    );
    const refused = await refusal(
      resources(identity(reader.userIdentity?.principalId)).providers.register("Microsoft.Compute"),
    );
    expect([refused.statusCode, refused.code]).toEqual([403, "AuthorizationFailed"]);
    expect(refused.message).toContain(
      `does not have authorization to perform action 'Microsoft.Compute/register/action' over scope '/subscriptions/${azure.subscriptionId}'`,
    );
  });

  it("needs Microsoft.Resources/subscriptions/providers/read at the subscription: a group's Reader is refused", async () => {
    const refused = await refusal(all(resources(identity(reader.userIdentity?.principalId)).providers.list()));
    expect([refused.statusCode, refused.code]).toEqual([403, "AuthorizationFailed"]);
    // The TypeSpec pager's own message names the status only, so ARM's message is read over the wire.
    const token = await identity(reader.userIdentity?.principalId).getToken("https://management.azure.com/.default");
    const arm = new ArmClient(azure.armEndpoint, azure.caCertPem, async () => String(token?.token));
    const raw = await arm.request("GET", `/subscriptions/${azure.subscriptionId}/providers?api-version=2022-12-01`);
    expect((raw.body as { error: { message: string } }).error.message).toContain(
      `'Microsoft.Resources/subscriptions/providers/read' over scope '/subscriptions/${azure.subscriptionId}'`,
    );
  });

  it("answers an unknown namespace with 404 InvalidResourceNamespace", async () => {
    const refused = await refusal(resources(deployerCredential(azure)).providers.get("Microsoft.Nothing"));
    expect([refused.statusCode, refused.code, refused.message]).toEqual([
      404,
      "InvalidResourceNamespace",
      "The resource namespace 'Microsoft.Nothing' is invalid.",
    ]);
  });

  it("answers at tenant scope without ID or registration state (GetNamedProviderAtTenant.json)", async () => {
    const client = resources(identity(stranger.userIdentity?.principalId));
    const compute = await client.providers.getAtTenantScope("Microsoft.Compute");
    expect(compute).toEqual({
      namespace: "Microsoft.Compute",
      resourceTypes: [
        {
          resourceType: "virtualMachines",
          locations: ["East US"],
          apiVersions: ["2026-04-01", "2026-03-01", "2025-11-01", "2024-11-01", "2022-11-01"],
        },
        {
          resourceType: "virtualMachines/runCommands",
          locations: ["East US"],
          apiVersions: ["2026-04-01", "2026-03-01", "2024-11-01"],
        },
      ],
    });
    expect((await all(client.providers.listAtTenantScope())).map((p) => p.namespace)).toEqual(NAMESPACES);
  });
});

describe("paths outside the subscription", () => {
  it("answers a tenant-level path no provider serves with 404 MissingSubscription", async () => {
    const arm = new ArmClient(azure.armEndpoint, azure.caCertPem, () => azure.deployerToken());
    expect(await arm.request("GET", "/providers/Microsoft.Nothing/things?api-version=2022-12-01")).toMatchObject({
      status: 404,
      body: {
        error: {
          code: "MissingSubscription",
          message: "The request did not have a subscription or a valid tenant level resource provider.",
        },
      },
    });
  });
});
