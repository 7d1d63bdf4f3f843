import { stringify } from "yaml";

/**
 * Cloud-init's `ssh_keys` lets the VM boot with a host key chosen before it exists, so the SSH
 * client can pin it (`connection.hostKey`) instead of trusting whatever answers first.
 * Part of the Pulumi program: keep it free of Node-only APIs beyond Buffer.
 */

export interface HostKeyPair {
  privateKey: string;
  publicKey: string;
}

const cloudConfigHeader = "#cloud-config";

/**
 * The cloud-config that installs exactly one host key: ed25519. `ssh_deletekeys` and
 * `ssh_genkeytypes: [ed25519]` stop cloud-init from generating RSA/ECDSA keys as well, because the
 * Go SSH client of @pulumi/command with a fixed host key fails when another key type is negotiated.
 */
export function renderHostKeyCloudConfig(hostKey: HostKeyPair): string {
  requireKeyText(
    hostKey.privateKey,
    "hostKey.privateKey",
    "an OpenSSH private key (-----BEGIN OPENSSH PRIVATE KEY-----)",
  );
  requireKeyText(hostKey.publicKey, "hostKey.publicKey", 'an OpenSSH public key line ("ssh-ed25519 AAAA...")');
  if (!hostKey.publicKey.trim().startsWith("ssh-ed25519 ")) {
    throw new Error(
      `hostKey.publicKey must be an ed25519 OpenSSH public key line ("ssh-ed25519 AAAA..."); got "${hostKey.publicKey.trim().split(" ")[0]}..."`,
    );
  }
  const config = {
    ssh_deletekeys: true,
    ssh_genkeytypes: ["ed25519"],
    ssh_keys: {
      ed25519_private: ensureTrailingNewline(hostKey.privateKey),
      ed25519_public: hostKey.publicKey.trim(),
    },
  };
  // lineWidth 0: never fold the public key line, so it stays greppable in the rendered text.
  return `${cloudConfigHeader}\n${stringify(config, { lineWidth: 0 })}`;
}

function requireKeyText(value: unknown, name: string, allowed: string): void {
  if (typeof value !== "string" || value.trim() === "")
    throw new Error(`${name} must be ${allowed}; got an empty value`);
}

function ensureTrailingNewline(text: string): string {
  return text.endsWith("\n") ? text : `${text}\n`;
}
