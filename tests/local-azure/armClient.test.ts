import { createServer, type Server } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import { beforeAll, describe, expect, it } from "vitest";
import { ArmClient, closedWhileIdle } from "../../local-azure/armClient";
import { createTlsMaterial, type TlsMaterial } from "../../local-azure/ca";

/**
 * The runner's and the stand-in's ARM client on kept-alive connections: a server closes an idle one
 * after its keep-alive timeout, and a request sent on it at that moment fails with ECONNRESET before
 * the server read it. Under load that happened to about one second run in three of a three-VM stack
 * through Run Command (the run command's read before its declaration, after the runner's policy
 * preview had left the connection idle for Node's 5 s), and the runner's worker then stopped with its
 * promises pending. The client sends such a request again on a new connection, and only such a one.
 */

interface Seen {
  connection: number;
  nth: number;
  path: string;
}

/**
 * An HTTPS server of its own (so no connection of another test is reused) that answers each request
 * with its path, or closes the connection unanswered when `closeOn` says so for the request's rank on
 * its connection; and an ArmClient pointed at it.
 */
async function serve(tls: TlsMaterial, closeOn: (nth: number) => boolean) {
  const seen: Seen[] = [];
  const connections = new Map<Socket, { id: number; requests: number }>();
  const server: Server = createServer({ cert: tls.serverCertPem, key: tls.serverKeyPem }, (req, res) => {
    const socket = req.socket;
    const connection = connections.get(socket) ?? { id: connections.size + 1, requests: 0 };
    connections.set(socket, connection);
    connection.requests++;
    seen.push({ connection: connection.id, nth: connection.requests, path: req.url ?? "" });
    if (closeOn(connection.requests)) {
      socket.destroy();
      return;
    }
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ path: req.url }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    seen,
    arm: new ArmClient(`https://127.0.0.1:${port}`, tls.caCertPem, async () => "token"),
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe("ArmClient on kept-alive connections", () => {
  let tls: TlsMaterial;
  beforeAll(async () => {
    tls = await createTlsMaterial();
  });

  it("sends a request again on a new connection when the kept-alive one it went out on was closed", async () => {
    // The server drops every connection at its second request, as one whose keep-alive timeout just ran out.
    const { seen, arm, close } = await serve(tls, (nth) => nth === 2);
    try {
      expect(await arm.request("GET", "/first")).toMatchObject({ status: 200, body: { path: "/first" } });
      expect(await arm.request("GET", "/second")).toMatchObject({ status: 200, body: { path: "/second" } });
      expect(seen).toEqual([
        { connection: 1, nth: 1, path: "/first" },
        { connection: 1, nth: 2, path: "/second" },
        { connection: 2, nth: 1, path: "/second" },
      ]);
    } finally {
      await close();
    }
  });

  it("does not send again a request whose own new connection was closed: that failure is the server's answer", async () => {
    const { seen, arm, close } = await serve(tls, () => true);
    try {
      await expect(arm.request("GET", "/refused")).rejects.toMatchObject({ code: "ECONNRESET", reusedSocket: false });
      expect(seen.map((entry) => entry.path)).toEqual(["/refused"]);
    } finally {
      await close();
    }
  });

  it("closedWhileIdle: ECONNRESET on a reused connection only", () => {
    const failure = (code: string, reusedSocket: boolean) =>
      Object.assign(new Error("socket hang up"), { code, reusedSocket });
    expect(closedWhileIdle(failure("ECONNRESET", true))).toBe(true);
    expect(closedWhileIdle(failure("ECONNRESET", false))).toBe(false);
    expect(closedWhileIdle(failure("ECONNREFUSED", true))).toBe(false);
    expect(closedWhileIdle(null)).toBe(false);
  });
});
