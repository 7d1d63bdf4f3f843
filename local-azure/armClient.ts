import { request as httpsRequest } from "node:https";

/**
 * A small ARM client over HTTPS with Local Azure's CA: plain requests, and PUT/DELETE that follow
 * long-running operations (Azure-AsyncOperation, then Location) to the end, as the provider does.
 */

export interface ArmResponse {
  status: number;
  headers: Record<string, string>;
  /** Parsed JSON, or the text when the body is not JSON. */
  body: unknown;
}

export class ArmError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(`ARM ${status} ${code}: ${message}`);
    this.name = "ArmError";
  }

  static from(method: string, path: string, response: ArmResponse): ArmError {
    const error = (response.body as { error?: { code?: string; message?: string } } | null)?.error;
    return new ArmError(
      response.status,
      error?.code ?? "Unknown",
      `${method} ${path.split("?")[0]}: ${error?.message ?? JSON.stringify(response.body)}`,
    );
  }
}

type ArmMethod = "GET" | "HEAD" | "PUT" | "PATCH" | "DELETE" | "POST";

/**
 * How often a request is sent again after the server closed the kept-alive connection it went out on.
 * Node's agent keeps connections alive; a server closes an idle one after its keep-alive timeout (5 s
 * for Node's, Local Azure's included), and a request that takes it at that moment fails with
 * ECONNRESET ("socket hang up") before the server read it. Node documents retrying exactly that case
 * (`request.reusedSocket`, "ECONNRESET"), as Azure's SDK clients retry transport errors; several idle
 * connections may have closed at once, hence more than one.
 */
export const STALE_SOCKET_RETRIES = 3;

/** A request that failed because the kept-alive connection it was sent on had been closed: never read, safe to send again. */
export function closedWhileIdle(error: unknown): boolean {
  const failure = error as { code?: unknown; reusedSocket?: unknown } | null;
  return failure?.reusedSocket === true && failure.code === "ECONNRESET";
}

const POLL_MS = 25;
const MAX_POLLS = 2_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class ArmClient {
  constructor(
    private readonly endpoint: string,
    private readonly caPem: string,
    private readonly token: () => Promise<string>,
  ) {}

  async request(method: ArmMethod, path: string, body?: unknown): Promise<ArmResponse> {
    const url = new URL(path.startsWith("http") ? path : `${this.endpoint}${path}`);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const authorization = `Bearer ${await this.token()}`;
    for (let retry = 0; ; retry++) {
      try {
        return await this.send(method, url, authorization, payload);
      } catch (error) {
        if (retry >= STALE_SOCKET_RETRIES || !closedWhileIdle(error)) throw error;
      }
    }
  }

  private send(method: ArmMethod, url: URL, authorization: string, payload?: Buffer): Promise<ArmResponse> {
    return new Promise((resolve, reject) => {
      const req = httpsRequest(
        url,
        {
          method,
          ca: this.caPem,
          headers: {
            authorization,
            accept: "application/json",
            ...(payload ? { "content-type": "application/json", "content-length": payload.length } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            let parsed: unknown = text;
            try {
              parsed = text === "" ? null : JSON.parse(text);
            } catch {
              // Carried as text.
            }
            const headers: Record<string, string> = {};
            for (const [key, value] of Object.entries(res.headers)) if (typeof value === "string") headers[key] = value;
            resolve({ status: res.statusCode ?? 0, headers, body: parsed });
          });
        },
      );
      req.on("error", (error) => reject(Object.assign(error, { reusedSocket: req.reusedSocket })));
      req.end(payload);
    });
  }

  /** PUT, then wait for the long-running operation; returns the final resource (a GET). */
  async putAndWait(path: string, body: unknown): Promise<ArmResponse> {
    const response = await this.request("PUT", path, body);
    if (response.status >= 400) throw ArmError.from("PUT", path, response);
    await this.waitFor(path, response);
    const final = await this.request("GET", path);
    if (final.status >= 400) throw ArmError.from("GET", path, final);
    return final;
  }

  /** DELETE, then wait until the resource is gone. */
  async deleteAndWait(path: string): Promise<ArmResponse> {
    const response = await this.request("DELETE", path);
    if (response.status >= 400 && response.status !== 404) throw ArmError.from("DELETE", path, response);
    await this.waitFor(path, response);
    return response;
  }

  private async waitFor(path: string, response: ArmResponse): Promise<void> {
    const asyncOperation = response.headers["azure-asyncoperation"];
    const location = response.headers.location;
    for (let poll = 0; poll < MAX_POLLS && (asyncOperation || location); poll++) {
      await sleep(POLL_MS);
      if (asyncOperation) {
        const status = await this.request("GET", asyncOperation);
        const state = (status.body as { status?: string } | null)?.status;
        if (state === "Succeeded") return;
        if (state === "Failed" || state === "Canceled" || status.status >= 400)
          throw ArmError.from("GET", asyncOperation, status);
      } else if (location) {
        const status = await this.request("GET", location);
        if (status.status === 200 || status.status === 204) return;
        if (status.status !== 202) throw ArmError.from("GET", location, status);
      }
    }
    if (asyncOperation || location)
      throw new ArmError(0, "OperationTimedOut", `the operation on ${path} did not finish`);
  }
}
