import { createHash } from "node:crypto";
import type { GeneratedPrivateKey, KeyAlgorithm, KeyOptions } from "../local-azure/tlsKeys";

/**
 * @pulumi/tls's PrivateKey, shared by the mock runner (local/mocks.ts) and the tls stand-in plugin
 * under the real engine (engine/plugins/): what the inputs ask for, the resource's ID, its state and
 * which outputs are secret.
 */

export const TLS_PRIVATE_KEY = "tls:index/privateKey:PrivateKey";

/** The outputs the provider marks secret: every form of the private key. */
export const TLS_SECRET_OUTPUTS = ["privateKeyOpenssh", "privateKeyPem", "privateKeyPemPkcs8"] as const;

/** Inputs whose change makes a new key (the provider has no in-place update). */
export const TLS_KEY_INPUTS = ["algorithm", "rsaBits", "ecdsaCurve"] as const;

/** The algorithm and options the inputs ask for (the provider's default algorithm is RSA). */
export function privateKeyRequest(inputs: Record<string, unknown>): { algorithm: KeyAlgorithm; options: KeyOptions } {
  const options: KeyOptions = {};
  if (inputs.rsaBits !== undefined) options.rsaBits = Number(inputs.rsaBits);
  if (inputs.ecdsaCurve !== undefined) options.ecdsaCurve = String(inputs.ecdsaCurve);
  return { algorithm: String(inputs.algorithm ?? "RSA") as KeyAlgorithm, options };
}

/** The provider's ID for a key: the SHA-1 of its public key PEM. */
export function privateKeyId(key: GeneratedPrivateKey): string {
  return createHash("sha1").update(key.publicKeyPem).digest("hex");
}

/** The resource's state: its inputs and every generated field; `secret` wraps the private forms. */
export function privateKeyState(
  inputs: Record<string, unknown>,
  key: GeneratedPrivateKey,
  secret: (value: string) => unknown,
): Record<string, unknown> {
  const state: Record<string, unknown> = { ...inputs, ...key };
  for (const field of TLS_SECRET_OUTPUTS) state[field] = secret(key[field]);
  return state;
}
