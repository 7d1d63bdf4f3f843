import { armAudiences } from "../audiences";
import { type ArmContext, authorityHostOf } from "./context";
import { type ArmReply, armError } from "./errors";

/**
 * ARM's authentication: a bearer token signed by Local Azure's Entra, for one of ARM's audiences
 * (its own URL or the public cloud's, ../audiences.ts), not expired. Every refusal is a 401 with the challenge that tells a client where to sign in.
 */

export interface Caller {
  /** Object (principal) ID. */
  oid: string;
  /** Application (client) ID. */
  appid: string;
}

export async function authenticate(
  ctx: ArmContext,
  authorization: string | undefined,
): Promise<{ ok: true; caller: Caller } | { ok: false; reply: ArmReply }> {
  if (!authorization?.startsWith("Bearer ")) {
    return {
      ok: false,
      reply: unauthenticated(
        ctx,
        "AuthenticationFailed",
        "Authentication failed. The 'Authorization' header is missing.",
        "The authentication failed because of missing 'Authorization' header.",
      ),
    };
  }
  const verdict = await ctx.entra.verify(authorization.slice(7), armAudiences(ctx.endpoint), authorityHostOf(ctx));
  if (!verdict.ok) return { ok: false, reply: unauthenticated(ctx, verdict.code, verdict.message) };
  return { ok: true, caller: verdict.token };
}

/**
 * 401 with the challenge ARM sends: `WWW-Authenticate: Bearer authorization_uri="{authority}/{tenant}",
 * error="invalid_token", error_description="…"` (RFC 6750 section 3; ARM's form as Azure/aks-engine's
 * ARM mock copies it in pkg/armhelpers: HTTPMockClient.RegisterLogin).
 */
export function unauthenticated(ctx: ArmContext, code: string, message: string, description = message): ArmReply {
  const authority = `${authorityHostOf(ctx)}/${ctx.tenantId}`;
  return armError(401, code, message, {
    "www-authenticate": `Bearer authorization_uri="${authority}", error="invalid_token", error_description="${description.replace(/["\\]/g, "")}"`,
  });
}
