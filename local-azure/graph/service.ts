import { randomUUID } from "node:crypto";
import { graphAudiences } from "../audiences";
import type { Entra } from "../entra";
import { cloudNow, type Faults, type Principal, type Store } from "../store";
import { matchesFilter, parseServicePrincipalFilter, servicePrincipalOf } from "./directory";

/**
 * The part of Microsoft Graph that role assignment uses (what `az role assignment create --assignee`
 * and `az ad sp show` call, azure-cli's role module `_resolve_object_id_and_type` and its GraphClient):
 *
 * - `GET /v1.0/servicePrincipals[?$filter=…]` (appId, id, servicePrincipalNames/any(…)),
 * - `GET /v1.0/servicePrincipals/{id}` and `/v1.0/servicePrincipals(appId='{appId}')`,
 * - `POST /v1.0/directoryObjects/getByIds`, and `GET /v1.0/directoryObjects/{id}`.
 *
 * Every request needs a Graph token (its own URL, https://graph.microsoft.com or Graph's app ID as
 * audience); the deployer may read the directory, a managed identity (which holds no Graph app role)
 * is refused, as Graph refuses it. Errors are Graph's, not ARM's: `{"error": {"code", "message",
 * "innerError": {"date", "request-id", "client-request-id"}}}` (Learn, "Microsoft Graph error responses
 * and resource types"). A principal younger than the directory's replication delay is not found yet,
 * as a new identity is not at once in Graph.
 */

export interface GraphContext {
  /** Graph's base URL, https://127.0.0.1:PORT (known once its server listens). */
  endpoint(): string;
  tenantId: string;
  deployerPrincipalId: string;
  store: Store;
  entra: Entra;
  faults: Faults;
}

export interface GraphReply {
  status: number;
  headers: Record<string, string>;
  body?: unknown;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const VERSIONS = ["v1.0", "beta"];

/** The IDs Graph puts in its response headers and in every error's innerError. */
type RequestIds = { "request-id": string; "client-request-id": string };

const answer = (ids: RequestIds, status: number, body?: unknown): GraphReply => ({ status, headers: ids, body });

/** Graph's error body (Learn, "Microsoft Graph error responses and resource types"). */
function graphError(ids: RequestIds, status: number, code: string, message: string): GraphReply {
  const date = new Date().toISOString().replace(/\.\d+Z$/, "");
  return answer(ids, status, { error: { code, message, innerError: { date, ...ids } } });
}

/** Graph's messages for the token verdicts Entra gives. */
const TOKEN_MESSAGES: Record<string, string> = {
  InvalidAuthenticationTokenAudience: "Access token validation failure. Invalid audience.",
  ExpiredAuthenticationToken: "Lifetime validation failed, the token is expired.",
};

export class GraphService {
  constructor(private readonly ctx: GraphContext) {}

  async handle(
    method: string,
    rawUrl: string,
    headers: Record<string, string | undefined>,
    body: unknown,
  ): Promise<{ reply: GraphReply; principalId: string | null }> {
    const ids: RequestIds = {
      "request-id": randomUUID(),
      "client-request-id": headers["client-request-id"] ?? randomUUID(),
    };
    const authorization = headers.authorization;
    if (!authorization?.startsWith("Bearer ")) {
      return { reply: graphError(ids, 401, "InvalidAuthenticationToken", "Access token is empty."), principalId: null };
    }
    const verdict = await this.ctx.entra.verify(authorization.slice(7), graphAudiences(this.ctx.endpoint()));
    if (!verdict.ok) {
      const message = TOKEN_MESSAGES[verdict.code] ?? "Access token validation failure.";
      return { reply: graphError(ids, 401, "InvalidAuthenticationToken", message), principalId: null };
    }
    const caller = verdict.token.oid;
    if (caller.toLowerCase() !== this.ctx.deployerPrincipalId.toLowerCase()) {
      // Reading the directory needs an app role such as Application.Read.All, which no managed identity here holds.
      const reply = graphError(
        ids,
        403,
        "Authorization_RequestDenied",
        "Insufficient privileges to complete the operation.",
      );
      return { reply, principalId: caller };
    }
    return { reply: this.route(ids, method, new URL(rawUrl, "https://graph.invalid"), body), principalId: caller };
  }

  private route(ids: RequestIds, method: string, url: URL, body: unknown): GraphReply {
    const [version, ...segments] = url.pathname.split("/").filter(Boolean).map(decodeURIComponent);
    if (!VERSIONS.includes(version ?? ""))
      return graphError(ids, 400, "BadRequest", `Invalid version: ${version ?? ""}`);
    const context = (suffix: string) => `${this.ctx.endpoint()}/${version}/$metadata#${suffix}`;
    const [collection = "", key, action] = segments;
    const byAppId = /^servicePrincipals\(appId='([^']*)'\)$/i.exec(collection)?.[1];
    const is = (name: string) => collection.toLowerCase() === name.toLowerCase();
    const route =
      byAppId !== undefined || (is("servicePrincipals") && key !== undefined && !action)
        ? { method: "GET", run: () => this.servicePrincipal(ids, context, byAppId, key) }
        : is("servicePrincipals") && key === undefined
          ? { method: "GET", run: () => this.servicePrincipals(ids, context, url.searchParams.get("$filter")) }
          : is("directoryObjects") && key?.toLowerCase() === "getbyids" && !action
            ? { method: "POST", run: () => this.getByIds(ids, context, body) }
            : is("directoryObjects") && key !== undefined && !action
              ? { method: "GET", run: () => this.directoryObject(ids, context, key) }
              : undefined;
    if (!route) {
      // Graph names the first segment it cannot follow: the collection, or what follows a known one.
      const known = byAppId !== undefined || is("servicePrincipals") || is("directoryObjects");
      const segment = known ? (action ?? key ?? collection) : collection;
      return graphError(ids, 400, "BadRequest", `Resource not found for the segment '${segment}'.`);
    }
    if (method !== route.method) {
      return graphError(ids, 405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.");
    }
    return route.run();
  }

  /** GET servicePrincipals/{id} or servicePrincipals(appId='{appId}'). */
  private servicePrincipal(
    ids: RequestIds,
    context: (suffix: string) => string,
    appId: string | undefined,
    id: string | undefined,
  ): GraphReply {
    if (appId === undefined && !GUID.test(String(id))) {
      return graphError(ids, 400, "Request_BadRequest", `Invalid object identifier '${id}'.`);
    }
    const found = this.visible().find((p) =>
      appId !== undefined ? matchesFilter(p, { appId }) : matchesFilter(p, { id: String(id) }),
    );
    if (!found) return this.notFound(ids, appId ?? String(id));
    return answer(ids, 200, { "@odata.context": context("servicePrincipals/$entity"), ...this.view(found) });
  }

  /** GET servicePrincipals[?$filter=…]. */
  private servicePrincipals(ids: RequestIds, context: (suffix: string) => string, text: string | null): GraphReply {
    const filter = text === null ? undefined : parseServicePrincipalFilter(text);
    if (text !== null && !filter) return graphError(ids, 400, "Request_UnsupportedQuery", "Unsupported Query.");
    const value = this.visible()
      .filter((p) => !filter || matchesFilter(p, filter))
      .map((p) => this.view(p));
    return answer(ids, 200, { "@odata.context": context("servicePrincipals"), value });
  }

  /** POST directoryObjects/getByIds: the objects among `ids` of the asked `types`, each with its @odata.type. */
  private getByIds(ids: RequestIds, context: (suffix: string) => string, body: unknown): GraphReply {
    const { ids: wanted, types } = (body ?? {}) as { ids?: unknown; types?: unknown };
    if (!Array.isArray(wanted) || wanted.some((id) => typeof id !== "string")) {
      return graphError(ids, 400, "Request_BadRequest", "The request body must carry 'ids', an array of object IDs.");
    }
    const set = new Set(wanted.map((id) => String(id).toLowerCase()));
    const servicePrincipals =
      !Array.isArray(types) || types.some((t) => String(t).toLowerCase() === "serviceprincipal");
    const value = servicePrincipals
      ? this.visible()
          .filter((p) => set.has(p.principalId.toLowerCase()))
          .map((p) => ({ "@odata.type": "#microsoft.graph.servicePrincipal", ...this.view(p) }))
      : [];
    return answer(ids, 200, { "@odata.context": context("directoryObjects"), value });
  }

  /** GET directoryObjects/{id}. */
  private directoryObject(ids: RequestIds, context: (suffix: string) => string, id: string): GraphReply {
    const found = GUID.test(id) ? this.visible().find((p) => matchesFilter(p, { id })) : undefined;
    if (!found) return this.notFound(ids, id);
    return answer(ids, 200, {
      "@odata.context": context("directoryObjects/$entity"),
      "@odata.type": "#microsoft.graph.servicePrincipal",
      ...this.view(found),
    });
  }

  private notFound(ids: RequestIds, id: string): GraphReply {
    return graphError(
      ids,
      404,
      "Request_ResourceNotFound",
      `Resource '${id}' does not exist or one of its queried reference-property objects are not present.`,
    );
  }

  private view(principal: Principal) {
    return servicePrincipalOf(principal, this.ctx.tenantId);
  }

  /** The principals Graph shows now: those older than the directory's replication delay. */
  private visible(): Principal[] {
    const replicatedBy = cloudNow(this.ctx.faults) - this.ctx.faults.directoryReplicationSeconds * 1000;
    return [...this.ctx.store.principals.values()].filter((p) => p.createdAt <= replicatedBy);
  }
}
