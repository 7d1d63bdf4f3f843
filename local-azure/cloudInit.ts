import { parse } from "yaml";

/**
 * What a VM's cloud-init would do with its customData, as far as Local Azure needs it: the ed25519
 * host key that `ssh_keys` installs, which the guest's SSH server then presents. The emulator parses
 * whatever customData it is given; the program's own renderer is components/cloudInit.ts.
 */

export interface HostKeysFromCloudConfig {
  ed25519Private?: string;
  ed25519Public?: string;
}

const cloudConfigHeader = "#cloud-config";

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
