import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
} from "node:crypto";
import { utils } from "ssh2";

/**
 * What a @pulumi/tls PrivateKey resource outputs, generated for real so `npm run local` hands the VM and
 * the SSH client genuine keys. Formats follow the provider (terraform-provider-tls): PEM blocks with
 * 64-column base64 and a trailing newline, `publicKeyOpenssh` as an authorized_keys line ending in "\n",
 * and every OpenSSH field empty for ECDSA P224, which SSH cannot express.
 */
export interface GeneratedPrivateKey {
  privateKeyOpenssh: string;
  /** RSA: PKCS#1 ("RSA PRIVATE KEY"); ECDSA: SEC1 ("EC PRIVATE KEY"); ED25519: PKCS#8 ("PRIVATE KEY"). */
  privateKeyPem: string;
  privateKeyPemPkcs8: string;
  publicKeyOpenssh: string;
  publicKeyPem: string;
  /** "aa:bb:..." (ssh-keygen -E md5 without its "MD5:" prefix). */
  publicKeyFingerprintMd5: string;
  /** "SHA256:" + base64 without padding, as ssh-keygen prints it. */
  publicKeyFingerprintSha256: string;
  algorithm: string;
}

export type KeyAlgorithm = "ED25519" | "RSA" | "ECDSA";

export interface KeyOptions {
  /** Defaults to 2048, like the provider. */
  rsaBits?: number;
  /** P224 (the provider's default), P256, P384 or P521. */
  ecdsaCurve?: string;
}

const supportedAlgorithms: readonly KeyAlgorithm[] = ["ED25519", "RSA", "ECDSA"];
const ecdsaCurves: Record<string, { openSshBits?: 256 | 384 | 521; nodeCurve: string }> = {
  P224: { nodeCurve: "secp224r1" },
  P256: { openSshBits: 256, nodeCurve: "prime256v1" },
  P384: { openSshBits: 384, nodeCurve: "secp384r1" },
  P521: { openSshBits: 521, nodeCurve: "secp521r1" },
};

/** ssh-keygen's SHA256 fingerprint of an SSH public key blob. */
export function fingerprintSha256(publicKeyBlob: Buffer): string {
  return `SHA256:${createHash("sha256").update(publicKeyBlob).digest("base64").replace(/=+$/, "")}`;
}

/** The legacy MD5 fingerprint of an SSH public key blob: colon-separated lowercase hex pairs. */
export function fingerprintMd5(publicKeyBlob: Buffer): string {
  return createHash("md5").update(publicKeyBlob).digest("hex").match(/../g)?.join(":") ?? "";
}

/** Re-wraps a PEM block's base64 at 64 columns, as Go's pem.EncodeToMemory (the provider) writes it. */
export function rewrapPem(pem: string): string {
  const match = /^-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)\r?\n?-----END \1-----\s*$/.exec(pem.trim());
  if (match === null) throw new Error("not a single PEM block");
  const body = match[2].replace(/\s+/g, "");
  const lines = body.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${match[1]}-----\n${lines.join("\n")}\n-----END ${match[1]}-----\n`;
}

function validate(algorithm: string, opts: KeyOptions): void {
  if (!supportedAlgorithms.includes(algorithm as KeyAlgorithm)) {
    throw new Error(`algorithm must be one of ${supportedAlgorithms.join(", ")}; got "${algorithm}"`);
  }
  if (algorithm === "RSA" && opts.rsaBits !== undefined) {
    if (!Number.isInteger(opts.rsaBits) || opts.rsaBits < 1024 || opts.rsaBits > 16384) {
      throw new Error(`rsaBits must be an integer 1024..16384; got ${opts.rsaBits}`);
    }
  }
  if (algorithm === "ECDSA" && opts.ecdsaCurve !== undefined && !(opts.ecdsaCurve in ecdsaCurves)) {
    throw new Error(`ecdsaCurve must be one of ${Object.keys(ecdsaCurves).join(", ")}; got "${opts.ecdsaCurve}"`);
  }
}

/** The private key in the provider's "private_key_pem" flavour for its algorithm. */
function traditionalPrivatePem(key: KeyObject, algorithm: KeyAlgorithm): string {
  const pem =
    algorithm === "RSA"
      ? key.export({ type: "pkcs1", format: "pem" })
      : algorithm === "ECDSA"
        ? key.export({ type: "sec1", format: "pem" })
        : key.export({ type: "pkcs8", format: "pem" });
  return rewrapPem(pem.toString());
}

function pemFields(key: KeyObject, algorithm: KeyAlgorithm) {
  const publicKey = createPublicKey(key);
  return {
    privateKeyPem: traditionalPrivatePem(key, algorithm),
    privateKeyPemPkcs8: rewrapPem(key.export({ type: "pkcs8", format: "pem" }).toString()),
    publicKeyPem: rewrapPem(publicKey.export({ type: "spki", format: "pem" }).toString()),
  };
}

/**
 * OpenSSH's unencrypted private key format (PROTOCOL.key) for one ed25519 key. Written here because
 * ssh2's own ed25519 generator emits, about once in 400 keys, a file that neither ssh2 nor ssh-keygen
 * can read back.
 */
export function openSshEd25519PrivateKey(key: KeyObject): string {
  const jwk = key.export({ format: "jwk" });
  const seed = Buffer.from(jwk.d as string, "base64url");
  const publicKey = Buffer.from(jwk.x as string, "base64url");
  const sshString = (value: Buffer | string) => {
    const bytes = Buffer.from(value);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    return Buffer.concat([length, bytes]);
  };
  const uint32 = (value: number) => {
    const bytes = Buffer.alloc(4);
    bytes.writeUInt32BE(value);
    return bytes;
  };
  const publicBlob = Buffer.concat([sshString("ssh-ed25519"), sshString(publicKey)]);
  const check = randomBytes(4);
  let privateSection = Buffer.concat([
    check,
    check,
    publicBlob,
    sshString(Buffer.concat([seed, publicKey])),
    sshString(""),
  ]);
  const padding = Buffer.from(Array.from({ length: (8 - (privateSection.length % 8)) % 8 }, (_, i) => i + 1));
  privateSection = Buffer.concat([privateSection, padding]);
  const body = Buffer.concat([
    Buffer.from("openssh-key-v1\0", "latin1"),
    sshString("none"),
    sshString("none"),
    sshString(""),
    uint32(1),
    sshString(publicBlob),
    sshString(privateSection),
  ]).toString("base64");
  const lines = body.match(/.{1,70}/g) ?? [];
  return `-----BEGIN OPENSSH PRIVATE KEY-----\n${lines.join("\n")}\n-----END OPENSSH PRIVATE KEY-----\n`;
}

/** Generates a key pair and returns every output a @pulumi/tls PrivateKey would. */
export function generatePrivateKey(algorithm: KeyAlgorithm, opts: KeyOptions = {}): GeneratedPrivateKey {
  validate(algorithm, opts);

  if (algorithm === "ECDSA" && ecdsaCurves[opts.ecdsaCurve ?? "P224"].openSshBits === undefined) {
    // P224 has no SSH encoding: the provider leaves the OpenSSH fields and fingerprints empty.
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: ecdsaCurves.P224.nodeCurve });
    return {
      privateKeyOpenssh: "",
      ...pemFields(privateKey, algorithm),
      publicKeyOpenssh: "",
      publicKeyFingerprintMd5: "",
      publicKeyFingerprintSha256: "",
      algorithm,
    };
  }

  // ssh2 writes the OpenSSH private key format that node:crypto cannot (ed25519: our own encoder, see
  // openSshEd25519PrivateKey); node:crypto then gives the PEM forms.
  const openSshPrivate =
    algorithm === "RSA"
      ? utils.generateKeyPairSync("rsa", { bits: opts.rsaBits ?? 2048 }).private
      : algorithm === "ECDSA"
        ? utils.generateKeyPairSync("ecdsa", { bits: ecdsaCurves[opts.ecdsaCurve ?? "P224"].openSshBits as 256 })
            .private
        : openSshEd25519PrivateKey(generateKeyPairSync("ed25519").privateKey);
  const parsed = utils.parseKey(openSshPrivate);
  if (parsed instanceof Error) throw new Error(`generated ${algorithm} key did not parse: ${parsed.message}`);
  const privateKey = createPrivateKey(parsed.getPrivatePEM());
  const publicBlob = parsed.getPublicSSH();
  return {
    privateKeyOpenssh: rewrapPem(openSshPrivate),
    ...pemFields(privateKey, algorithm),
    publicKeyOpenssh: `${parsed.type} ${publicBlob.toString("base64")}\n`,
    publicKeyFingerprintMd5: fingerprintMd5(publicBlob),
    publicKeyFingerprintSha256: fingerprintSha256(publicBlob),
    algorithm,
  };
}
