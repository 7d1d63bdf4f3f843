import { request as httpsRequest } from "node:https";
import type { LocalAzureTarget } from "./localAzureTarget";

/**
 * The deployer's ARM token, as azure-native gets it with a client secret: the OAuth 2.0
 * client-credentials grant at `{authorityHost}/{tenantId}/oauth2/v2.0/token` with scope
 * `{armEndpoint}/.default`, over HTTPS with Local Azure's CA. Cached until a minute before expiry.
 */

export interface DeployerToken {
  /** A valid bearer token (fetched, or cached). */
  (): Promise<string>;
}

function postForm(url: string, form: Record<string, string>, caPem: string): Promise<{ status: number; body: string }> {
  const payload = Buffer.from(new URLSearchParams(form).toString());
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      url,
      {
        method: "POST",
        ca: caPem,
        headers: { "content-type": "application/x-www-form-urlencoded", "content-length": payload.length },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

export function deployerToken(
  target: Pick<LocalAzureTarget, "authorityHost" | "tenantId" | "armEndpoint" | "caPem" | "deployer">,
  now: () => number = Date.now,
): DeployerToken {
  let cached: { token: string; expiresAt: number } | undefined;
  return async () => {
    if (cached && cached.expiresAt - 60_000 > now()) return cached.token;
    const url = `${target.authorityHost}/${target.tenantId}/oauth2/v2.0/token`;
    const answer = await postForm(
      url,
      {
        grant_type: "client_credentials",
        client_id: target.deployer.clientId,
        client_secret: target.deployer.clientSecret,
        scope: `${target.armEndpoint}/.default`,
      },
      target.caPem,
    );
    let body: { access_token?: string; expires_in?: number | string; error?: string; error_description?: string };
    try {
      body = JSON.parse(answer.body);
    } catch {
      body = {};
    }
    if (answer.status !== 200 || typeof body.access_token !== "string") {
      throw new Error(
        `signing in as the deployer at ${url} failed: ${answer.status} ${body.error ?? ""} ${body.error_description ?? answer.body.slice(0, 200)}`.trim(),
      );
    }
    cached = { token: body.access_token, expiresAt: now() + Number(body.expires_in ?? 3599) * 1000 };
    return cached.token;
  };
}

/** The `oid` claim of a JWT (the signed-in principal's object ID), without verifying it: it is our own token. */
export function tokenObjectId(token: string): string {
  const payload = token.split(".")[1] ?? "";
  const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as { oid?: unknown };
  if (typeof claims.oid !== "string") throw new Error("the deployer's token has no oid claim");
  return claims.oid;
}
