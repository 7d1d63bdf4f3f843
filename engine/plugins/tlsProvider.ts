import type * as provider from "@pulumi/pulumi/provider";
import { unwrapSecrets, wrapSecret } from "../../local/secrets";
import {
  privateKeyId,
  privateKeyRequest,
  privateKeyState,
  TLS_KEY_INPUTS,
  TLS_PRIVATE_KEY,
} from "../../local/tlsResource";
import type { GeneratedPrivateKey, KeyAlgorithm, KeyOptions } from "../../local-azure/tlsKeys";
import { parseUrn, UNKNOWN } from "./azureNativeProvider";

/**
 * The tls stand-in's resource provider: tls:index/privateKey:PrivateKey only, generated as
 * local-azure/tlsKeys.ts does (the formats of terraform-provider-tls), every private form secret.
 * A key never changes in place: a change of algorithm, rsaBits or ecdsaCurve makes a new one.
 */

/** The version the SDK asks the engine for (node_modules/@pulumi/tls/package.json). */
export const TLS_VERSION = "5.6.1";

const ALGORITHMS = ["RSA", "ECDSA", "ED25519"];
/** The provider's defaults, so that leaving an input out and giving its default are the same key. */
const DEFAULTS: Record<string, unknown> = { algorithm: "RSA", rsaBits: 2048, ecdsaCurve: "P224" };

function requireType(urn: string): void {
  const { type } = parseUrn(urn);
  if (type !== TLS_PRIVATE_KEY) {
    throw new Error(`the tls stand-in models only ${TLS_PRIVATE_KEY}, not ${type}`);
  }
}

/** The key inputs that differ between the old state and the new inputs (each forces a new key). */
export function keyChanges(olds: Record<string, unknown>, news: Record<string, unknown>): string[] {
  const before = unwrapSecrets(olds) as Record<string, unknown>;
  const after = unwrapSecrets(news) as Record<string, unknown>;
  return TLS_KEY_INPUTS.filter((key) => {
    const a = before[key] ?? DEFAULTS[key];
    const b = after[key] ?? DEFAULTS[key];
    return a === UNKNOWN || b === UNKNOWN || String(a) !== String(b);
  });
}

export function tlsProvider(
  generatePrivateKey: (algorithm: KeyAlgorithm, opts?: KeyOptions) => GeneratedPrivateKey,
): provider.Provider {
  return {
    version: TLS_VERSION,

    async check(urn, _olds, news) {
      requireType(urn);
      const algorithm = news?.algorithm;
      if (algorithm !== undefined && algorithm !== UNKNOWN && !ALGORITHMS.includes(String(algorithm))) {
        return {
          inputs: news,
          failures: [{ property: "algorithm", reason: `must be one of ${ALGORITHMS.join(", ")}; got ${algorithm}` }],
        };
      }
      return { inputs: news };
    },

    async diff(_id, urn, olds, news) {
      requireType(urn);
      const replaces = keyChanges(olds ?? {}, news ?? {});
      return { changes: replaces.length > 0, replaces };
    },

    async create(urn, inputs) {
      requireType(urn);
      const plain = unwrapSecrets(inputs) as Record<string, unknown>;
      const { algorithm, options } = privateKeyRequest(plain);
      const key = generatePrivateKey(algorithm, options);
      return { id: privateKeyId(key), outs: privateKeyState(plain, key, wrapSecret) };
    },

    // Nothing lives outside the state: what was generated is what there is.
    async read(id, _urn, props) {
      return { id, props };
    },

    // No input changes in place; the rest of the state is the key, which stays.
    async update(_id, _urn, olds, news) {
      return { outs: { ...olds, ...news } };
    },

    async delete() {},
  };
}
