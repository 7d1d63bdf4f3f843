/**
 * The token audiences Local Azure's ARM and Graph accept, and so the resources its Entra and IMDS issue
 * tokens for: its own URL and the public cloud's two ARM identifiers, each with and without the
 * trailing slash. A client that keeps its default scope (`https://management.azure.com/.default`,
 * as the newest Azure SDK majors do, or the Azure CLI's `https://management.core.windows.net//.default`)
 * therefore works against Local Azure unchanged.
 *
 * Public ARM lists exactly these four in its 401 InvalidAuthenticationTokenAudience: "It should exactly
 * match with one of the allowed audiences 'https://management.core.windows.net/','https://management.core.windows.net',
 * 'https://management.azure.com/','https://management.azure.com'" (quoted in
 * Azure-Samples/active-directory-dotnetcore-daemon-v2#145 and hashicorp/go-azure-helpers#51).
 */

export const PUBLIC_ARM_AUDIENCES = [
  "https://management.core.windows.net/",
  "https://management.core.windows.net",
  "https://management.azure.com/",
  "https://management.azure.com",
] as const;

/** Every audience ARM at `endpoint` accepts, in the order its 401 lists them: its own URL first. */
export function armAudiences(endpoint: string): string[] {
  const own = endpoint.replace(/\/+$/, "");
  return [`${own}/`, own, ...PUBLIC_ARM_AUDIENCES];
}

/** Microsoft Graph's application ID, which Graph also accepts as the audience of a v2.0 token. */
export const GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000";

/** The public cloud's Graph resource, with and without the trailing slash. */
export const PUBLIC_GRAPH_AUDIENCES = ["https://graph.microsoft.com/", "https://graph.microsoft.com"] as const;

/** Every audience Local Azure's Graph at `endpoint` accepts: its own URL, the public Graph's, and Graph's app ID. */
export function graphAudiences(endpoint: string): string[] {
  const own = endpoint.replace(/\/+$/, "");
  return [`${own}/`, own, ...PUBLIC_GRAPH_AUDIENCES, GRAPH_APP_ID];
}
