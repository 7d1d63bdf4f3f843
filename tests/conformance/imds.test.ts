import { ResourceManagementClient } from "@azure/arm-resources";
import { ManagedIdentityCredential } from "@azure/identity";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalAzure, type SeededVm, seedVm } from "../../local-azure/index";
import { claimsOf, rejectionOf, trusting } from "./support/identity";

/**
 * Local Azure's IMDS as Microsoft's own client meets it: ManagedIdentityCredential from
 * @azure/identity 4.13 (MSAL Node's managed-identity client underneath), pointed at the VM's IMDS
 * through AZURE_POD_IDENTITY_AUTHORITY_HOST, the override MSAL honours.
 *
 * MSAL keeps its IMDS source (endpoint and network client) and its token cache process-wide, as on a
 * real VM where there is one IMDS: so this file models one VM, every credential is built with the
 * same options, and each test asks for a resource no other test asks for (a cache miss, a request).
 * The retry decisions are the SDK's own (which statuses, how many times); only its delays are
 * shortened through the documented retryOptions, so the file stays fast.
 */

let azure: LocalAzure;
let vm: SeededVm;
let user: NonNullable<SeededVm["userIdentity"]>;

const RETRY = { retryOptions: { retryDelayInMs: 10, maxRetryDelayInMs: 40 } };

beforeAll(async () => {
  azure = await LocalAzure.start({
    faults: { rbacDelaySeconds: 0, identityAttachDelaySeconds: 0, sshNotReadySeconds: 0, lroSeconds: 0 },
  });
  vm = await seedVm(azure, { identity: "both", resourceGroup: "rg-msal", vmName: "vm-msal" });
  user = vm.userIdentity as NonNullable<SeededVm["userIdentity"]>;
  // Read by MSAL when it first picks its managed-identity source (the first getToken).
  process.env.AZURE_POD_IDENTITY_AUTHORITY_HOST = vm.imdsEndpoint;
});
afterAll(async () => {
  delete process.env.AZURE_POD_IDENTITY_AUTHORITY_HOST;
  await azure.stop();
});

/** The IMDS token requests logged since `from`, as "METHOD path status". */
function tokenRequestsSince(from: number): string[] {
  return azure.requestLog
    .slice(from)
    .filter((entry) => entry.service === "imds" && entry.path.startsWith("/metadata/identity"))
    .map((entry) => `${entry.method} ${entry.path} ${entry.status}`);
}

const TOKEN_OK = "GET /metadata/identity/oauth2/token/ 200";

describe("tokens through MSAL (Learn: How to use managed identities for Azure resources on an Azure VM to acquire an access token)", () => {
  it("serves the token path MSAL asks for, with its trailing slash, for the system identity", async () => {
    const from = azure.requestLog.length;
    const token = await new ManagedIdentityCredential(RETRY).getToken(`${azure.armEndpoint}/.default`);
    // MSAL's URL normalisation (UrlString.canonicalizeUri) appends the slash; real IMDS serves it.
    expect(tokenRequestsSince(from)).toEqual([TOKEN_OK]);
    expect(claimsOf(token.token)).toMatchObject({
      aud: azure.armEndpoint,
      oid: vm.systemIdentity?.principalId,
      tid: azure.tenantId,
      idtyp: "app",
      iss: `https://sts.windows.net/${azure.tenantId}/`,
    });
    expect(token.tokenType).toBe("Bearer");
    expect(token.expiresOnTimestamp).toBeGreaterThan(Date.now());
  });

  it.each([
    ["clientId", () => ({ clientId: user.clientId })],
    ["objectId", () => ({ objectId: user.principalId })],
    ["resourceId", () => ({ resourceId: user.id })],
  ])("gives the user-assigned identity selected by %s", async (selector, options) => {
    const from = azure.requestLog.length;
    const token = await new ManagedIdentityCredential({ ...options(), ...RETRY }).getToken(
      `https://selector-${selector}.example/.default`,
    );
    expect(tokenRequestsSince(from)).toEqual([TOKEN_OK]);
    const claims = claimsOf(token.token);
    expect([claims.aud, claims.oid, claims.appid]).toEqual([
      `https://selector-${selector}.example`,
      user.principalId,
      user.clientId,
    ]);
    expect(String(claims.xms_mirid).toLowerCase()).toBe(user.id.toLowerCase());
  });

  it("gives a token that @azure/arm-resources reads the resource group with", async () => {
    const credential = new ManagedIdentityCredential({ clientId: user.clientId, ...RETRY });
    const client = new ResourceManagementClient(credential, azure.subscriptionId, {
      endpoint: azure.armEndpoint,
      credentialScopes: [`${azure.armEndpoint}/.default`],
      ...trusting(azure.caCertPem),
    });
    const group = await client.resourceGroups.get("rg-msal");
    expect([group.name, group.properties?.provisioningState]).toEqual(["rg-msal", "Succeeded"]);
  });
});

describe("transient IMDS answers as MSAL's retry policy meets them", () => {
  it('"Identity not found" right after attach fails the call without a retry; the next call gets the token', async () => {
    // The window is read live: wider than the identities' age, then closed. No timing luck.
    azure.faults.identityAttachDelaySeconds = 3600;
    const from = azure.requestLog.length;
    const credential = new ManagedIdentityCredential({ clientId: user.clientId, ...RETRY });
    const error = await rejectionOf(credential.getToken("https://attach-window.example/.default"));
    expect(error.name).toBe("CredentialUnavailableError");
    expect(error.message).toContain("Identity not found");
    expect(tokenRequestsSince(from)).toEqual(["GET /metadata/identity/oauth2/token/ 400"]);
    azure.faults.identityAttachDelaySeconds = 0;
    const token = await credential.getToken("https://attach-window.example/.default");
    expect(claimsOf(token.token).oid).toBe(user.principalId);
    expect(tokenRequestsSince(from)).toEqual(["GET /metadata/identity/oauth2/token/ 400", TOKEN_OK]);
  });

  it.each([500, 503] as const)(
    "retries %i (core-rest-pipeline's exponential retry) until the token comes",
    async (status) => {
      azure.faults.imdsBurst = { status, count: 2 };
      const from = azure.requestLog.length;
      const token = await new ManagedIdentityCredential(RETRY).getToken(`https://burst-${status}.example/.default`);
      expect(claimsOf(token.token).oid).toBe(vm.systemIdentity?.principalId);
      const failed = `GET /metadata/identity/oauth2/token/ ${status}`;
      expect(tokenRequestsSince(from)).toEqual([failed, failed, TOKEN_OK]);
    },
  );

  it("retries 404 (the SDK's imdsRetryPolicy: IMDS is updating)", async () => {
    azure.faults.imdsBurst = { status: 404, count: 1 };
    const from = azure.requestLog.length;
    const token = await new ManagedIdentityCredential(RETRY).getToken("https://burst-404.example/.default");
    expect(claimsOf(token.token).oid).toBe(vm.systemIdentity?.principalId);
    expect(tokenRequestsSince(from)).toEqual(["GET /metadata/identity/oauth2/token/ 404", TOKEN_OK]);
  });

  it("gives up on 5xx after its 3 retries and says so", async () => {
    azure.faults.imdsBurst = { status: 500, count: 10 };
    const from = azure.requestLog.length;
    const error = await rejectionOf(
      new ManagedIdentityCredential(RETRY).getToken("https://burst-exhausted.example/.default"),
    );
    azure.faults.imdsBurst = null;
    expect(error.name).toBe("CredentialUnavailableError");
    expect(tokenRequestsSince(from)).toEqual(Array(4).fill("GET /metadata/identity/oauth2/token/ 500"));
  });

  it("does not retry a 429 without Retry-After (IMDS documents no Retry-After; the caller backs off)", async () => {
    azure.faults.imdsBurst = { status: 429, count: 1 };
    const from = azure.requestLog.length;
    const credential = new ManagedIdentityCredential(RETRY);
    const error = await rejectionOf(credential.getToken("https://burst-429.example/.default"));
    expect(error.name).toBe("CredentialUnavailableError");
    expect(tokenRequestsSince(from)).toEqual(["GET /metadata/identity/oauth2/token/ 429"]);
    const token = await credential.getToken("https://burst-429.example/.default");
    expect(claimsOf(token.token).oid).toBe(vm.systemIdentity?.principalId);
  });
});

describe("the documented 400s (Learn: Azure Instance Metadata Service, Security and authentication / Errors)", () => {
  const resource = () => encodeURIComponent(`${azure.armEndpoint}/`);
  const tokenUrl = () =>
    `${vm.imdsEndpoint}/metadata/identity/oauth2/token/?api-version=2018-02-01&resource=${resource()}`;

  // Learn "How to use managed identities … to acquire an access token", HTTP response reference:
  // 400 bad_request_102 "Required metadata header not specified" (the IMDS page's FAQ quotes the same text).
  it("refuses a request without Metadata: true", async () => {
    for (const url of [tokenUrl(), `${vm.imdsEndpoint}/metadata/instance?api-version=2021-02-01`]) {
      const response = await fetch(url);
      expect([response.status, await response.json()]).toEqual([
        400,
        { error: "bad_request_102", error_description: "Required metadata header not specified" },
      ]);
    }
    const wrongCase = await fetch(tokenUrl(), { headers: { Metadata: "True" } });
    expect(wrongCase.status).toBe(400);
  });

  // Learn documents the refusal (400, "Must not contain an X-Forwarded-For header"), not its body: the text is Local Azure's.
  it("refuses a request carrying X-Forwarded-For, even with Metadata: true", async () => {
    for (const url of [tokenUrl(), `${vm.imdsEndpoint}/metadata/instance?api-version=2021-02-01`]) {
      const response = await fetch(url, { headers: { Metadata: "true", "X-Forwarded-For": "10.0.0.9" } });
      expect([response.status, await response.json()]).toEqual([
        400,
        { error: "bad_request", error_description: "Requests with X-Forwarded-For are rejected" },
      ]);
    }
  });
});

// Learn "Azure Instance Metadata Service" (MicrosoftDocs/azure-compute-docs articles/virtual-machines/instance-metadata-service.md:
// Instance metadata schema, Data format, Route parameters, Versioning) and the REST spec's example
// (azure-rest-api-specs specification/imds/data-plane/InstanceMetadataService/stable/2021-02-01/examples/GetInstanceMetadata.json).
describe("the instance document (Learn: Azure Instance Metadata Service; REST spec imds 2021-02-01)", () => {
  const get = async (path: string) => {
    const response = await fetch(`${vm.imdsEndpoint}${path}`, { headers: { Metadata: "true" } });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const primitives = (value: unknown): unknown[] =>
    Array.isArray(value)
      ? value.flatMap(primitives)
      : value !== null && typeof value === "object"
        ? Object.values(value).flatMap(primitives)
        : [value];

  it("answers /metadata/instance with its compute and network parts, every primitive a string", async () => {
    const { status, body } = await get("/metadata/instance?api-version=2021-02-01");
    expect(status).toBe(200);
    expect(Object.keys(body).sort()).toEqual(["compute", "network"]);
    for (const value of primitives(body)) expect(typeof value).toBe("string");
    const vmBody = (await azure.arm.request("GET", `${vm.vmId}?api-version=2024-11-01`)).body as {
      properties: { vmId: string };
    };
    expect(body.compute).toMatchObject({
      azEnvironment: "AZUREPUBLICCLOUD",
      name: "vm-msal",
      location: azure.location,
      resourceGroupName: "rg-msal",
      subscriptionId: azure.subscriptionId,
      vmId: vmBody.properties.vmId,
      vmSize: "Standard_B2s",
      osType: "Linux",
      provider: "Microsoft.Compute",
      resourceId: vm.vmId,
      osProfile: { adminUsername: "azureuser", computerName: "vm-msal", disablePasswordAuthentication: "true" },
      tags: "",
      tagsList: [],
      zone: "",
      // Inapplicable values are present, as empty strings (Learn: Data format).
      physicalZone: "",
      extendedLocation: { type: "", name: "" },
      virtualMachineScaleSet: { id: "" },
      securityProfile: {
        secureBootEnabled: "false",
        virtualTpmEnabled: "false",
        encryptionAtHost: "false",
        securityType: "",
      },
    });
    // Every field the Learn page's compute schema lists is there.
    expect(Object.keys(body.compute as object).sort()).toEqual(
      [
        "additionalCapabilities",
        "azEnvironment",
        "customData",
        "evictionPolicy",
        "extendedLocation",
        "host",
        "hostGroup",
        "isHostCompatibilityLayerVm",
        "licenseType",
        "location",
        "name",
        "offer",
        "osProfile",
        "osType",
        "physicalZone",
        "placementGroupId",
        "plan",
        "platformFaultDomain",
        "platformSubFaultDomain",
        "platformUpdateDomain",
        "priority",
        "provider",
        "publicKeys",
        "publisher",
        "resourceGroupName",
        "resourceId",
        "securityProfile",
        "sku",
        "storageProfile",
        "subscriptionId",
        "tags",
        "tagsList",
        "userData",
        "version",
        "virtualMachineScaleSet",
        "vmId",
        "vmScaleSetName",
        "vmSize",
        "zone",
      ].sort(),
    );
    expect(body.network).toEqual({
      interface: [
        {
          ipv4: {
            ipAddress: [{ privateIpAddress: "10.0.1.4", publicIpAddress: vm.publicIp }],
            subnet: [{ address: "10.0.1.0", prefix: "24" }],
          },
          ipv6: { ipAddress: [] },
          macAddress: expect.stringMatching(/^[0-9A-F]{12}$/),
        },
      ],
    });
  });

  it("answers /metadata/instance/compute (and with a trailing slash) with exactly the compute part", async () => {
    const whole = await get("/metadata/instance?api-version=2021-02-01");
    expect(await get("/metadata/instance/compute?api-version=2021-02-01")).toEqual({
      status: 200,
      body: whole.body.compute,
    });
    expect(await get("/metadata/instance/compute/?api-version=2021-02-01")).toEqual({
      status: 200,
      body: whole.body.compute,
    });
    expect(await get("/metadata/instance/network?api-version=2021-02-01")).toEqual({
      status: 200,
      body: whole.body.network,
    });
  });

  it("lists tags as the documented string and tagsList", async () => {
    const current = (await azure.arm.request("GET", `${vm.vmId}?api-version=2024-11-01`)).body as Record<
      string,
      unknown
    >;
    await azure.arm.putAndWait(`${vm.vmId}?api-version=2024-11-01`, { ...current, tags: { env: "dev", owner: "ops" } });
    const { body } = await get("/metadata/instance/compute?api-version=2021-02-01");
    expect([body.tags, body.tagsList]).toEqual([
      "env:dev;owner:ops",
      [
        { name: "env", value: "dev" },
        { name: "owner", value: "ops" },
      ],
    ]);
  });

  it("walks route parameters down to a part, and gives a leaf as text only with format=text (Learn: Route parameters)", async () => {
    const whole = await get("/metadata/instance?api-version=2021-02-01");
    const network = whole.body.network as { interface: unknown[] };
    expect(await get("/metadata/instance/network/interface/0?api-version=2021-02-01")).toEqual({
      status: 200,
      body: network.interface[0],
    });
    const vmId = (whole.body.compute as { vmId: string }).vmId;
    const leaf = await fetch(`${vm.imdsEndpoint}/metadata/instance/compute/vmId?api-version=2021-02-01&format=text`, {
      headers: { Metadata: "true" },
    });
    expect([leaf.status, leaf.headers.get("content-type"), await leaf.text()]).toEqual([
      200,
      "text/plain; charset=utf-8",
      vmId,
    ]);
    // Local Azure's own wording for these two (Learn gives the statuses only).
    expect(await get("/metadata/instance/compute/vmId?api-version=2021-02-01")).toEqual({
      status: 400,
      body: { error: "bad_request", error_description: "Querying a leaf node requires the parameter format=text" },
    });
    expect(await get("/metadata/instance/compute/noSuchField?api-version=2021-02-01")).toEqual({
      status: 404,
      body: { error: "not_found", error_description: "The requested element doesn't exist" },
    });
  });

  it("without a supported api-version answers 400 with the newest versions (Learn: Versioning)", async () => {
    const refusal = {
      status: 400,
      body: {
        error:
          "Bad request. api-version is invalid or was not specified in the request. For more information refer to aka.ms/azureimds",
        "newest-versions": ["2025-04-07", "2024-07-17", "2024-03-15"],
      },
    };
    expect(await get("/metadata/instance")).toEqual(refusal);
    expect(await get("/metadata/instance/compute?api-version=2016-01-01")).toEqual(refusal);
    expect((await get("/metadata/instance/compute?api-version=2025-04-07")).status).toBe(200);
  });
});
