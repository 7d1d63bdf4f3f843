import { createHash, createPrivateKey, createPublicKey, sign, verify } from "node:crypto";
import { utils } from "ssh2";
import { describe, expect, it } from "vitest";
import {
  type GeneratedPrivateKey,
  generatePrivateKey,
  type KeyAlgorithm,
  type KeyOptions,
} from "../local-azure/tlsKeys";

/** The SSH wire blob of a key, via ssh2's parser (a different path from how the module built the key). */
function sshBlob(text: string): Buffer {
  const parsed = utils.parseKey(text);
  if (parsed instanceof Error) throw parsed;
  return parsed.getPublicSSH();
}

/** ssh-keygen's fingerprints, computed independently from the authorized_keys line's base64 field. */
function fingerprintsOf(publicKeyOpenssh: string) {
  const blob = Buffer.from(publicKeyOpenssh.trim().split(" ")[1], "base64");
  const md5Hex = createHash("md5").update(blob).digest("hex");
  return {
    sha256: `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`,
    md5: md5Hex.replace(/(..)(?!$)/g, "$1:"),
  };
}

/** Every PEM block the provider writes: 64-column base64, trailing newline. */
function expectPemBlock(pem: string, label: string): void {
  const lines = pem.split("\n");
  expect(lines[0]).toBe(`-----BEGIN ${label}-----`);
  expect(lines.at(-2)).toBe(`-----END ${label}-----`);
  expect(lines.at(-1)).toBe("");
  const body = lines.slice(1, -2);
  for (const line of body.slice(0, -1)) expect(line).toHaveLength(64);
  expect(body.at(-1)?.length).toBeLessThanOrEqual(64);
}

const sshCases: [KeyAlgorithm, KeyOptions, string, string][] = [
  ["ED25519", {}, "ssh-ed25519", "PRIVATE KEY"],
  ["RSA", { rsaBits: 1024 }, "ssh-rsa", "RSA PRIVATE KEY"],
  ["ECDSA", { ecdsaCurve: "P256" }, "ecdsa-sha2-nistp256", "EC PRIVATE KEY"],
  ["ECDSA", { ecdsaCurve: "P384" }, "ecdsa-sha2-nistp384", "EC PRIVATE KEY"],
];

describe("generatePrivateKey", () => {
  it.each(sshCases)("%s %o: every format parses and describes the same key", (algorithm, opts, sshType, pemLabel) => {
    const key: GeneratedPrivateKey = generatePrivateKey(algorithm, opts);
    expect(key.algorithm).toBe(algorithm);

    expect(key.publicKeyOpenssh).toMatch(new RegExp(`^${sshType} [A-Za-z0-9+/]+=*\\n$`));
    expectPemBlock(key.privateKeyOpenssh, "OPENSSH PRIVATE KEY");
    expectPemBlock(key.privateKeyPem, pemLabel);
    expectPemBlock(key.privateKeyPemPkcs8, "PRIVATE KEY");
    expectPemBlock(key.publicKeyPem, "PUBLIC KEY");

    // ssh2 reads the OpenSSH forms; node:crypto reads every PEM form; all must be the one key.
    const blob = sshBlob(key.publicKeyOpenssh);
    expect(Buffer.from(key.publicKeyOpenssh.trim().split(" ")[1], "base64")).toEqual(blob);
    expect(sshBlob(key.privateKeyOpenssh)).toEqual(blob);
    const spki = createPublicKey(key.publicKeyPem).export({ type: "spki", format: "der" });
    for (const pem of [key.privateKeyPem, key.privateKeyPemPkcs8]) {
      expect(createPublicKey(createPrivateKey(pem)).export({ type: "spki", format: "der" })).toEqual(spki);
    }
    const fromOpenssh = utils.parseKey(key.privateKeyOpenssh);
    if (fromOpenssh instanceof Error) throw fromOpenssh;
    expect(createPublicKey(fromOpenssh.getPublicPEM()).export({ type: "spki", format: "der" })).toEqual(spki);
    expect(utils.parseKey(key.privateKeyOpenssh)).toMatchObject({ type: sshType });
  });

  it.each(sshCases)("%s %o: fingerprints follow ssh-keygen's scheme", (algorithm, opts) => {
    const key = generatePrivateKey(algorithm, opts);
    const expected = fingerprintsOf(key.publicKeyOpenssh);
    expect(key.publicKeyFingerprintSha256).toBe(expected.sha256);
    expect(key.publicKeyFingerprintMd5).toBe(expected.md5);
    expect(key.publicKeyFingerprintMd5).toMatch(/^([0-9a-f]{2}:){15}[0-9a-f]{2}$/);
  });

  it("the private key signs what the public key verifies (one pair, not two)", () => {
    const key = generatePrivateKey("ED25519");
    const message = Buffer.from("prove possession");
    const signature = sign(null, message, createPrivateKey(key.privateKeyPemPkcs8));
    expect(verify(null, message, createPublicKey(key.publicKeyPem), signature)).toBe(true);
    const stranger = generatePrivateKey("ED25519");
    expect(verify(null, message, createPublicKey(stranger.publicKeyPem), signature)).toBe(false);
  });

  it("defaults RSA to 2048 bits, like the provider", () => {
    const key = generatePrivateKey("RSA");
    expect(createPublicKey(key.publicKeyPem).asymmetricKeyDetails?.modulusLength).toBe(2048);
  });

  it("defaults ECDSA to P224 and, like the provider, leaves every OpenSSH field empty for it", () => {
    const key = generatePrivateKey("ECDSA");
    expect(createPublicKey(key.publicKeyPem).asymmetricKeyDetails?.namedCurve).toBe("secp224r1");
    expectPemBlock(key.privateKeyPem, "EC PRIVATE KEY");
    expectPemBlock(key.privateKeyPemPkcs8, "PRIVATE KEY");
    expect(key).toMatchObject({
      privateKeyOpenssh: "",
      publicKeyOpenssh: "",
      publicKeyFingerprintMd5: "",
      publicKeyFingerprintSha256: "",
      algorithm: "ECDSA",
    });
  });

  it("writes ED25519 OpenSSH keys that always read back (ssh2's own generator fails about 1 in 400)", () => {
    const unreadable = Array.from({ length: 1000 }, () => generatePrivateKey("ED25519").privateKeyOpenssh).filter(
      (text) => utils.parseKey(text) instanceof Error,
    );
    expect(unreadable).toEqual([]);
  });

  it("makes a fresh key each call", () => {
    expect(generatePrivateKey("ED25519").publicKeyOpenssh).not.toBe(generatePrivateKey("ED25519").publicKeyOpenssh);
  });

  it.each<[string, KeyAlgorithm, KeyOptions, string]>([
    ["an unknown algorithm", "DSA" as KeyAlgorithm, {}, 'algorithm must be one of ED25519, RSA, ECDSA; got "DSA"'],
    ["RSA with 512 bits", "RSA", { rsaBits: 512 }, "rsaBits must be an integer 1024..16384; got 512"],
    [
      "an unknown curve",
      "ECDSA",
      { ecdsaCurve: "P999" },
      'ecdsaCurve must be one of P224, P256, P384, P521; got "P999"',
    ],
  ])("rejects %s with a clear error", (_name, algorithm, opts, message) => {
    expect(() => generatePrivateKey(algorithm, opts)).toThrow(message);
  });
});
