import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Store } from "../store";
import type { ArmReply } from "./errors";
import { armError } from "./errors";
import type { ArmService } from "./service";

/**
 * The IDs ARM puts on every answer (the resource provider contract, Azure/azure-resource-manager-rpc
 * v1.0/common-api-details.md; as recorded in Azure/azure-sdk-for-js's arm-resources recordings):
 * `x-ms-request-id`, a new GUID per request; `x-ms-correlation-request-id`, the client's own when it
 * sent one, else that same GUID; `x-ms-routing-request-id`, `{REGION}:{yyyymmddThhmmssZ}:{correlation}`;
 * and the client's `x-ms-client-request-id` back only when it asked with
 * `x-ms-return-client-request-id: true` (Microsoft's SDKs send the ID without asking, and ARM does not
 * echo it then).
 */
export function trackingHeaders(
  headers: Record<string, string | undefined>,
  region: string,
  now = new Date(),
): Record<string, string> {
  const requestId = randomUUID();
  // Bounded and without separators: a value ARM would carry into its logs, not a header injection.
  const given = (name: string) => {
    const value = headers[name]?.trim();
    return value && value.length <= 256 && /^[\w.:{}-]+$/.test(value) ? value : undefined;
  };
  const correlation = given("x-ms-correlation-request-id") ?? requestId;
  const stamp = now.toISOString().replace(/[-:]/g, "").replace(/\.\d+/, "");
  const clientRequestId = given("x-ms-client-request-id");
  const echo = headers["x-ms-return-client-request-id"]?.toLowerCase() === "true" && clientRequestId;
  return {
    "x-ms-request-id": requestId,
    "x-ms-correlation-request-id": correlation,
    "x-ms-routing-request-id": `${region.toUpperCase()}:${stamp}:${correlation}`,
    ...(echo ? { "x-ms-client-request-id": clientRequestId } : {}),
  };
}

/** Reads a request body (bounded) and answers it through the service. */
export function armRequestHandler(service: ArmService, store: Store) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size <= 4 << 20) chunks.push(chunk);
    });
    req.on("end", async () => {
      let body: unknown;
      const text = Buffer.concat(chunks).toString("utf8");
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v[0] : v]));
      const tracking = trackingHeaders(headers, service.region);
      try {
        body = text === "" ? undefined : JSON.parse(text);
      } catch {
        const reply = armError(
          400,
          "InvalidRequestContent",
          "The request content was invalid and could not be deserialized.",
        );
        res
          .writeHead(reply.status, { "content-type": "application/json", ...tracking })
          .end(JSON.stringify(reply.body));
        return;
      }
      let outcome: { reply: ArmReply; principalId: string | null };
      try {
        outcome = await service.handle(String(req.method), String(req.url), headers, body);
      } catch (error) {
        outcome = { reply: armError(500, "InternalServerError", (error as Error).message), principalId: null };
      }
      const { reply, principalId } = outcome;
      store.requestLog.push({
        at: Date.now(),
        service: "arm",
        method: String(req.method),
        path: String(req.url).split("?")[0],
        status: reply.status,
        principalId,
      });
      res.writeHead(reply.status, {
        "content-type": "application/json; charset=utf-8",
        ...(reply.headers ?? {}),
        ...tracking,
      });
      // A HEAD answer has headers only (RFC 9110 section 9.3.2).
      res.end(reply.body === undefined || req.method === "HEAD" ? "" : JSON.stringify(reply.body));
    });
  };
}
