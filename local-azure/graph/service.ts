import { randomUUID } from "node:crypto";
import { graphAudiences } from "../audiences";
import type { Entra } from "../entra";
import type { Faults, Principal, Store } from "../store";
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

export class GraphService {
  constructor(private readonly ctx: GraphContext) {}

  async handle(
    method: string,
    rawUrl: string,
    headers: Record<string, string | undefined>,
    body: unknown,
  ): Promise<{ reply: GraphReply; principalId: string | null }> {
    const requestIds = {
      "request-id": randomUUID(),
      "client-request-id": headers["client-request-id"] ?? randomUUID(),
    };
    const reply = (status: number, payload?: unknown): GraphReply => ({ status, headers: requestIds, body: payload });
    const error = (status: number, code: string, message: string): GraphReply =>
      reply(status, {
        error: {
          code,
          message,
          innerError: { date: new Date().toISOString().replace(/\.\d+Z$/, ""), ...requestIds },
        },
      });

    const authorization = headers.authorization;
    if (!authorization?.startsWith("Bearer ")) {
      return { reply: error(401, "InvalidAuthenticationToken", "Access token is empty."), principalId: null };
    }
    const verdict = await this.ctx.entra.verify(authorization.slice(7), graphAudiences(this.ctx.endpoint()));
    if (!verdict.ok) {
      const messages: Record<string, string> = {
        InvalidAuthenticationTokenAudience: "Access token validation failure. Invalid audience.",
        ExpiredAuthenticationToken: "Lifetime validation failed, the token is expired.",
      };
      const message = messages[verdict.code];
      return {
        reply: error(401, "InvalidAuthenticationToken", message ?? "Access token validation failure."),
        principalId: null,
      };
    }
    const caller = verdict.token.oid;
    if (caller.toLowerCase() !== this.ctx.deployerPrincipalId.toLowerCase()) {
      // Reading the directory needs an app role such as Application.Read.All, which no managed identity here holds.
      return {
        reply: error(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."),
        principalId: caller,
      };
    }

    const url = new URL(rawUrl, "https://graph.invalid");
    const [version, ...segments] = url.pathname.split("/").filter(Boolean).map(decodeURIComponent);
    if (!VERSIONS.includes(version ?? "")) {
      return { reply: error(400, "BadRequest", `Invalid version: ${version ?? ""}`), principalId: caller };
    }
    const context = (suffix: string) => `${this.ctx.endpoint()}/${version}/$metadata#${suffix}`;
    const notAllowed = () =>
      error(405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.");
    const [collection, key, action] = segments;
    const byAppId = /^servicePrincipals\(appId='([^']*)'\)$/i.exec(collection ?? "")?.[1];

    if (byAppId !== undefined || (collection?.toLowerCase() === "serviceprincipals" && key !== undefined)) {
      if (method !== "GET") return { reply: notAllowed(), principalId: caller };
      const id = byAppId ?? String(key);
      if (byAppId === undefined && !GUID.test(id)) {
        return { reply: error(400, "Request_BadRequest", `Invalid object identifier '${id}'.`), principalId: caller };
      }
      const found = this.visible().find((p) =>
        byAppId !== undefined ? matchesFilter(p, { appId: id }) : matchesFilter(p, { id }),
      );
      return {
        reply: found
          ? reply(200, { "@odata.context": context("servicePrincipals/$entity"), ...this.servicePrincipal(found) })
          : this.notFound(error, id),
        principalId: caller,
      };
    }
    if (collection?.toLowerCase() === "serviceprincipals") {
      if (method !== "GET") return { reply: notAllowed(), principalId: caller };
      const text = url.searchParams.get("$filter");
      const filter = text === null ? undefined : parseServicePrincipalFilter(text);
      if (text !== null && !filter) {
        return { reply: error(400, "Request_UnsupportedQuery", "Unsupported Query."), principalId: caller };
      }
      const value = this.visible()
        .filter((p) => !filter || matchesFilter(p, filter))
        .map((p) => this.servicePrincipal(p));
      return { reply: reply(200, { "@odata.context": context("servicePrincipals"), value }), principalId: caller };
    }
    if (collection?.toLowerCase() === "directoryobjects" && key?.toLowerCase() === "getbyids" && !action) {
      if (method !== "POST") return { reply: notAllowed(), principalId: caller };
      const { ids, types } = (body ?? {}) as { ids?: unknown; types?: unknown };
      if (!Array.isArray(ids) || ids.some((id) => typeof id !== "string")) {
        return {
          reply: error(400, "Request_BadRequest", "The request body must carry 'ids', an array of object IDs."),
          principalId: caller,
        };
      }
      const wanted = new Set(ids.map((id) => String(id).toLowerCase()));
      const includesServicePrincipals =
        !Array.isArray(types) || types.some((t) => String(t).toLowerCase() === "serviceprincipal");
      const value = includesServicePrincipals
        ? this.visible()
            .filter((p) => wanted.has(p.principalId.toLowerCase()))
            .map((p) => ({ "@odata.type": "#microsoft.graph.servicePrincipal", ...this.servicePrincipal(p) }))
        : [];
      return { reply: reply(200, { "@odata.context": context("directoryObjects"), value }), principalId: caller };
    }
    if (collection?.toLowerCase() === "directoryobjects" && key !== undefined && !action) {
      if (method !== "GET") return { reply: notAllowed(), principalId: caller };
      const found = GUID.test(key) ? this.visible().find((p) => matchesFilter(p, { id: key })) : undefined;
      return {
        reply: found
          ? reply(200, {
              "@odata.context": context("directoryObjects/$entity"),
              "@odata.type": "#microsoft.graph.servicePrincipal",
              ...this.servicePrincipal(found),
            })
          : this.notFound(error, key),
        principalId: caller,
      };
    }
    return {
      reply: error(400, "BadRequest", `Resource not found for the segment '${collection ?? ""}'.`),
      principalId: caller,
    };
  }

  private notFound(error: (status: number, code: string, message: string) => GraphReply, id: string): GraphReply {
    return error(
      404,
      "Request_ResourceNotFound",
      `Resource '${id}' does not exist or one of its queried reference-property objects are not present.`,
    );
  }

  private servicePrincipal(principal: Principal) {
    return servicePrincipalOf(principal, this.ctx.tenantId);
  }

  /** The principals Graph shows now: those older than the directory's replication delay. */
  private visible(): Principal[] {
    const replicatedBy = Date.now() - this.ctx.faults.directoryReplicationSeconds * 1000;
    return [...this.ctx.store.principals.values()].filter((p) => p.createdAt <= replicatedBy);
  }
}
