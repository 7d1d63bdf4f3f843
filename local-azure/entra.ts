import { createHash, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import {
  createLocalJWKSet,
  errors,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JSONWebKeySet,
  type JWK,
  jwtVerify,
  SignJWT,
} from "jose";

/**
 * Local Azure's Entra ID: RS256 access tokens with the claims of real managed-identity and
 * service-principal (client secret) tokens, a JWKS to verify them, the verdicts ARM gives a bad
 * token, and the applications that may sign in with a client secret (entraHttp.ts serves them).
 */

export interface TokenRequest {
  principalId: string;
  clientId: string;
  /** The identity's ARM resource ID (xms_mirid). */
  resourceId: string;
  /** The audience, exactly as requested. */
  resource: string;
  issuedAt?: number;
  lifetimeSeconds?: number;
  signWith?: "trusted" | "foreign";
  /** The `iss` claim; default this tenant's issuer. Tests set another to see ARM refuse it. */
  issuer?: string;
  /** managedIdentity (default): xms_mirid, appidacr 2. servicePrincipal: signed in with a client secret, appidacr 1. */
  kind?: "managedIdentity" | "servicePrincipal";
}

/** An application registration with a client secret (a service principal in this tenant). */
export interface Application {
  clientId: string;
  principalId: string;
  /** SHA-256 of the secret: the directory never keeps the secret itself. */
  secretHash: Buffer;
}

export interface VerifiedToken {
  oid: string;
  appid: string;
}

export type TokenVerdict =
  | { ok: true; token: VerifiedToken }
  | {
      ok: false;
      code:
        | "InvalidAuthenticationToken"
        | "ExpiredAuthenticationToken"
        | "InvalidAuthenticationTokenAudience"
        | "InvalidAuthenticationTokenTenant";
      message: string;
    };

type SigningKey = Awaited<ReturnType<typeof generateKeyPair>>["privateKey"];

/** Entra's signing keys as JWKs: the trusted key, the foreign one tests forge with, and the published half. */
export interface EntraKeys {
  kid: string;
  trusted: JWK;
  foreign: JWK;
  publicJwk: JWK;
}

const sha256 = (text: string) => createHash("sha256").update(text, "utf8").digest();

interface PublishedKey {
  kid: string;
  privateKey: SigningKey;
  publicJwk: JWK;
}

/** A promise made once, on first use, then shared. */
function once<T>(make: () => Promise<T>): () => Promise<T> {
  let made: Promise<T> | undefined;
  return () => {
    made ??= make();
    return made;
  };
}

// Entra signs every tenant's tokens with the same published keys (one JWKS for all of them), so the
// Local Azures of one process share one signing key, as tenants of one Entra do. An RSA-2048 pair
// costs about 170 ms of CPU, and the tests start dozens of clouds.
const processSigningKey = once(async (): Promise<PublishedKey> => {
  const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true });
  const kid = randomUUID();
  return { kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg: "RS256", use: "sig" } };
});

// The key a forger holds, which no JWKS publishes: only tests ask for it, so it is made when first asked for.
const processForeignKey = once(async () => (await generateKeyPair("RS256", { extractable: true })).privateKey);

export class Entra {
  private readonly applications = new Map<string, Application>();

  private constructor(
    readonly tenantId: string,
    private readonly signingKey: SigningKey,
    private readonly foreignKey: () => Promise<SigningKey>,
    private readonly kid: string,
    readonly jwks: JSONWebKeySet,
  ) {}

  /** A fresh Entra, or (a kept Local Azure restarting) one with the signing keys `exportKeys` gave. */
  static async create(tenantId: string, saved?: EntraKeys): Promise<Entra> {
    if (saved) {
      const [trusted, foreign] = await Promise.all(
        [saved.trusted, saved.foreign].map(
          (jwk) => importJWK(jwk, "RS256", { extractable: true }) as Promise<SigningKey>,
        ),
      );
      return new Entra(tenantId, trusted, async () => foreign, saved.kid, { keys: [saved.publicJwk] });
    }
    const published = await processSigningKey();
    return new Entra(tenantId, published.privateKey, processForeignKey, published.kid, {
      keys: [published.publicJwk],
    });
  }

  /** The signing keys, for a Local Azure that keeps its cloud between runs (local-azure/persist.ts). */
  async exportKeys(): Promise<EntraKeys> {
    return {
      kid: this.kid,
      trusted: await exportJWK(this.signingKey),
      foreign: await exportJWK(await this.foreignKey()),
      publicJwk: this.jwks.keys[0],
    };
  }

  get issuer(): string {
    return `https://sts.windows.net/${this.tenantId}/`;
  }

  /**
   * Registers an application that signs in with a client secret; returns the generated secret (shaped
   * like Entra's: 40 characters with a "~"), which only the caller keeps.
   */
  registerApplication(clientId: string, principalId: string, keptSecret?: string): string {
    const secret =
      keptSecret ?? `${randomBytes(3).toString("base64url")}8Q~${randomBytes(27).toString("base64url")}`.slice(0, 40);
    this.applications.set(clientId.toLowerCase(), { clientId, principalId, secretHash: sha256(secret) });
    return secret;
  }

  application(clientId: string): Application | undefined {
    return this.applications.get(clientId.toLowerCase());
  }

  /** Whether `secret` is the application's client secret (compared in constant time). */
  secretMatches(application: Application, secret: string): boolean {
    return timingSafeEqual(application.secretHash, sha256(secret));
  }

  /** An access token; `foreign` signs with a key the JWKS does not hold (a forgery). */
  async issue(request: TokenRequest): Promise<{ token: string; expiresOn: number; notBefore: number }> {
    const issuedAt = request.issuedAt ?? Math.floor(Date.now() / 1000);
    const expiresOn = issuedAt + (request.lifetimeSeconds ?? 86_399);
    const kind =
      request.kind === "servicePrincipal"
        ? // A client-secret sign-in (v1 token for a v1 resource such as ARM): appidacr 1, the issuer as idp.
          { appidacr: "1", idp: this.issuer }
        : {
            appidacr: "2",
            // Real tokens spell the resource group segment in lower case.
            xms_mirid: request.resourceId.replace(/\/resourceGroups\//i, "/resourcegroups/"),
          };
    const token = await new SignJWT({
      aud: request.resource,
      oid: request.principalId,
      sub: request.principalId,
      tid: this.tenantId,
      appid: request.clientId,
      ...kind,
      idtyp: "app",
      uti: randomUUID().replace(/-/g, ""),
      ver: "1.0",
    })
      .setProtectedHeader({ alg: "RS256", typ: "JWT", kid: this.kid })
      .setIssuer(request.issuer ?? this.issuer)
      .setIssuedAt(issuedAt)
      .setNotBefore(issuedAt)
      .setExpirationTime(expiresOn)
      .sign(request.signWith === "foreign" ? await this.foreignKey() : this.signingKey);
    return { token, expiresOn, notBefore: issuedAt };
  }

  /**
   * ARM's checks of a bearer token: signature, lifetime, issuer, then audience. Entra signs every
   * tenant's tokens with the same keys, so a token another tenant issued verifies and is refused for its
   * issuer: 401 InvalidAuthenticationTokenTenant, in ARM's words (Azure/azure-sdk-for-net#49391,
   * Azure/pcs-cli#357, microsoft/vscode-azureappservice#2095), naming the authority (`authority`, this
   * Entra's host) to get a token of this tenant from. An issuer that is no tenant's is just invalid.
   */
  async verify(token: string, audiences: string[], authority = "https://login.windows.net"): Promise<TokenVerdict> {
    let payload: Awaited<ReturnType<typeof jwtVerify>>["payload"];
    try {
      ({ payload } = await jwtVerify(token, createLocalJWKSet(this.jwks), { algorithms: ["RS256"] }));
    } catch (error) {
      if (error instanceof errors.JWTExpired) {
        return {
          ok: false,
          code: "ExpiredAuthenticationToken",
          message: "The access token expiry UTC time is earlier than current UTC time.",
        };
      }
      return { ok: false, code: "InvalidAuthenticationToken", message: "The access token is invalid." };
    }
    if (payload.iss !== this.issuer) {
      if (typeof payload.iss === "string" && /^https:\/\/sts\.windows\.net\/[0-9a-f-]{36}\/$/i.test(payload.iss)) {
        return {
          ok: false,
          code: "InvalidAuthenticationTokenTenant",
          message: `The access token is from the wrong issuer '${payload.iss}'. It must match the tenant '${this.issuer}' associated with this subscription. Please use the authority (URL) '${authority.replace(/\/+$/, "")}/${this.tenantId}' to get the token. Note, if the subscription is transferred to another tenant there is no impact to the services, but information about new tenant could take time to propagate (up to an hour). If you just transferred your subscription and see this error message, please try back later.`,
        };
      }
      return { ok: false, code: "InvalidAuthenticationToken", message: "The access token is invalid." };
    }
    if (typeof payload.aud !== "string" || !audiences.includes(payload.aud)) {
      return {
        ok: false,
        code: "InvalidAuthenticationTokenAudience",
        message: `The access token has been obtained for wrong audience or resource '${String(payload.aud)}'. It should exactly match with one of the allowed audiences '${audiences.join("','")}'.`,
      };
    }
    return { ok: true, token: { oid: String(payload.oid), appid: String(payload.appid) } };
  }
}
