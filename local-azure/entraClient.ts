import { request as httpsRequest } from "node:https";

/**
 * Signs in as an application with its client secret (OAuth 2.0 client-credentials grant at
 * `{authorityHost}/{tenantId}/oauth2/v2.0/token`), over the wire like any other client, and caches
 * the token until shortly before it expires. The runner and LocalAzure.arm get every deployer token
 * this way.
 */

export interface ClientSecretSignIn {
  authorityHost: string;
  tenantId: string;
  clientId: string;
  clientSecret: string;
  /** e.g. `${armEndpoint}/.default` */
  scope: string;
  /** The CA that signed the authority's certificate (PEM). */
  caPem: string;
}

/** Refresh this long before expiry, as MSAL does (5 minutes), so a request never carries a token about to lapse. */
const REFRESH_MARGIN_MS = 5 * 60_000;

export class EntraSignInError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly description: string,
  ) {
    // The description names the AADSTS code; it never holds a secret or a token.
    super(`sign-in failed (${status} ${error}): ${description}`);
    this.name = "EntraSignInError";
  }
}

export class ClientSecretTokenSource {
  private cached: { token: string; refreshAt: number } | null = null;
  private inFlight: Promise<string> | null = null;

  constructor(private readonly signIn: ClientSecretSignIn) {}

  /** A valid token: the cached one, or a fresh sign-in (one at a time). */
  async token(): Promise<string> {
    if (this.cached && Date.now() < this.cached.refreshAt) return this.cached.token;
    this.inFlight ??= this.fetchToken().finally(() => {
      this.inFlight = null;
    });
    return this.inFlight;
  }

  private async fetchToken(): Promise<string> {
    const { authorityHost, tenantId, clientId, clientSecret, scope, caPem } = this.signIn;
    const form = new URLSearchParams({
      grant_type: "client_credentials",
      client_id: clientId,
      client_secret: clientSecret,
      scope,
    }).toString();
    const started = Date.now();
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpsRequest(
        `${authorityHost}/${encodeURIComponent(tenantId)}/oauth2/v2.0/token`,
        {
          method: "POST",
          ca: caPem,
          headers: {
            "content-type": "application/x-www-form-urlencoded",
            "content-length": Buffer.byteLength(form),
            accept: "application/json",
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
        },
      );
      req.on("error", reject);
      req.end(form);
    });
    let parsed: { access_token?: string; expires_in?: number | string; error?: string; error_description?: string };
    try {
      parsed = JSON.parse(body);
    } catch {
      throw new EntraSignInError(status, "invalid_response", "the token endpoint did not answer JSON");
    }
    if (status !== 200 || typeof parsed.access_token !== "string") {
      throw new EntraSignInError(status, parsed.error ?? "unknown_error", parsed.error_description ?? "");
    }
    const lifetimeMs = Number(parsed.expires_in ?? 0) * 1000;
    this.cached = { token: parsed.access_token, refreshAt: started + Math.max(0, lifetimeMs - REFRESH_MARGIN_MS) };
    return parsed.access_token;
  }
}
