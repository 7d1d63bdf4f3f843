import { parse, stringify } from "yaml";

/**
 * Cloud-init's `ssh_keys` lets the VM boot with a host key chosen before it exists, so the SSH
 * client can pin it (`connection.hostKey`) instead of trusting whatever answers first.
 * This module is imported by the Pulumi program too: keep it free of Node-only APIs beyond Buffer.
 */

export interface HostKeyPair {
  privateKey: string;
  publicKey: string;
}

export interface HostKeysFromCloudConfig {
  ed25519Private?: string;
  ed25519Public?: string;
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

/**
 * Reads the pinned ed25519 host key back out of a VM's customData (base64 of a cloud-config).
 * Absent customData, or a cloud-config without `ssh_keys`, means no pinned key: `{}`.
 */
export function hostKeysFromCustomData(customDataBase64: string | undefined): HostKeysFromCloudConfig {
  if (customDataBase64 === undefined || customDataBase64 === "") return {};
  if (!/^[A-Za-z0-9+/\s]*={0,2}\s*$/.test(customDataBase64)) {
    throw new Error("customData must be base64 (of a #cloud-config document); it contains characters outside base64");
  }
  const text = Buffer.from(customDataBase64, "base64").toString("utf8");
  if (!text.startsWith(cloudConfigHeader)) {
    throw new Error(
      `customData must decode to a cloud-config starting with "${cloudConfigHeader}"; it starts with "${text.slice(0, 20)}"`,
    );
  }
  let document: unknown;
  try {
    document = parse(text);
  } catch (error) {
    throw new Error(`customData is not valid cloud-config YAML: ${(error as Error).message.split("\n")[0]}`);
  }
  if (document === null || document === undefined) return {};
  if (typeof document !== "object" || Array.isArray(document)) {
    throw new Error("customData cloud-config must be a YAML mapping (key: value) at the top level");
  }
  const sshKeys = (document as Record<string, unknown>).ssh_keys;
  if (sshKeys === undefined || sshKeys === null) return {};
  if (typeof sshKeys !== "object" || Array.isArray(sshKeys)) {
    throw new Error(
      "customData cloud-config ssh_keys must be a mapping such as {ed25519_private: ..., ed25519_public: ...}",
    );
  }
  const keys = sshKeys as Record<string, unknown>;
  const result: HostKeysFromCloudConfig = {};
  const privateKey = optionalString(keys.ed25519_private, "ssh_keys.ed25519_private");
  const publicKey = optionalString(keys.ed25519_public, "ssh_keys.ed25519_public");
  if (privateKey !== undefined) result.ed25519Private = privateKey;
  if (publicKey !== undefined) result.ed25519Public = publicKey.trim();
  return result;
}

function optionalString(value: unknown, name: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string")
    throw new Error(`customData cloud-config ${name} must be a string; got ${typeof value}`);
  return value;
}

function requireKeyText(value: unknown, name: string, allowed: string): void {
  if (typeof value !== "string" || value.trim() === "")
    throw new Error(`${name} must be ${allowed}; got an empty value`);
}

function ensureTrailingNewline(text: string): string {
  return text.endsWith("\n") ? text : `${text}\n`;
}
