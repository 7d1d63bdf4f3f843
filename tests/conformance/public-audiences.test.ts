import { ResourceManagementClient } from "@azure/arm-resources";
import { ClientSecretCredential } from "@azure/identity";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ArmClient } from "../../local-azure/armClient";
import { LocalAzure, type SeededVm, seedVm } from "../../local-azure/index";
import { clientOptions, FAST_FAULTS, fixedCredential, refusal } from "./support/arm";
import { claimsOf, trusting } from "./support/identity";

/**
 * Local Azure impersonates the public cloud's ARM audiences (DESIGN.md "Local Azure as public Azure"):
 * its Entra and IMDS issue tokens for https://management.azure.com/ and https://management.core.windows.net/,
 * with and without the trailing slash, and its ARM accepts them beside its own URL, so a client that
 * keeps its default scope works unchanged. A token for any other audience is still refused.
 */

let azure: LocalAzure;
let seeded: SeededVm;

beforeAll(async () => {
  azure = await LocalAzure.start({ faults: FAST_FAULTS });
  seeded = await seedVm(azure, { identity: "user", resourceGroup: "public-rg", vmName: "public-vm" });
});
afterAll(() => azure.stop());

const deployer = () =>
  new ClientSecretCredential(azure.tenantId, azure.deployer.clientId, azure.deployer.clientSecret, {
    authorityHost: azure.authorityHost,
    disableInstanceDiscovery: true,
    ...trusting(azure.caCertPem),
  });

describe("Entra's v2.0 token endpoint (Learn: Scopes and permissions in the Microsoft identity platform, Trailing slash and /.default)", () => {
  it.each([
    ["https://management.azure.com/.default", "https://management.azure.com"],
    ["https://management.azure.com//.default", "https://management.azure.com/"],
    ["https://management.core.windows.net/.default", "https://management.core.windows.net"],
    ["https://management.core.windows.net//.default", "https://management.core.windows.net/"],
  ])("the scope %s gives aud %s, and ARM accepts the token", async (scope, audience) => {
    const credential = deployer();
    expect(claimsOf((await credential.getToken(scope)).token)).toMatchObject({
      aud: audience,
      oid: azure.deployer.principalId,
      appidacr: "1",
    });
    const client = new ResourceManagementClient(credential, azure.subscriptionId, {
      endpoint: azure.armEndpoint,
      credentialScopes: [scope],
      ...trusting(azure.caCertPem),
    });
    expect((await client.resourceGroups.get(seeded.resourceGroup)).id).toBe(seeded.resourceGroupId);
  });
});

describe("IMDS's resource= (Learn: How to use managed identities for Azure resources on an Azure VM to acquire an access token, Get a token using HTTP)", () => {
  it.each([
    "https://management.azure.com/",
    "https://management.azure.com",
    "https://management.core.windows.net/",
    "https://management.core.windows.net",
  ])("issues the VM's identity a token for %s, which ARM accepts", async (resource) => {
    const response = await fetch(
      `${seeded.imdsEndpoint}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=${encodeURIComponent(resource)}`,
      { headers: { Metadata: "true" } },
    );
    const body = (await response.json()) as { access_token: string; resource: string };
    expect([response.status, body.resource, claimsOf(body.access_token).aud]).toEqual([200, resource, resource]);
    const arm = new ArmClient(azure.armEndpoint, azure.caCertPem, async () => body.access_token);
    const group = await arm.request("GET", `${seeded.resourceGroupId}?api-version=2021-04-01`);
    expect([group.status, (group.body as { id?: string }).id]).toEqual([200, seeded.resourceGroupId]);
  });
});

describe("ARM's audience check (its 401 InvalidAuthenticationTokenAudience lists the audiences it allows)", () => {
  it("still refuses a token for another audience, naming its own URL and the public cloud's four", async () => {
    const token = await azure.issueToken({
      principalId: String(seeded.userIdentity?.principalId),
      resource: "https://graph.microsoft.com/",
    });
    const client = new ResourceManagementClient(fixedCredential(token), azure.subscriptionId, clientOptions(azure));
    const refused = await refusal(client.resourceGroups.get(seeded.resourceGroup));
    expect([refused.statusCode, refused.code]).toEqual([401, "InvalidAuthenticationTokenAudience"]);
    expect(refused.message).toBe(
      `The access token has been obtained for wrong audience or resource 'https://graph.microsoft.com/'. It should exactly match with one of the allowed audiences '${azure.armEndpoint}/','${azure.armEndpoint}','https://management.core.windows.net/','https://management.core.windows.net','https://management.azure.com/','https://management.azure.com'.`,
    );
  });
});
