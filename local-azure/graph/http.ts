import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import type { Store } from "../store";
import type { GraphService } from "./service";

/**
 * Microsoft Graph over HTTPS on its own loopback port (its URL is its token audience, apart from
 * ARM's), with Local Azure's server certificate. Every request is logged, never a token.
 */
export async function startGraphServer(
  service: GraphService,
  store: Store,
  tls: { cert: string; key: string },
  /** 0 picks a free port; a kept Local Azure passes its old one. */
  port = 0,
): Promise<{ endpoint: string; server: Server }> {
  const server = createServer(tls, (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size <= 1 << 20) chunks.push(chunk);
    });
    req.on("end", async () => {
      const text = Buffer.concat(chunks).toString("utf8");
      let body: unknown;
      try {
        body = text === "" ? undefined : JSON.parse(text);
      } catch {
        body = null;
      }
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v[0] : v]));
      const { reply, principalId } = await service
        .handle(String(req.method), String(req.url), headers, body)
        .catch((error: Error) => ({
          reply: {
            status: 500,
            headers: {},
            body: { error: { code: "generalException", message: error.message } },
          },
          principalId: null,
        }));
      store.requestLog.push({
        at: Date.now(),
        service: "graph",
        method: String(req.method),
        path: String(req.url).split("?")[0],
        status: reply.status,
        principalId,
      });
      res
        .writeHead(reply.status, { "content-type": "application/json; charset=utf-8", ...reply.headers })
        .end(reply.body === undefined ? "" : JSON.stringify(reply.body));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  return { endpoint: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}
