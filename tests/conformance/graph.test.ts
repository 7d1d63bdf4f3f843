import { randomUUID } from "node:crypto";
import { request } from "node:https";
import { ClientSecretCredential } from "@azure/identity";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalAzure, type SeededVm, seedVm } from "../../local-azure/index";
import { FAST_FAULTS } from "./support/arm";
import { claimsOf } from "./support/identity";

/**
 * Local Azure's Microsoft Graph: the calls azure-cli's role module makes for `az role assignment
 * create --assignee <id>` (`_resolve_object_id_and_type`: servicePrincipals with
 * `$filter=servicePrincipalNames/any(c:c eq '<id>')`, then `POST directoryObjects/getByIds` whose
 * `@odata.type` gives the principalType) and `az ad sp show` (GET servicePrincipals/{id}), with
 * Graph's errors (Learn, "Microsoft Graph error responses and resource types"). Shapes: Learn,
 * "servicePrincipal resource type", "Get servicePrincipal", "List servicePrincipals",
 * "directoryObject: getByIds".
 */

let azure: LocalAzure;
let both: SeededVm;
let deployerToken: string;

beforeAll(async () => {
  azure = await LocalAzure.start({ faults: FAST_FAULTS });
  both = await seedVm(azure, { identity: "both", resourceGroup: "graph-rg", vmName: "graph-vm" });
  deployerToken = await graphToken("https://graph.microsoft.com/.default");
});
afterAll(() => azure.stop());

/** The deployer's Graph token from Local Azure's Entra, as a client that keeps Graph's default scope gets it. */
async function graphToken(scope: string): Promise<string> {
  const credential = new ClientSecretCredential(azure.tenantId, azure.deployer.clientId, azure.deployer.clientSecret, {
    authorityHost: azure.authorityHost,
    disableInstanceDiscovery: true,
    tlsOptions: { ca: azure.caCertPem },
  });
  return (await credential.getToken(scope)).token;
}

/** One Graph request over HTTPS with Local Azure's CA: status, headers and parsed body. */
function graph(
  method: string,
  path: string,
  token: string | null = deployerToken,
  body?: unknown,
): Promise<{ status: number; headers: Record<string, unknown>; body: Record<string, unknown> }> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      `${azure.graphEndpoint}${path}`,
      {
        method,
        ca: azure.caCertPem,
        headers: {
          ...(token === null ? {} : { authorization: `Bearer ${token}` }),
          ...(payload ? { "content-type": "application/json" } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}"),
          }),
        );
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

const user = () => both.userIdentity as NonNullable<SeededVm["userIdentity"]>;
const userIdentityName = "graph-vm-id";

/** Graph's error body: the code and message, and the innerError every Graph error carries. */
function graphError(code: string, message: string) {
  return {
    error: {
      code,
      message,
      innerError: {
        date: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/),
        "request-id": expect.any(String),
        "client-request-id": expect.any(String),
      },
    },
  };
}

describe("service principals (Learn: servicePrincipal resource type, Get servicePrincipal)", () => {
  it("shows a user-assigned identity: id = principal ID, appId = client ID, ManagedIdentity, isExplicit=True and its resource ID", async () => {
    const response = await graph("GET", `/v1.0/servicePrincipals/${user().principalId}`);
    expect(response.status).toBe(200);
    expect(response.body).toEqual({
      "@odata.context": `${azure.graphEndpoint}/v1.0/$metadata#servicePrincipals/$entity`,
      id: user().principalId,
      deletedDateTime: null,
      accountEnabled: true,
      alternativeNames: ["isExplicit=True", user().id],
      appDisplayName: null,
      appId: user().clientId,
      appOwnerOrganizationId: null,
      appRoleAssignmentRequired: false,
      displayName: userIdentityName,
      servicePrincipalNames: [user().clientId],
      servicePrincipalType: "ManagedIdentity",
      signInAudience: null,
      tags: [],
    });
  });

  it("shows a VM's system-assigned identity (isExplicit=False, the VM's ID) and the deployer's application", async () => {
    const system = await graph("GET", `/v1.0/servicePrincipals/${both.systemIdentity?.principalId}`);
    expect(system.body).toMatchObject({
      servicePrincipalType: "ManagedIdentity",
      alternativeNames: ["isExplicit=False", both.vmId],
      displayName: "graph-vm",
    });
    const deployer = await graph("GET", `/v1.0/servicePrincipals(appId='${azure.deployer.clientId}')`);
    expect(deployer.body).toMatchObject({
      id: azure.deployer.principalId,
      appId: azure.deployer.clientId,
      servicePrincipalType: "Application",
      appOwnerOrganizationId: azure.tenantId,
      alternativeNames: [],
    });
  });

  it("lists by $filter: appId, and servicePrincipalNames/any(…) as az sends it (percent-encoded)", async () => {
    const byName = await graph(
      "GET",
      `/v1.0/servicePrincipals?$filter=${encodeURIComponent(`servicePrincipalNames/any(c:c eq '${user().clientId}')`)}`,
    );
    expect(byName.body["@odata.context"]).toBe(`${azure.graphEndpoint}/v1.0/$metadata#servicePrincipals`);
    expect((byName.body.value as Array<{ id: string }>).map((sp) => sp.id)).toEqual([user().principalId]);
    const byAppId = await graph(
      "GET",
      `/v1.0/servicePrincipals?$filter=${encodeURIComponent(`appId eq '${user().clientId}'`)}`,
    );
    expect((byAppId.body.value as Array<{ id: string }>).map((sp) => sp.id)).toEqual([user().principalId]);
    // az's first lookup for an object ID finds nothing by name, then asks getByIds.
    const byObjectId = await graph(
      "GET",
      `/v1.0/servicePrincipals?$filter=${encodeURIComponent(`servicePrincipalNames/any(c:c eq '${user().principalId}')`)}`,
    );
    expect(byObjectId.body.value).toEqual([]);
    const unsupported = await graph(
      "GET",
      `/v1.0/servicePrincipals?$filter=${encodeURIComponent("displayName gt 'a'")}`,
    );
    expect([unsupported.status, unsupported.body]).toEqual([
      400,
      graphError("Request_UnsupportedQuery", "Unsupported Query."),
    ]);
  });

  it("answers getByIds with each object's @odata.type (az's _get_object_stubs), skipping unknown IDs", async () => {
    const response = await graph("POST", "/v1.0/directoryObjects/getByIds", deployerToken, {
      ids: [user().principalId, randomUUID()],
      types: ["user", "group", "servicePrincipal", "directoryObjectPartnerReference"],
    });
    expect(response.status).toBe(200);
    expect(response.body["@odata.context"]).toBe(`${azure.graphEndpoint}/v1.0/$metadata#directoryObjects`);
    expect((response.body.value as Array<Record<string, unknown>>).map((o) => [o["@odata.type"], o.id])).toEqual([
      ["#microsoft.graph.servicePrincipal", user().principalId],
    ]);
    const onlyUsers = await graph("POST", "/v1.0/directoryObjects/getByIds", deployerToken, {
      ids: [user().principalId],
      types: ["user"],
    });
    expect(onlyUsers.body.value).toEqual([]);
  });

  it("answers 404 Request_ResourceNotFound for an unknown ID and 400 for one that is not a GUID", async () => {
    const id = randomUUID();
    const missing = await graph("GET", `/v1.0/servicePrincipals/${id}`);
    expect([missing.status, missing.body]).toEqual([
      404,
      graphError(
        "Request_ResourceNotFound",
        `Resource '${id}' does not exist or one of its queried reference-property objects are not present.`,
      ),
    ]);
    expect(missing.headers["request-id"]).toBe(
      (missing.body.error as { innerError: Record<string, string> }).innerError["request-id"],
    );
    const malformed = await graph("GET", "/v1.0/servicePrincipals/not-a-guid");
    expect([malformed.status, malformed.body]).toEqual([
      400,
      graphError("Request_BadRequest", "Invalid object identifier 'not-a-guid'."),
    ]);
  });

  it("does not show an identity until the directory has replicated it, as a new identity is not at once in Graph", async () => {
    const before = azure.faults.directoryReplicationSeconds;
    azure.faults.directoryReplicationSeconds = 3600;
    try {
      expect((await graph("GET", `/v1.0/servicePrincipals/${user().principalId}`)).status).toBe(404);
    } finally {
      azure.faults.directoryReplicationSeconds = before;
    }
    expect((await graph("GET", `/v1.0/servicePrincipals/${user().principalId}`)).status).toBe(200);
  });
});

describe("Graph's tokens and refusals (Learn: Microsoft Graph error responses)", () => {
  it("accepts a token for its own URL, as az asks for it ({microsoftGraphResourceId}/.default)", async () => {
    const token = await graphToken(`${azure.graphEndpoint}//.default`);
    expect(claimsOf(token).aud).toBe(`${azure.graphEndpoint}/`);
    expect((await graph("GET", `/v1.0/servicePrincipals/${user().principalId}`, token)).status).toBe(200);
    expect(claimsOf(deployerToken).aud).toBe("https://graph.microsoft.com");
  });

  it("refuses no token, an ARM token and an expired one with 401 InvalidAuthenticationToken in Graph's shape", async () => {
    const path = `/v1.0/servicePrincipals/${user().principalId}`;
    expect(await graph("GET", path, null).then((r) => [r.status, r.body])).toEqual([
      401,
      graphError("InvalidAuthenticationToken", "Access token is empty."),
    ]);
    const arm = await azure.deployerToken();
    expect(await graph("GET", path, arm).then((r) => [r.status, r.body])).toEqual([
      401,
      graphError("InvalidAuthenticationToken", "Access token validation failure. Invalid audience."),
    ]);
    const expired = await azure.issueToken({
      principalId: azure.deployer.principalId,
      resource: "https://graph.microsoft.com",
      issuedAt: Math.floor(Date.now() / 1000) - 7200,
      lifetimeSeconds: 3600,
    });
    expect(await graph("GET", path, expired).then((r) => [r.status, r.body])).toEqual([
      401,
      graphError("InvalidAuthenticationToken", "Lifetime validation failed, the token is expired."),
    ]);
  });

  it("refuses a managed identity, which holds no Graph app role, with 403 Authorization_RequestDenied", async () => {
    const token = await azure.issueToken({ principalId: user().principalId, resource: "https://graph.microsoft.com/" });
    expect(
      await graph("GET", `/v1.0/servicePrincipals/${user().principalId}`, token).then((r) => [r.status, r.body]),
    ).toEqual([403, graphError("Authorization_RequestDenied", "Insufficient privileges to complete the operation.")]);
  });

  it("answers an unknown segment and a wrong method as Graph does", async () => {
    expect(await graph("GET", "/v1.0/groups").then((r) => [r.status, r.body])).toEqual([
      400,
      graphError("BadRequest", "Resource not found for the segment 'groups'."),
    ]);
    expect(await graph("GET", `/v1.0/servicePrincipals/${user().principalId}/owners`).then((r) => r.body)).toEqual(
      graphError("BadRequest", "Resource not found for the segment 'owners'."),
    );
    expect(
      await graph("DELETE", `/v1.0/servicePrincipals/${user().principalId}`).then((r) => [r.status, r.body]),
    ).toEqual([405, graphError("Request_BadRequest", "Specified HTTP method is not allowed for the request target.")]);
  });
});

describe("what az role assignment create --assignee <principalId> does, in its order", () => {
  it("resolves the principal's type through Graph, then ARM accepts the assignment with that principalType", async () => {
    const assignee = String(both.systemIdentity?.principalId);
    const byName = await graph(
      "GET",
      `/v1.0/servicePrincipals?$filter=${encodeURIComponent(`servicePrincipalNames/any(c:c eq '${assignee}')`)}`,
    );
    expect(byName.body.value).toEqual([]);
    const stubs = await graph("POST", "/v1.0/directoryObjects/getByIds", deployerToken, {
      ids: [assignee],
      types: ["user", "group", "servicePrincipal", "directoryObjectPartnerReference"],
    });
    const [stub] = stubs.body.value as Array<{ id: string; "@odata.type": string }>;
    // azure-cli's _odata_type_to_arm_principal_type: #microsoft.graph.servicePrincipal -> ServicePrincipal.
    expect(stub["@odata.type"]).toBe("#microsoft.graph.servicePrincipal");
    const scope = `/subscriptions/${azure.subscriptionId}/resourceGroups/graph-rg`;
    const created = await azure.arm.request(
      "PUT",
      `${scope}/providers/Microsoft.Authorization/roleAssignments/${randomUUID()}?api-version=2022-04-01`,
      {
        properties: {
          roleDefinitionId: `/subscriptions/${azure.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/b24988ac-6180-42a0-ab88-20f7382dd24c`,
          principalId: stub.id,
          principalType: "ServicePrincipal",
        },
      },
    );
    expect(created.status).toBe(201);
  });
});
