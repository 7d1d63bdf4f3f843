import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Entra } from "./entra";
import type { Faults, Principal, Store } from "./store";

/**
 * One VM's Instance Metadata Service: the identity token endpoint (selectors, the documented 400s,
 * every JSON primitive a string) and instance metadata. The VM's identities are read live from
 * ARM's store, so detaching an identity takes its tokens away at once.
 */

export interface ImdsContext {
  vmId: string;
  subscriptionId: string;
  location: string;
  store: Store;
  entra: Entra;
  faults: Faults;
}

type Answer = { status: number; body: Record<string, unknown>; principalId?: string };

const imdsError = (status: number, error: string, description: string): Answer => ({
  status,
  body: { error, error_description: description },
});
const IDENTITY_NOT_FOUND = imdsError(400, "invalid_request", "Identity not found");

const BURST_BODIES: Record<number, [string, string]> = {
  404: ["not_found", "IMDS is being updated"],
  410: ["gone", "IMDS is being updated; retry"],
  429: ["too_many_requests", "Too many requests"],
  500: ["unknown_error", "An unexpected error occured while fetching the AAD Token."],
  503: ["service_unavailable", "The service is unavailable"],
};

/** The identities IMDS can issue tokens for on this VM, with when each became usable. */
function vmIdentities(
  ctx: ImdsContext,
): { system?: Principal; user: Principal[]; usableAt: Map<string, number> } | undefined {
  const vm = ctx.store.resource(ctx.vmId);
  if (!vm) return undefined;
  const identity = (vm.body.identity ?? {}) as {
    principalId?: string;
    userAssignedIdentities?: Record<string, { principalId: string }>;
  };
  const attached = ctx.store.attachedAt.get(ctx.vmId.toLowerCase()) ?? new Map<string, number>();
  const usableAt = new Map(
    [...attached].map(([principal, at]) => [principal, at + ctx.faults.identityAttachDelaySeconds * 1000]),
  );
  const system = identity.principalId ? ctx.store.principals.get(identity.principalId.toLowerCase()) : undefined;
  const user = Object.values(identity.userAssignedIdentities ?? {})
    .map((entry) => ctx.store.principals.get(entry.principalId.toLowerCase()))
    .filter((p): p is Principal => p !== undefined);
  return { system, user, usableAt };
}

async function tokenAnswer(ctx: ImdsContext, query: URLSearchParams): Promise<Answer> {
  if (!query.get("api-version"))
    return imdsError(400, "invalid_request", "Required query variable 'api-version' is missing");
  const resource = query.get("resource");
  if (!resource) return imdsError(400, "invalid_request", "Required query variable 'resource' is missing");
  const selectors = ["client_id", "object_id", "msi_res_id"].filter((name) => query.has(name));
  if (selectors.length > 1)
    return imdsError(400, "invalid_request", "Only one of client_id, object_id or msi_res_id may be specified");
  const burst = ctx.faults.imdsBurst;
  if (burst && burst.count > 0) {
    burst.count--;
    const [error, description] = BURST_BODIES[burst.status];
    return imdsError(burst.status, error, description);
  }
  const identities = vmIdentities(ctx);
  if (!identities) return IDENTITY_NOT_FOUND;
  const all = [...(identities.system ? [identities.system] : []), ...identities.user];
  let chosen: Principal | undefined;
  if (selectors.length === 0) {
    if (identities.system) chosen = identities.system;
    else if (identities.user.length > 1) {
      return imdsError(
        400,
        "invalid_request",
        "Multiple user assigned identities exist, please specify the clientId / resourceId of the identity in the token request",
      );
    } else chosen = identities.user[0];
  } else {
    const value = String(query.get(selectors[0])).toLowerCase();
    chosen = identities.user.find((p) =>
      selectors[0] === "client_id"
        ? p.clientId.toLowerCase() === value
        : selectors[0] === "object_id"
          ? p.principalId.toLowerCase() === value
          : p.resourceId.toLowerCase() === value,
    );
  }
  if (!chosen || !all.includes(chosen)) return IDENTITY_NOT_FOUND;
  // Right after an identity is attached, IMDS does not know it yet.
  if ((identities.usableAt.get(chosen.principalId.toLowerCase()) ?? 0) > Date.now()) return IDENTITY_NOT_FOUND;
  const issued = await ctx.entra.issue({
    principalId: chosen.principalId,
    clientId: chosen.clientId,
    resourceId: chosen.resourceId,
    resource,
  });
  return {
    status: 200,
    principalId: chosen.principalId,
    body: {
      access_token: issued.token,
      refresh_token: "",
      expires_in: String(issued.expiresOn - Math.floor(Date.now() / 1000)),
      expires_on: String(issued.expiresOn),
      not_before: String(issued.notBefore),
      resource,
      token_type: "Bearer",
      client_id: chosen.clientId,
    },
  };
}

function computeAnswer(ctx: ImdsContext, query: URLSearchParams): Answer {
  if (!query.get("api-version"))
    return imdsError(400, "bad_request", "Required query variable 'api-version' is missing");
  const vm = ctx.store.resource(ctx.vmId);
  if (!vm) return imdsError(404, "not_found", "The VM is gone");
  const resourceGroupName = /\/resourceGroups\/([^/]+)/i.exec(vm.id)?.[1] ?? "";
  return {
    status: 200,
    body: {
      subscriptionId: ctx.subscriptionId,
      resourceGroupName,
      name: String(vm.body.name),
      location: String(vm.body.location ?? ctx.location),
      vmId: String((vm.body.properties as { vmId?: string }).vmId ?? ""),
      resourceId: vm.id,
    },
  };
}

async function answer(ctx: ImdsContext, req: IncomingMessage): Promise<Answer> {
  // SSRF guards of the real service.
  if (req.headers.metadata !== "true") return imdsError(400, "bad_request", "Required metadata header not specified");
  if (req.headers["x-forwarded-for"] !== undefined)
    return imdsError(400, "bad_request", "Requests with X-Forwarded-For are rejected");
  const url = new URL(String(req.url), "http://imds");
  if (req.method !== "GET") return imdsError(405, "bad_request", "Only GET is supported");
  if (url.pathname === "/metadata/identity/oauth2/token") return tokenAnswer(ctx, url.searchParams);
  if (url.pathname === "/metadata/instance/compute") return computeAnswer(ctx, url.searchParams);
  return imdsError(404, "not_found", "Unknown path");
}

/** Starts the VM's IMDS on its own loopback address; resolves to its base URL. */
export async function startImds(ctx: ImdsContext, host: string): Promise<{ endpoint: string; server: Server }> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    answer(ctx, req)
      .catch((error: Error): Answer => imdsError(500, "unknown_error", error.message))
      .then((result) => {
        ctx.store.requestLog.push({
          at: Date.now(),
          service: "imds",
          method: String(req.method),
          path: String(req.url).split("?")[0],
          status: result.status,
          principalId: result.principalId ?? null,
        });
        res
          .writeHead(result.status, { "content-type": "application/json; charset=utf-8" })
          .end(JSON.stringify(result.body));
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, host, () => resolve());
  });
  return { endpoint: `http://${host}:${(server.address() as AddressInfo).port}`, server };
}
