import { rmSync } from "node:fs";
import { type AddressInfo, connect, createServer, type Server, type Socket } from "node:net";

/**
 * The host's side of a guest's relays: byte pipes between Unix sockets in the guest's folder (the
 * guest's side is socat in its network namespace) and Local Azure's loopback servers. Bytes only:
 * IMDS and ARM see the guest's requests exactly as sent, headers and TLS included.
 */

export type Target = { host: string; port: number } | { path: string };

export interface Relay {
  /** Stops listening and drops every connection it holds. */
  close(): Promise<void>;
}

function connectTo(target: Target): Socket {
  return "path" in target ? connect(target.path) : connect(target.port, target.host);
}

/** Pipes two sockets both ways; either side closing or failing closes the other. */
function splice(a: Socket, b: Socket, live: Set<Socket>): void {
  live.add(a);
  live.add(b);
  a.pipe(b);
  b.pipe(a);
  const close = () => {
    a.destroy();
    b.destroy();
    live.delete(a);
    live.delete(b);
  };
  for (const socket of [a, b]) {
    socket.on("error", close);
    socket.on("close", close);
  }
}

function listen(server: Server, where: { path: string } | { host: string; port: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    const done = () => {
      server.off("error", reject);
      resolve();
    };
    if ("path" in where) server.listen(where.path, done);
    else server.listen(where.port, where.host, done);
  });
}

function closer(server: Server, sockets: Iterable<Socket>[]): () => Promise<void> {
  return async () => {
    for (const set of sockets) for (const socket of [...set]) socket.destroy();
    if (!server.listening) return;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
}

/** A Unix socket at `path` whose every connection is piped to `target`. */
export async function unixRelay(path: string, target: Target): Promise<Relay> {
  rmSync(path, { force: true });
  const live = new Set<Socket>();
  const server = createServer((incoming) => splice(incoming, connectTo(target), live));
  await listen(server, { path });
  return { close: closer(server, [live]) };
}

export interface GatedListenerOptions {
  host: string;
  port: number;
  /** Whether a connection from this source gets through (the NSG); refused ones are closed at once. */
  admits: (sourceIp: string) => boolean;
  /** Where admitted connections go once open() has been called. */
  target: Target;
}

export interface GatedListener extends Relay {
  /** The port it listens on (the one asked for, or the free one picked for port 0). */
  readonly port: number;
  /** From now on connections go through, those already waiting first. */
  open(): void;
}

/**
 * A TCP listener whose admitted connections wait until open(): a booting VM's sshd is not up yet, and
 * a client that connected early gets the banner as soon as it is, as from a slow server.
 */
export async function gatedListener(opts: GatedListenerOptions): Promise<GatedListener> {
  let opened = false;
  const waiting = new Set<Socket>();
  const live = new Set<Socket>();
  const server = createServer((incoming) => {
    const source = String(incoming.remoteAddress ?? "").replace(/^::ffff:/, "");
    // Dropped by the network security group: the connection never reaches sshd.
    if (!opts.admits(source)) {
      incoming.destroy();
      return;
    }
    if (opened) {
      splice(incoming, connectTo(opts.target), live);
      return;
    }
    waiting.add(incoming);
    incoming.on("error", () => incoming.destroy());
    incoming.on("close", () => waiting.delete(incoming));
  });
  await listen(server, { host: opts.host, port: opts.port });
  return {
    port: (server.address() as AddressInfo).port,
    open() {
      opened = true;
      for (const socket of [...waiting]) {
        waiting.delete(socket);
        if (!socket.destroyed) splice(socket, connectTo(opts.target), live);
      }
    },
    close: closer(server, [waiting, live]),
  };
}
