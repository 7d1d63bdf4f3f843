import { type ArmContext, authorityHostOf } from "../context";

/**
 * The discovery routes a client reads before it signs in: `/metadata/endpoints`, which names this
 * cloud's endpoints (ARM, its sign-in authority, the audiences ARM accepts).
 */

/** Whether a path is one of the routes ARM answers without a token. */
export function isAnonymous(path: string): boolean {
  return path.toLowerCase() === "/metadata/endpoints";
}

export function metadataEndpoints(ctx: ArmContext) {
  return {
    name: "LocalAzure",
    resourceManager: `${ctx.endpoint}/`,
    authentication: {
      loginEndpoint: `${authorityHostOf(ctx)}/`,
      audiences: [`${ctx.endpoint}/`],
      tenant: ctx.tenantId,
    },
  };
}
