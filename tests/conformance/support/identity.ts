/**
 * Helpers for driving Local Azure with Microsoft's own identity clients: read a token's claims
 * (never print the token), and the pipeline options that make a client trust Local Azure's CA.
 */

/** The claims of a JWT (the payload only: the signature and the raw token never leave this function). */
export function claimsOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8")) as Record<string, unknown>;
}

/** The header of a JWT. */
export function headerOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split(".")[0] ?? "", "base64url").toString("utf8")) as Record<string, unknown>;
}

/**
 * core-rest-pipeline's PipelineOptions.tlsOptions: Local Azure's CA is generated per start, so it is
 * passed per client instead of NODE_EXTRA_CA_CERTS (read only when the process starts).
 */
export function trusting(caPem: string): { tlsOptions: { ca: string } } {
  return { tlsOptions: { ca: caPem } };
}

/** A rejection, for asserting on its name, message and fields. */
export async function rejectionOf(work: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await work;
  } catch (error) {
    return error as Error & Record<string, unknown>;
  }
  throw new Error("expected a rejection, got a result");
}
