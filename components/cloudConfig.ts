import { stringify } from "yaml";

export interface HostKeyPair {
  /** OpenSSH private key text. */
  privateKey: string;
  /** OpenSSH public key line. */
  publicKey: string;
}

/**
 * The cloud-config that installs the VM's SSH host key, so the program knows the key before the VM
 * boots and can pin it in the check's connection (an impostor cannot answer the check).
 * Only ed25519: the SSH client of @pulumi/command fails when a fixed host key's type differs from
 * the one negotiated, so the VM must not offer any other host key type.
 */
export function renderHostKeyCloudConfig(hostKey: HostKeyPair): string {
  const config = {
    ssh_deletekeys: true,
    ssh_genkeytypes: ["ed25519"],
    ssh_keys: { ed25519_private: hostKey.privateKey, ed25519_public: hostKey.publicKey.trim() },
  };
  return `#cloud-config\n${stringify(config)}`;
}

/** `customData` is the base64 of the cloud-config text. */
export function hostKeyCustomData(hostKey: HostKeyPair): string {
  return Buffer.from(renderHostKeyCloudConfig(hostKey), "utf8").toString("base64");
}
