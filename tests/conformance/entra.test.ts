import { request } from "node:https";
import { ResourceManagementClient } from "@azure/arm-resources";
import { ClientSecretCredential } from "@azure/identity";
import { createLocalJWKSet, type JSONWebKeySet, jwtVerify } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalAzure } from "../../local-azure/index";
import { claimsOf, headerOf, rejectionOf, trusting } from "./support/identity";

/**
 * Local Azure's Entra as a deployer signs in to it: ClientSecretCredential from @azure/identity 4.13
 * (MSAL Node's confidential client) with `authorityHost` and `disableInstanceDiscovery`, the CA passed
 * through core-rest-pipeline's `tlsOptions` (IdentityClient, MSAL's network client, is built from the
 * credential's options). Then ARM accepts what it got.
 */

let azure: LocalAzure;
let scope: string;
let options: ConstructorParameters<typeof ClientSecretCredential>[3];

beforeAll(async () => {
  azure = await LocalAzure.start({ faults: { lroSeconds: 0 } });
  scope = `${azure.armEndpoint}/.default`;
  options = { authorityHost: azure.authorityHost, disableInstanceDiscovery: true, ...trusting(azure.caCertPem) };
});
afterAll(() => azure.stop());

/** A request to Entra's endpoints trusting Local Azure's CA: status and parsed JSON. */
function call(
  method: "GET" | "POST",
  path: string,
  form?: Record<string, string>,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const payload = form ? new URLSearchParams(form).toString() : undefined;
  return new Promise((resolve, reject) => {
    const req = request(
      `${azure.authorityHost}${path}`,
      {
        method,
        ca: azure.caCertPem,
        headers: payload ? { "content-type": "application/x-www-form-urlencoded" } : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString("utf8")) }),
        );
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

/**
 * Entra's error body, as raw 401/400 bodies quoted in issue threads show it (e.g. Azure/sap-automation#418,
 * OfficeDev/microsoft-365-agents-toolkit#8621): the AADSTS code leads the description, then CRLF-separated
 * trace and correlation IDs and the timestamp; error_codes, timestamp, trace_id, correlation_id, error_uri.
 */
function entraError(status: number, error: string, code: number, message: string) {
  const escaped = message.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return {
    status,
    body: {
      error,
      error_description: expect.stringMatching(
        new RegExp(
          `^AADSTS${code}: ${escaped}\r\nTrace ID: [0-9a-f-]{36}\r\nCorrelation ID: [0-9a-f-]{36}\r\nTimestamp: \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\dZ$`,
        ),
      ),
      error_codes: [code],
      timestamp: expect.any(String),
      trace_id: expect.any(String),
      correlation_id: expect.any(String),
      error_uri: `${azure.authorityHost}/error?code=${code}`,
    },
  };
}

describe("OpenID discovery and keys (Learn: OpenID Connect on the Microsoft identity platform, Find your app's OpenID configuration document URI)", () => {
  it("publishes the tenant's v2.0 configuration: token endpoint, keys, issuer", async () => {
    const { status, body } = await call("GET", `/${azure.tenantId}/v2.0/.well-known/openid-configuration`);
    expect(status).toBe(200);
    expect(body).toMatchObject({
      token_endpoint: `${azure.authorityHost}/${azure.tenantId}/oauth2/v2.0/token`,
      jwks_uri: `${azure.authorityHost}/${azure.tenantId}/discovery/v2.0/keys`,
      issuer: `${azure.authorityHost}/${azure.tenantId}/v2.0`,
      authorization_endpoint: `${azure.authorityHost}/${azure.tenantId}/oauth2/v2.0/authorize`,
      id_token_signing_alg_values_supported: ["RS256"],
    });
  });

  it("refuses discovery for a tenant it does not hold (AADSTS90002)", async () => {
    const tenant = "00000000-0000-4000-8000-0000000000ff";
    expect(await call("GET", `/${tenant}/v2.0/.well-known/openid-configuration`)).toEqual(
      entraError(
        400,
        "invalid_tenant",
        90002,
        `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`,
      ),
    );
  });

  it("serves the RSA signing keys that verify the tokens it issues", async () => {
    const { status, body } = await call("GET", `/${azure.tenantId}/discovery/v2.0/keys`);
    expect(status).toBe(200);
    const keys = body as unknown as JSONWebKeySet;
    expect(keys.keys).toHaveLength(1);
    expect(keys.keys[0]).toMatchObject({ kty: "RSA", use: "sig", alg: "RS256", kid: expect.any(String) });
    const token = await new ClientSecretCredential(
      azure.tenantId,
      azure.deployer.clientId,
      azure.deployer.clientSecret,
      options,
    ).getToken(scope);
    expect(headerOf(token.token)).toMatchObject({ alg: "RS256", kid: keys.keys[0].kid });
    const { payload } = await jwtVerify(token.token, createLocalJWKSet(keys), {
      issuer: `https://sts.windows.net/${azure.tenantId}/`,
      audience: azure.armEndpoint,
    });
    expect(payload.oid).toBe(azure.deployer.principalId);
  });
});

describe("the deployer signs in with ClientSecretCredential (Learn: Microsoft identity platform and the OAuth 2.0 client credentials flow)", () => {
  it("gets a v1 token for ARM: aud is the scope without /.default, the deployer's appid and oid, appidacr 1", async () => {
    const credential = new ClientSecretCredential(
      azure.tenantId,
      azure.deployer.clientId,
      azure.deployer.clientSecret,
      options,
    );
    const token = await credential.getToken(scope);
    expect(token.tokenType).toBe("Bearer");
    expect(token.expiresOnTimestamp).toBeGreaterThan(Date.now() + 50 * 60_000);
    const claims = claimsOf(token.token);
    // ARM is a v1 resource: its tokens come from sts.windows.net with ver 1.0, whichever endpoint issued them.
    expect(claims).toMatchObject({
      aud: azure.armEndpoint,
      iss: `https://sts.windows.net/${azure.tenantId}/`,
      idp: `https://sts.windows.net/${azure.tenantId}/`,
      appid: azure.deployer.clientId,
      appidacr: "1",
      oid: azure.deployer.principalId,
      sub: azure.deployer.principalId,
      tid: azure.tenantId,
      idtyp: "app",
      ver: "1.0",
    });
    expect(claims).not.toHaveProperty("xms_mirid");
  });

  it("answers the raw client-credentials grant as Entra's v2.0 endpoint does (numbers for expires_in)", async () => {
    const { status, body } = await call("POST", `/${azure.tenantId}/oauth2/v2.0/token`, {
      grant_type: "client_credentials",
      client_id: azure.deployer.clientId,
      client_secret: azure.deployer.clientSecret,
      scope,
    });
    expect([status, Object.keys(body).sort()]).toEqual([
      200,
      ["access_token", "expires_in", "ext_expires_in", "token_type"],
    ]);
    expect([body.token_type, body.expires_in, body.ext_expires_in]).toEqual(["Bearer", 3599, 3599]);
  });

  it("is accepted by ARM: @azure/arm-resources creates and reads a resource group as the deployer (Owner)", async () => {
    const credential = new ClientSecretCredential(
      azure.tenantId,
      azure.deployer.clientId,
      azure.deployer.clientSecret,
      options,
    );
    const client = new ResourceManagementClient(credential, azure.subscriptionId, {
      endpoint: azure.armEndpoint,
      credentialScopes: [scope],
      ...trusting(azure.caCertPem),
    });
    await client.resourceGroups.createOrUpdate("rg-deployer", { location: azure.location });
    const group = await client.resourceGroups.get("rg-deployer");
    expect([group.name, group.location, group.properties?.provisioningState]).toEqual([
      "rg-deployer",
      azure.location,
      "Succeeded",
    ]);
  });

  it("gives aud with the trailing slash for the scope ARM//.default, which ARM accepts too", async () => {
    // Learn "Scopes and permissions" (Trailing slash and /.default): the v1 resource is the scope minus
    // "/.default"; ARM allows its audience with and without the slash (its InvalidAuthenticationTokenAudience
    // message lists 'https://management.azure.com/' and 'https://management.azure.com').
    const credential = new ClientSecretCredential(
      azure.tenantId,
      azure.deployer.clientId,
      azure.deployer.clientSecret,
      options,
    );
    const token = await credential.getToken(`${azure.armEndpoint}//.default`);
    expect(claimsOf(token.token).aud).toBe(`${azure.armEndpoint}/`);
    const client = new ResourceManagementClient(credential, azure.subscriptionId, {
      endpoint: azure.armEndpoint,
      credentialScopes: [`${azure.armEndpoint}//.default`],
      ...trusting(azure.caCertPem),
    });
    expect((await client.resourceGroups.checkExistence("rg-nothing-here")).body).toBe(false);
  });

  it("LocalAzure's own deployer token comes from the same token endpoint, cached", async () => {
    const first = await azure.deployerToken();
    // Only the client-secret sign-in at the token endpoint issues appidacr 1.
    expect(claimsOf(first)).toMatchObject({ appid: azure.deployer.clientId, appidacr: "1", aud: azure.armEndpoint });
    expect((await azure.deployerToken()) === first).toBe(true);
  });
});

describe("refusals, as the SDK meets them (Learn: Microsoft Entra authentication and authorization error codes)", () => {
  it("refuses a wrong secret with invalid_client AADSTS7000215, HTTP 401", async () => {
    expect(
      await call("POST", `/${azure.tenantId}/oauth2/v2.0/token`, {
        grant_type: "client_credentials",
        client_id: azure.deployer.clientId,
        client_secret: "not-the-secret",
        scope,
      }),
    ).toEqual(
      entraError(
        401,
        "invalid_client",
        7000215,
        `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${azure.deployer.clientId}'.`,
      ),
    );
  });

  it("ClientSecretCredential rejects a wrong secret naming invalid_client and AADSTS7000215", async () => {
    const error = await rejectionOf(
      new ClientSecretCredential(azure.tenantId, azure.deployer.clientId, "not-the-secret", options).getToken(scope),
    );
    // @azure/identity 4.13 wraps MSAL's ServerError in AuthenticationRequiredError (msal/utils.js handleMsalError).
    expect(error.name).toBe("AuthenticationRequiredError");
    expect(error.message).toMatch(
      /^invalid_client: Error\(s\): 7000215 - .* Description: AADSTS7000215: Invalid client secret provided\./,
    );
    expect(error.message).not.toContain("not-the-secret");
  });

  it("refuses an application it does not know with unauthorized_client AADSTS700016", async () => {
    const clientId = "11111111-1111-4111-8111-111111111111";
    expect(
      await call("POST", `/${azure.tenantId}/oauth2/v2.0/token`, {
        grant_type: "client_credentials",
        client_id: clientId,
        client_secret: "x",
        scope,
      }),
    ).toEqual(
      entraError(
        400,
        "unauthorized_client",
        700016,
        `Application with identifier '${clientId}' was not found in the directory '${azure.tenantId}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`,
      ),
    );
  });

  it("refuses a missing secret (AADSTS7000218), a scope without /.default (AADSTS1002012), an unknown resource (AADSTS500011) and another grant (AADSTS70003)", async () => {
    const base = { grant_type: "client_credentials", client_id: azure.deployer.clientId };
    const token = (form: Record<string, string>) => call("POST", `/${azure.tenantId}/oauth2/v2.0/token`, form);
    expect(await token({ ...base, scope })).toEqual(
      entraError(
        401,
        "invalid_client",
        7000218,
        "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
      ),
    );
    const withSecret = { ...base, client_secret: azure.deployer.clientSecret };
    expect(await token({ ...withSecret, scope: `${azure.armEndpoint}/user_impersonation` })).toEqual(
      entraError(
        400,
        "invalid_scope",
        1002012,
        `The provided value for scope ${azure.armEndpoint}/user_impersonation is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
      ),
    );
    expect(await token({ ...withSecret, scope: "https://vault.example/.default" })).toEqual(
      entraError(
        400,
        "invalid_resource",
        500011,
        `The resource principal named https://vault.example was not found in the tenant named ${azure.tenantId}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.`,
      ),
    );
    expect(await token({ ...withSecret, grant_type: "password", scope })).toEqual(
      entraError(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type 'password'."),
    );
  });

  it("ClientSecretCredential for a tenant Entra does not hold fails at discovery", async () => {
    const error = await rejectionOf(
      new ClientSecretCredential(
        "00000000-0000-4000-8000-0000000000ff",
        azure.deployer.clientId,
        azure.deployer.clientSecret,
        options,
      ).getToken(scope),
    );
    expect([error.name, error.message]).toEqual([
      "CredentialUnavailableError",
      "endpoints_resolution_error: See https://aka.ms/msal.js.errors#endpoints_resolution_error for details",
    ]);
  });
});
