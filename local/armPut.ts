/**
 * The PUT azure-native sends for a create or an update, and how it tells a refused request from an
 * accepted one that then failed (pulumi-azure-native provider/pkg/azure/client_azcore.go, putOrPatch:
 * for a long-running PUT whose first answer was below 400, a failure of the operation comes back with
 * `created` true, and provider.go's defaultCreate/defaultUpdate then record the resource as partially
 * created: crud.go HandleErrorWithCheckpoint). After the operation, the resource is read back with a
 * plain GET at the type's api-version: azure-native adds no `$expand` (gen/readParams.go lists the only
 * types it reads with extra query parameters), so a run command's `instanceView` stays empty.
 */

/** What the PUT needs of ARM: Local Azure's ArmClient (the deployer's) satisfies it. */
export interface ArmHttp {
  request(
    method: "GET" | "PUT" | "DELETE",
    path: string,
    body?: unknown,
  ): Promise<{ status: number; headers?: Record<string, string>; body: unknown }>;
}

/** A PUT that did not end in a resource: refused at once (`accepted` false), or accepted and then failed. */
export class ArmPutError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** The first answer was below 400: the resource exists in ARM, in whatever state the failure left it. */
    readonly accepted: boolean,
  ) {
    super(message);
    this.name = "ArmPutError";
  }
}

const POLL_MS = 25;
const MAX_POLLS = 4_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function armErrorOf(
  answer: { status: number; body: unknown },
  accepted: boolean,
  fallback: { code: string; message: string },
): ArmPutError {
  const error = (answer.body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  return new ArmPutError(
    answer.status,
    typeof error?.code === "string" ? error.code : fallback.code,
    typeof error?.message === "string" ? error.message : fallback.message,
    accepted,
  );
}

/** Follows the operation the first answer started (Azure-AsyncOperation, else Location) to its end. */
async function awaitOperation(arm: ArmHttp, path: string, headers: Record<string, string>): Promise<void> {
  const asyncOperation = headers["azure-asyncoperation"];
  const location = headers.location;
  if (!asyncOperation && !location) return;
  for (let poll = 0; poll < MAX_POLLS; poll++) {
    await sleep(POLL_MS);
    const answer = await arm.request("GET", asyncOperation ?? location);
    if (asyncOperation) {
      const state = (answer.body as { status?: unknown } | null)?.status;
      if (answer.status < 400 && state === "Succeeded") return;
      if (answer.status >= 400 || state === "Failed" || state === "Canceled") {
        throw armErrorOf(answer, true, {
          code: String(state ?? "Failed"),
          message: `the operation on ${path} ${state}`,
        });
      }
    } else {
      if (answer.status === 200 || answer.status === 201 || answer.status === 204) return;
      if (answer.status !== 202) {
        throw armErrorOf(answer, true, { code: "Failed", message: JSON.stringify(answer.body) });
      }
    }
  }
  throw new ArmPutError(0, "OperationTimedOut", `the operation on ${path} did not finish`, true);
}

/** PUT `path` (with its api-version) and wait for the operation; returns the resource as a plain GET reads it. */
export async function putResource(arm: ArmHttp, path: string, body: unknown): Promise<{ body: unknown }> {
  const first = await arm.request("PUT", path, body);
  if (first.status >= 400) throw armErrorOf(first, false, { code: "Unknown", message: JSON.stringify(first.body) });
  await awaitOperation(arm, path, first.headers ?? {});
  const read = await arm.request("GET", path);
  if (read.status >= 400) throw armErrorOf(read, true, { code: "Unknown", message: JSON.stringify(read.body) });
  return { body: read.body };
}

/** The resource as ARM holds it after a failed operation (the partial state's outputs), or null when it cannot be read. */
export async function readAfterFailure(arm: ArmHttp, path: string): Promise<unknown | null> {
  try {
    const read = await arm.request("GET", path);
    return read.status === 200 ? read.body : null;
  } catch {
    return null;
  }
}
