import { ResourceManagementClient } from "@azure/arm-resources";
import { ResourceManagementClient as ResourceManagementClientV8 } from "@azure/arm-resources-v8";
import {
  createDefaultHttpClient,
  createHttpHeaders,
  createPipelineFromOptions,
  createPipelineRequest,
  isRestError,
} from "@azure/core-rest-pipeline";
import { ClientSecretCredential } from "@azure/identity";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalAzure, type SeededVm, seedVm } from "../../local-azure/index";
import { clientOptions, FAST_FAULTS, fixedCredential, refusal } from "./support/arm";

/**
 * How Local Azure's ARM refuses a request it cannot authenticate, as Microsoft's clients meet it:
 * 401 with ARM's error codes in the body (which the SDK turns into RestError.code) and a
 * `WWW-Authenticate: Bearer authorization_uri="…", error="invalid_token", error_description="…"`
 * challenge (RFC 6750 section 3). ARM's header form is the one Microsoft's own ARM mock copies
 * (Azure/aks-engine pkg/armhelpers, HTTPMockClient.RegisterLogin); the codes are those of Learn,
 * "Troubleshoot common Azure deployment errors" (InvalidAuthenticationToken,
 * ExpiredAuthenticationToken, InvalidAuthenticationTokenAudience).
 */

let azure: LocalAzure;
let seeded: SeededVm;
let principalId: string;
let loginEndpoint: string;

beforeAll(async () => {
  azure = await LocalAzure.start({ faults: FAST_FAULTS });
  seeded = await seedVm(azure, { identity: "user", resourceGroup: "auth-rg", vmName: "auth-vm" });
  principalId = String(seeded.userIdentity?.principalId);
  const metadata = await send(`${azure.armEndpoint}/metadata/endpoints?api-version=2022-09-01`);
  loginEndpoint = (JSON.parse(String(metadata.bodyAsText)) as { authentication: { loginEndpoint: string } })
    .authentication.loginEndpoint;
});
afterAll(() => azure.stop());

/** One request through Microsoft's HTTP pipeline (retries, TLS with Local Azure's CA) and no credential. */
async function send(url: string, headers: Record<string, string> = {}) {
  const pipeline = createPipelineFromOptions({ tlsOptions: { ca: azure.caCertPem } });
  const request = createPipelineRequest({ url, method: "GET", headers: createHttpHeaders(headers) });
  return pipeline.sendRequest(createDefaultHttpClient(), request);
}

/** The challenge ARM sends with every 401. */
const challenge = (description: string) =>
  `Bearer authorization_uri="${loginEndpoint}/${azure.tenantId}", error="invalid_token", error_description="${description}"`;

/** resourceGroups.get with a client whose credential hands out `token`: what the SDK throws, and how many requests it sent. */
async function getWith(token: string) {
  const client = new ResourceManagementClient(fixedCredential(token), azure.subscriptionId, clientOptions(azure));
  const before = azure.requestLog.length;
  try {
    await client.resourceGroups.get(seeded.resourceGroup);
  } catch (error) {
    if (!isRestError(error)) throw error;
    return {
      status: error.statusCode,
      code: error.code,
      message: error.message,
      challenge: error.response?.headers.get("www-authenticate"),
      requests: azure.requestLog.length - before,
    };
  }
  throw new Error("expected the request to be refused");
}

const token = (options: Partial<Parameters<LocalAzure["issueToken"]>[0]> = {}) =>
  azure.issueToken({ principalId, resource: `${azure.armEndpoint}/`, ...options });

describe("ARM authentication failures", () => {
  it("no token: 401 AuthenticationFailed with ARM's Bearer challenge naming the tenant's authority", async () => {
    const response = await send(`${azure.armEndpoint}${seeded.resourceGroupId}?api-version=2021-04-01`);
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toBe(
      challenge("The authentication failed because of missing 'Authorization' header."),
    );
    expect(JSON.parse(String(response.bodyAsText))).toEqual({
      error: { code: "AuthenticationFailed", message: "Authentication failed. The 'Authorization' header is missing." },
    });
  });

  it("a scheme other than Bearer counts as no token", async () => {
    const response = await send(`${azure.armEndpoint}${seeded.resourceGroupId}?api-version=2021-04-01`, {
      authorization: "Basic dXNlcjpwYXNz",
    });
    expect([response.status, response.headers.get("www-authenticate")]).toEqual([
      401,
      challenge("The authentication failed because of missing 'Authorization' header."),
    ]);
  });

  it("expired token: 401 ExpiredAuthenticationToken, one request (the SDK does not retry a 401 without a claims challenge)", async () => {
    const expired = await token({ issuedAt: Math.floor(Date.now() / 1000) - 7200, lifetimeSeconds: 3600 });
    const refused = await getWith(expired);
    expect(refused).toEqual({
      status: 401,
      code: "ExpiredAuthenticationToken",
      message: "The access token expiry UTC time is earlier than current UTC time.",
      challenge: challenge("The access token expiry UTC time is earlier than current UTC time."),
      requests: 1,
    });
  });

  it("token for another audience: 401 InvalidAuthenticationTokenAudience", async () => {
    const refused = await getWith(await token({ resource: "https://graph.microsoft.com/" }));
    expect([refused.status, refused.code, refused.requests]).toEqual([401, "InvalidAuthenticationTokenAudience", 1]);
    expect(refused.message).toBe(
      `The access token has been obtained for wrong audience or resource 'https://graph.microsoft.com/'. It should exactly match with one of the allowed audiences '${azure.armEndpoint}/','${azure.armEndpoint}','https://management.core.windows.net/','https://management.core.windows.net','https://management.azure.com/','https://management.azure.com'.`,
    );
    expect(refused.challenge).toBe(challenge(refused.message));
  });

  it("token signed by a key outside the JWKS: 401 InvalidAuthenticationToken", async () => {
    const refused = await getWith(await token({ signWith: "foreign" }));
    expect(refused).toMatchObject({ status: 401, code: "InvalidAuthenticationToken", requests: 1 });
    expect(refused.challenge).toBe(challenge("The access token is invalid."));
  });

  it("token signed by the trusted key but from an issuer that is not Entra: 401 InvalidAuthenticationToken", async () => {
    const refused = await getWith(await token({ issuer: "https://issuer.example/" }));
    expect(refused).toMatchObject({ status: 401, code: "InvalidAuthenticationToken", requests: 1 });
    expect(refused.challenge).toBe(challenge("The access token is invalid."));
  });

  it("a token another tenant issued: 401 InvalidAuthenticationTokenTenant, naming the authority to sign in at", async () => {
    const other = "00000000-0000-4000-8000-0000000000aa";
    const refused = await getWith(await token({ issuer: `https://sts.windows.net/${other}/` }));
    const message = `The access token is from the wrong issuer 'https://sts.windows.net/${other}/'. It must match the tenant 'https://sts.windows.net/${azure.tenantId}/' associated with this subscription. Please use the authority (URL) '${loginEndpoint}/${azure.tenantId}' to get the token. Note, if the subscription is transferred to another tenant there is no impact to the services, but information about new tenant could take time to propagate (up to an hour). If you just transferred your subscription and see this error message, please try back later.`;
    expect(refused).toEqual({
      status: 401,
      code: "InvalidAuthenticationTokenTenant",
      message,
      challenge: challenge(message),
      requests: 1,
    });
  });

  it("the deployer of another cloud (its own tenant, the same Entra keys) signs in with ClientSecretCredential: its token is another tenant's", async () => {
    const elsewhere = await LocalAzure.start({ faults: FAST_FAULTS, tenantId: "0e0e0e0e-0000-4000-8000-0000000000bb" });
    try {
      const credential = new ClientSecretCredential(
        elsewhere.tenantId,
        elsewhere.deployer.clientId,
        elsewhere.deployer.clientSecret,
        {
          authorityHost: elsewhere.authorityHost,
          disableInstanceDiscovery: true,
          tlsOptions: { ca: elsewhere.caCertPem },
        },
      );
      // The newest SDK's default scope: a token for https://management.azure.com, which this ARM also accepts.
      const client = new ResourceManagementClientV8(credential, azure.subscriptionId, {
        endpoint: azure.armEndpoint,
        tlsOptions: { ca: azure.caCertPem },
      });
      const refused = await refusal(client.resourceGroups.get(seeded.resourceGroup));
      expect([refused.statusCode, refused.code]).toEqual([401, "InvalidAuthenticationTokenTenant"]);
      expect(refused.message).toContain(
        `The access token is from the wrong issuer 'https://sts.windows.net/${elsewhere.tenantId}/'. It must match the tenant 'https://sts.windows.net/${azure.tenantId}/' associated with this subscription.`,
      );
    } finally {
      await elsewhere.stop();
    }
  });

  it("a token that is not a JWT: 401 InvalidAuthenticationToken", async () => {
    const refused = await getWith("not.a.jwt");
    expect([refused.status, refused.code]).toEqual([401, "InvalidAuthenticationToken"]);
  });

  it("the same identity with a good token reads its group: the failures above were the token's alone", async () => {
    const client = new ResourceManagementClient(
      fixedCredential(await token()),
      azure.subscriptionId,
      clientOptions(azure),
    );
    expect((await client.resourceGroups.get(seeded.resourceGroup)).id).toBe(seeded.resourceGroupId);
  });
});
