import type { IncomingMessage, ServerResponse } from "node:http";
import type { Store } from "../store";
import type { ArmReply } from "./errors";
import { armError } from "./errors";
import type { ArmService } from "./service";

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
      try {
        body = text === "" ? undefined : JSON.parse(text);
      } catch {
        const reply = armError(
          400,
          "InvalidRequestContent",
          "The request content was invalid and could not be deserialized.",
        );
        res.writeHead(reply.status, { "content-type": "application/json" }).end(JSON.stringify(reply.body));
        return;
      }
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v[0] : v]));
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
      res.writeHead(reply.status, { "content-type": "application/json; charset=utf-8", ...(reply.headers ?? {}) });
      // A HEAD answer has headers only (RFC 9110 section 9.3.2).
      res.end(reply.body === undefined || req.method === "HEAD" ? "" : JSON.stringify(reply.body));
    });
  };
}
