import { execFile } from "node:child_process";
import { webcrypto } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import * as x509 from "@peculiar/x509";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KEPT_TRUST_FILE, SYSTEM_CA_BUNDLES, systemCaBundle, trustBundleText, writeKept } from "../../local/kept";
import { LocalAzure } from "../../local-azure/index";
import { HANG_GUARD_MS } from "../support/hangGuard";
import { skipWithoutTools } from "../support/systemTools";

/**
 * A shell that evals `npm run -s local -- env` still trusts what the system trusts (issue 24, point
 * 6): SSL_CERT_FILE replaces OpenSSL's default bundle, so it names a bundle of the system's CAs and
 * Local Azure's, and OpenSSL's readers of it (Python's ssl, Go, openssl) reach a server signed by a
 * system CA as well as Local Azure. The "system" is a test CA in a system-like bundle, serving on loopback: never a real remote host.
 */

const REPO = resolve(__dirname, "../..");
const dir = mkdtempSync(join(tmpdir(), "env-trust-"));
const systemBundle = join(dir, "system-ca-certificates.crt");
let azure: LocalAzure;
let systemSigned: Server;
let systemSignedUrl = "";

const ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

/**
 * A CA of the "system" (a name of its own, as a public root has: OpenSSL looks issuers up by name)
 * and a certificate it signed for 127.0.0.1: what any public HTTPS server is to curl.
 */
async function systemCa(): Promise<{ caCertPem: string; serverCertPem: string; serverKeyPem: string }> {
  const keys = () =>
    webcrypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]) as Promise<webcrypto.CryptoKeyPair>;
  const [caKeys, serverKeys] = await Promise.all([keys(), keys()]);
  const notBefore = new Date(Date.now() - 60_000);
  const notAfter = new Date(Date.now() + 3600_000);
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: "CN=System Test Root CA",
    notBefore,
    notAfter,
    keys: caKeys,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const server = await x509.X509CertificateGenerator.create({
    serialNumber: "02",
    subject: "CN=a server signed by a system CA",
    issuer: ca.subject,
    notBefore,
    notAfter,
    publicKey: serverKeys.publicKey,
    signingKey: caKeys.privateKey,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([{ type: "ip", value: "127.0.0.1" }]),
      await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", serverKeys.privateKey)).toString("base64");
  return {
    caCertPem: `${ca.toString("pem")}\n`,
    serverCertPem: server.toString("pem"),
    serverKeyPem: `-----BEGIN PRIVATE KEY-----\n${pkcs8.replace(/(.{64})/g, "$1\n").trimEnd()}\n-----END PRIVATE KEY-----\n`,
  };
}

beforeAll(async () => {
  const system = await systemCa();
  writeFileSync(systemBundle, system.caCertPem);
  systemSigned = createServer({ cert: system.serverCertPem, key: system.serverKeyPem }, (_req, res) =>
    res.end("signed by a system CA\n"),
  );
  await new Promise<void>((listening) => systemSigned.listen(0, "127.0.0.1", () => listening()));
  systemSignedUrl = `https://127.0.0.1:${(systemSigned.address() as AddressInfo).port}/`;
  azure = await LocalAzure.start({ faults: { rbacDelaySeconds: 0, identityAttachDelaySeconds: 0, lroSeconds: 0 } });
  writeKept(dir, azure, [], process.pid, systemBundle);
});

afterAll(async () => {
  await azure?.stop();
  await new Promise<void>((closed) => (systemSigned ? systemSigned.close(() => closed()) : closed()));
  rmSync(dir, { recursive: true, force: true });
});

describe("the env shell's trust", () => {
  it("is the system's CAs, then Local Azure's, in one bundle beside kept.json", () => {
    expect(readFileSync(join(dir, KEPT_TRUST_FILE), "utf8")).toBe(
      `${readFileSync(systemBundle, "utf8")}${azure.caCertPem.endsWith("\n") ? azure.caCertPem : `${azure.caCertPem}\n`}`,
    );
  });

  it("reaches a server signed by a system CA and Local Azure's ARM (Python's ssl)", async (context) => {
    skipWithoutTools(context, "python3");
    // Python's ssl, as OpenSSL's tools and Go's crypto/x509, reads SSL_CERT_FILE (Debian's curl reads
    // its own compiled-in bundle, and git curl's): one reader of it is enough to show what it holds.
    const script = `set -e
eval "$(npm run -s local -- --state-dir "$KEPT_DIR" env)"
for url in "$SYSTEM_SIGNED" "$AZURE_RESOURCE_MANAGER_ENDPOINT/metadata/endpoints?api-version=2022-09-01"; do
  python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).status)' "$url"
done
echo "SSL_CERT_FILE=$SSL_CERT_FILE REQUESTS_CA_BUNDLE=$REQUESTS_CA_BUNDLE"`;
    // A new shell's environment: none of a CA setting of this process's.
    const {
      SSL_CERT_FILE: _f,
      SSL_CERT_DIR: _d,
      REQUESTS_CA_BUNDLE: _r,
      NODE_EXTRA_CA_CERTS: _n,
      ...env
    } = process.env;
    const result = await new Promise<{ code: number; stdout: string; stderr: string }>((done) =>
      execFile(
        "bash",
        ["-c", script],
        { cwd: REPO, env: { ...env, KEPT_DIR: dir, SYSTEM_SIGNED: systemSignedUrl }, timeout: HANG_GUARD_MS },
        (error, stdout, stderr) => done({ code: error ? Number(error.code ?? -1) : 0, stdout, stderr }),
      ),
    );
    const trust = join(dir, KEPT_TRUST_FILE);
    expect(result).toEqual({
      code: 0,
      stdout: `200\n200\nSSL_CERT_FILE=${trust} REQUESTS_CA_BUNDLE=${trust}\n`,
      stderr: "",
    });
  });
});

describe("the system's CA bundle", () => {
  const candidates = [join(dir, "absent.crt"), systemBundle, join(dir, "later.crt")];

  it("is the first of the systems' bundle files that exists", () => {
    expect(systemCaBundle({}, candidates)).toBe(systemBundle);
    expect(systemCaBundle({}, [join(dir, "absent.crt")])).toBeNull();
    expect(SYSTEM_CA_BUNDLES[0]).toBe("/etc/ssl/certs/ca-certificates.crt");
  });

  it("is SSL_CERT_FILE when the shell has its own, unless that is an env shell's trust bundle already", () => {
    const own = join(dir, "own.crt");
    writeFileSync(own, "");
    expect(systemCaBundle({ SSL_CERT_FILE: own }, candidates)).toBe(own);
    expect(systemCaBundle({ SSL_CERT_FILE: join(dir, KEPT_TRUST_FILE) }, candidates)).toBe(systemBundle);
    expect(systemCaBundle({ SSL_CERT_FILE: join(dir, "absent.crt") }, candidates)).toBe(systemBundle);
  });

  it("comes first in the trust bundle; without one, the bundle holds Local Azure's CA alone", () => {
    expect(trustBundleText("SYSTEM", "LOCAL")).toBe("SYSTEM\nLOCAL\n");
    expect(trustBundleText("SYSTEM\n", "LOCAL\n")).toBe("SYSTEM\nLOCAL\n");
    expect(trustBundleText(null, "LOCAL\n")).toBe("LOCAL\n");
  });
});
