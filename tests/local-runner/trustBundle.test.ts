import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { isKeptTrustBundle, KEPT_CA_FILE, KEPT_TRUST_FILE, systemCaBundle, trustBundleText } from "../../local/kept";

/**
 * The env shell trusts the system's CAs, then Local Azure's (local/kept.ts). The system's are the
 * shell's SSL_CERT_FILE when it has one, unless that is a trust bundle an env shell already has: a
 * user's own bundle named ca-bundle.pem is theirs, not ours (review R3, a lesser point).
 */

const dir = mkdtempSync(join(tmpdir(), "trust-bundle-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const LOCAL_CA = "-----BEGIN CERTIFICATE-----\nLOCAL\n-----END CERTIFICATE-----\n";
const SYSTEM_CA = "-----BEGIN CERTIFICATE-----\nSYSTEM\n-----END CERTIFICATE-----\n";

function file(path: string, text: string): string {
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, text);
  return path;
}

describe("a trust bundle an env shell already has", () => {
  const system = file(join(dir, "etc", "ca-certificates.crt"), SYSTEM_CA);

  it("is one writeKept wrote: ca-bundle.pem ending with the ca.pem beside it, in any state folder", () => {
    const other = join(dir, "other-clone", ".local-azure");
    file(join(other, KEPT_CA_FILE), LOCAL_CA);
    const ours = file(join(other, KEPT_TRUST_FILE), trustBundleText(SYSTEM_CA, LOCAL_CA));
    expect(isKeptTrustBundle(ours)).toBe(true);
    expect(systemCaBundle({ SSL_CERT_FILE: ours }, [system])).toBe(system);
  });

  it("is not a user's own bundle that happens to be named ca-bundle.pem", () => {
    const users = file(join(dir, "company", "pki", KEPT_TRUST_FILE), SYSTEM_CA);
    expect(systemCaBundle({ SSL_CERT_FILE: users }, [system])).toBe(users);
    expect(isKeptTrustBundle(users)).toBe(false);
    // Beside a ca.pem it does not end with: still the user's.
    const beside = join(dir, "company", "pki2");
    file(join(beside, KEPT_CA_FILE), LOCAL_CA);
    const theirs = file(join(beside, KEPT_TRUST_FILE), `${LOCAL_CA}${SYSTEM_CA}`);
    expect(systemCaBundle({ SSL_CERT_FILE: theirs }, [system])).toBe(theirs);
  });
});
