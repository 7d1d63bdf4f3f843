import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import type { Entra } from "./entra";

/**
 * Entra ID's sign-in endpoints over HTTPS, for any client (MSAL's ClientSecretCredential with
 * `authorityHost` and `disableInstanceDiscovery`): OpenID discovery, the v2.0 token endpoint for the
 * client-credentials grant, and the signing keys. Errors are Entra's: `{error, error_description
 * "AADSTSnnn: …", error_codes, timestamp, trace_id, correlation_id, error_uri}`.
 */

export interface EntraHttpContext {
  entra: Entra;
  /** The resources a token may be asked for (ARM's audiences); the v1 resource is the scope without "/.default". */
  resources: () => string[];
}

type Reply = { status: number; body: unknown };

/** Access tokens for ARM from Entra live 60-90 minutes; a fixed hour less a second, as `expires_in` shows. */
const TOKEN_LIFETIME_SECONDS = 3599;

function entraError(status: number, error: string, code: number, message: string, host: string): Reply {
  const traceId = randomUUID();
  const correlationId = randomUUID();
  const timestamp = new Date()
    .toISOString()
    .replace("T", " ")
    .replace(/\.\d+Z$/, "Z");
  return {
    status,
    body: {
      error,
      // Entra separates the message and the IDs with CRLF, as its raw bodies show.
      error_description: `AADSTS${code}: ${message}\r\nTrace ID: ${traceId}\r\nCorrelation ID: ${correlationId}\r\nTimestamp: ${timestamp}`,
      error_codes: [code],
      timestamp,
      trace_id: traceId,
      correlation_id: correlationId,
      error_uri: `${host}/error?code=${code}`,
    },
  };
}

function openIdConfiguration(host: string, tenantId: string) {
  const base = `${host}/${tenantId}`;
  return {
    token_endpoint: `${base}/oauth2/v2.0/token`,
    token_endpoint_auth_methods_supported: ["client_secret_post", "private_key_jwt", "client_secret_basic"],
    jwks_uri: `${base}/discovery/v2.0/keys`,
    response_modes_supported: ["query", "fragment", "form_post"],
    subject_types_supported: ["pairwise"],
    id_token_signing_alg_values_supported: ["RS256"],
    response_types_supported: ["code", "id_token", "code id_token", "id_token token"],
    scopes_supported: ["openid", "profile", "email", "offline_access"],
    issuer: `${base}/v2.0`,
    request_uri_parameter_supported: false,
    userinfo_endpoint: `${host}/oidc/userinfo`,
    authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
    device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
    http_logout_supported: true,
    frontchannel_logout_supported: true,
    end_session_endpoint: `${base}/oauth2/v2.0/logout`,
    claims_supported: ["sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "nonce", "tid", "ver", "oid"],
    tenant_region_scope: null,
    cloud_instance_name: "local-azure",
    cloud_graph_host_name: "",
    msgraph_host: "",
    rbac_url: "",
  };
}

/** The client-credentials grant, checked in Entra's order: tenant, grant, client, secret, scope. */
async function tokenReply(
  ctx: EntraHttpContext,
  host: string,
  tenant: string,
  req: IncomingMessage,
  form: URLSearchParams,
) {
  const { entra } = ctx;
  if (tenant.toLowerCase() !== entra.tenantId.toLowerCase()) {
    return entraError(
      400,
      "invalid_request",
      90002,
      `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`,
      host,
    );
  }
  const grantType = form.get("grant_type") ?? "";
  if (grantType !== "client_credentials") {
    return entraError(
      400,
      "unsupported_grant_type",
      70003,
      `The app requested an unsupported grant type '${grantType}'.`,
      host,
    );
  }
  // client_secret_post, or client_secret_basic in the Authorization header.
  let clientId = form.get("client_id") ?? "";
  let secret = form.get("client_secret");
  const basic = /^Basic (.+)$/i.exec(String(req.headers.authorization ?? ""))?.[1];
  if (basic) {
    const [id, ...rest] = Buffer.from(basic, "base64").toString("utf8").split(":");
    clientId = decodeURIComponent(id ?? "");
    secret = decodeURIComponent(rest.join(":"));
  }
  const application = clientId ? entra.application(clientId) : undefined;
  if (!application) {
    return entraError(
      400,
      "unauthorized_client",
      700016,
      `Application with identifier '${clientId}' was not found in the directory '${entra.tenantId}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`,
      host,
    );
  }
  if (!secret) {
    return entraError(
      401,
      "invalid_client",
      7000218,
      "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
      host,
    );
  }
  if (!entra.secretMatches(application, secret)) {
    return entraError(
      401,
      "invalid_client",
      7000215,
      `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${application.clientId}'.`,
      host,
    );
  }
  const scopes = (form.get("scope") ?? "").split(/\s+/).filter(Boolean);
  const scope = scopes.find((s) => s.endsWith("/.default"));
  if (scopes.length !== 1 || !scope) {
    return entraError(
      400,
      "invalid_scope",
      1002012,
      `The provided value for scope ${scopes.join(" ")} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
      host,
    );
  }
  // The v1 resource is the scope without "/.default" (so ARM's "https://…/.default" gives aud "https://…").
  const resource = scope.slice(0, -"/.default".length);
  if (!ctx.resources().includes(resource)) {
    return entraError(
      400,
      "invalid_resource",
      500011,
      `The resource principal named ${resource} was not found in the tenant named ${entra.tenantId}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.`,
      host,
    );
  }
  const issued = await entra.issue({
    principalId: application.principalId,
    clientId: application.clientId,
    resourceId: "",
    resource,
    lifetimeSeconds: TOKEN_LIFETIME_SECONDS,
    kind: "servicePrincipal",
  });
  return {
    status: 200,
    body: {
      token_type: "Bearer",
      expires_in: TOKEN_LIFETIME_SECONDS,
      ext_expires_in: TOKEN_LIFETIME_SECONDS,
      access_token: issued.token,
    },
  };
}

async function reply(ctx: EntraHttpContext, host: string, req: IncomingMessage, body: string): Promise<Reply> {
  const url = new URL(String(req.url), host);
  const parts = url.pathname.split("/").filter(Boolean);
  const tenant = parts[0] ?? "";
  const rest = parts.slice(1).join("/");
  const knownTenant = tenant.toLowerCase() === ctx.entra.tenantId.toLowerCase();
  if (req.method === "GET" && rest === "v2.0/.well-known/openid-configuration") {
    if (!knownTenant) {
      return entraError(
        400,
        "invalid_tenant",
        90002,
        `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`,
        host,
      );
    }
    return { status: 200, body: openIdConfiguration(host, ctx.entra.tenantId) };
  }
  if (req.method === "GET" && (rest === "discovery/v2.0/keys" || rest === "discovery/keys")) {
    return { status: 200, body: ctx.entra.jwks };
  }
  if (rest === "oauth2/v2.0/token") {
    if (req.method !== "POST") {
      return entraError(405, "invalid_request", 900561, "The endpoint only accepts POST requests.", host);
    }
    return tokenReply(ctx, host, tenant, req, new URLSearchParams(body));
  }
  return { status: 404, body: { error: "not_found", error_description: `No route for ${req.method} ${url.pathname}` } };
}

/** Starts Entra's endpoints on 127.0.0.1 with Local Azure's server certificate; resolves to the authority host. */
export async function startEntraServer(
  ctx: EntraHttpContext,
  tls: { cert: string; key: string },
  /** 0 picks a free port; a kept Local Azure passes its old one. */
  port = 0,
): Promise<{ authorityHost: string; server: Server }> {
  let host = "";
  const server = createServer(tls, (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size <= 64 * 1024) chunks.push(chunk);
    });
    req.on("end", () => {
      reply(ctx, host, req, Buffer.concat(chunks).toString("utf8"))
        .catch(
          (error: Error): Reply => ({ status: 500, body: { error: "server_error", error_description: error.message } }),
        )
        .then((result) => {
          // Tokens are never cached by a client or a proxy (as Entra answers).
          res
            .writeHead(result.status, {
              "content-type": "application/json; charset=utf-8",
              "cache-control": "no-store, no-cache",
              pragma: "no-cache",
            })
            .end(JSON.stringify(result.body));
        });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  host = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { authorityHost: host, server };
}
