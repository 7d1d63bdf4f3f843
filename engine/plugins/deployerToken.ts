import { ClientSecretTokenSource } from "../../local-azure/entraClient";
import type { LocalAzureTarget } from "./localAzureTarget";

/**
 * The deployer's ARM token, as azure-native gets it with a client secret: Local Azure's own
 * client-credentials sign-in (local-azure/entraClient.ts) at the kept Local Azure's authority,
 * scope `{armEndpoint}/.default`, cached until shortly before expiry.
 */
export function deployerToken(
  target: Pick<LocalAzureTarget, "authorityHost" | "tenantId" | "armEndpoint" | "caPem" | "deployer">,
): () => Promise<string> {
  const source = new ClientSecretTokenSource({
    authorityHost: target.authorityHost,
    tenantId: target.tenantId,
    clientId: target.deployer.clientId,
    clientSecret: target.deployer.clientSecret,
    scope: `${target.armEndpoint}/.default`,
    caPem: target.caPem,
  });
  return () => source.token();
}

/** The `oid` claim of a JWT (the signed-in principal's object ID), without verifying it: it is our own token. */
export function tokenObjectId(token: string): string {
  const payload = token.split(".")[1] ?? "";
  const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as { oid?: unknown };
  if (typeof claims.oid !== "string") throw new Error("the deployer's token has no oid claim");
  return claims.oid;
}
