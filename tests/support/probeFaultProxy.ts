/**
 * A loopback proxy that sits in front of Local Azure's ARM (HTTPS) or a VM's IMDS (HTTP) and answers
 * chosen requests itself: the answers Local Azure has no fault knob for (ARM 5xx, an HTML 502, a huge
 * body). Everything else is forwarded unchanged, except the token request's `resource`, which is
 * pointed back at the real ARM so that the token it yields is one Local Azure's ARM accepts.
 */

import { webcrypto } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import * as x509 from "@peculiar/x509";

export interface InjectedAnswer {
  status: number;
  headers?: Record<string, string>;
  body: string | Buffer;
  /** Never answer: the client's own timeout ends the request (a try the deadline cuts off). */
  hang?: boolean;
}

export interface FaultProxyOptions {
  /** Base URL of the real service, e.g. Local Azure's armEndpoint or a VM's imdsEndpoint. */
  upstream: string;
  /** CA that signed the upstream's certificate (HTTPS upstreams). */
  upstreamCaPem?: string;
  /** Serve HTTPS with a certificate of our own (its PEM is in `certPem`). */
  tls: boolean;
  /** For an IMDS proxy: the `resource` the token request is rewritten to (the real ARM's, with "/"). */
  rewriteResourceTo?: string;
  /** Keep the bodies of forwarded answers to requests whose path contains this (e.g. issued tokens). */
  keepAnswersTo?: string;
}

export interface FaultProxy {
  readonly endpoint: string;
  /** Our certificate (self-signed), to add to CURL_CA_BUNDLE; empty for plain HTTP. */
  readonly certPem: string;
  /** Paths (with query) of every request seen, answered or forwarded. */
  readonly seen: string[];
  /** Bodies of forwarded answers kept per `keepAnswersTo`. */
  readonly keptAnswers: string[];
  /** The next `count` requests whose path contains `pathPart` get `answer` instead of the upstream's. */
  inject(pathPart: string, count: number, answer: InjectedAnswer): void;
  /** Resolves once a request is held unanswered (an injected hang): the client is now waiting on its own timeout. */
  hanging(): Promise<void>;
  close(): Promise<void>;
}

/** A throwaway self-signed certificate for 127.0.0.1 and localhost. */
export async function selfSignedLoopbackCert(): Promise<{ certPem: string; keyPem: string }> {
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  const algorithm = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const keys = await webcrypto.subtle.generateKey(algorithm, true, ["sign", "verify"]);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: "CN=probe-fault-proxy",
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 24 * 3600_000),
    keys: keys as unknown as x509.X509CertificateCreateSelfSignedParams["keys"],
    signingAlgorithm: algorithm,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.SubjectAlternativeNameExtension([
        { type: "ip", value: "127.0.0.1" },
        { type: "dns", value: "localhost" },
      ]),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey("pkcs8", keys.privateKey);
  const keyPem = x509.PemConverter.encode(pkcs8, "PRIVATE KEY");
  return { certPem: cert.toString("pem"), keyPem };
}

export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const upstream = new URL(options.upstream);
  const injections: Array<{ pathPart: string; remaining: number; answer: InjectedAnswer }> = [];
  const seen: string[] = [];
  const keptAnswers: string[] = [];
  let hung = false;
  const hangWaiters: Array<() => void> = [];

  const forward = (request: http.IncomingMessage, response: http.ServerResponse) => {
    let target = request.url ?? "/";
    if (options.rewriteResourceTo !== undefined && target.includes("/metadata/identity/oauth2/token")) {
      const url = new URL(target, "http://proxy");
      url.searchParams.set("resource", options.rewriteResourceTo);
      target = url.pathname + url.search;
    }
    const client = upstream.protocol === "https:" ? https : http;
    const outgoing = client.request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: request.method,
        path: target,
        headers: { ...request.headers, host: upstream.host },
        ca: options.upstreamCaPem,
      },
      (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        if (options.keepAnswersTo !== undefined && target.includes(options.keepAnswersTo)) {
          const chunks: Buffer[] = [];
          answer.on("data", (chunk: Buffer) => chunks.push(chunk));
          answer.on("end", () => keptAnswers.push(Buffer.concat(chunks).toString("utf8")));
        }
        answer.pipe(response);
      },
    );
    outgoing.on("error", () => {
      response.writeHead(599);
      response.end();
    });
    request.pipe(outgoing);
  };

  const handler = (request: http.IncomingMessage, response: http.ServerResponse) => {
    const url = request.url ?? "/";
    seen.push(url);
    const injection = injections.find((candidate) => candidate.remaining > 0 && url.includes(candidate.pathPart));
    if (injection === undefined) {
      forward(request, response);
      return;
    }
    injection.remaining -= 1;
    request.resume();
    if (injection.answer.hang) {
      hung = true;
      for (const waiter of hangWaiters.splice(0)) waiter();
      return;
    }
    response.writeHead(injection.answer.status, injection.answer.headers ?? {});
    response.end(injection.answer.body);
  };

  let certPem = "";
  let server: http.Server | https.Server;
  if (options.tls) {
    const material = await selfSignedLoopbackCert();
    certPem = material.certPem;
    server = https.createServer({ cert: material.certPem, key: material.keyPem }, handler);
  } else {
    server = http.createServer(handler);
  }
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    endpoint: `${options.tls ? "https" : "http"}://127.0.0.1:${port}`,
    certPem,
    seen,
    keptAnswers,
    inject(pathPart, count, answer) {
      injections.push({ pathPart, remaining: count, answer });
    },
    hanging() {
      if (hung) return Promise.resolve();
      return new Promise((resolve) => hangWaiters.push(resolve));
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** Writes a CA bundle holding every PEM given (curl reads one CURL_CA_BUNDLE file); returns its path and a remover. */
export function writeCaBundle(pems: string[]): { path: string; remove: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), "probe-ca-"));
  const file = path.join(dir, "bundle.pem");
  writeFileSync(file, `${pems.map((pem) => pem.trim()).join("\n")}\n`);
  return { path: file, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
