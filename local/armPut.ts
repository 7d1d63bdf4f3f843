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

/**
 * How long azure-native waits for a create or an update, its long-running operation included: the
 * request's timeout (a resource's `customTimeouts`, which the engine sends with the request), else two
 * hours (pulumi-azure-native provider/pkg/provider/provider.go, azureContext: "a new context
 * with a timeout - either the one explicitly specified, or the default one (2 hours)", `d := 120 *
 * time.Minute`). The program sets no customTimeouts, so its run command's PUT, which lasts as long as
 * the probe (asyncExecution false: up to accessCheckTimeoutSeconds and more), has the two hours.
 */
export const AZURE_NATIVE_TIMEOUT_SECONDS = 120 * 60;

/**
 * How often azure-native polls an operation when ARM does not say: its PUTs and PATCHes poll every
 * `updatePollingIntervalSeconds`, 10 (provider/pkg/azure/client_azcore.go, NewAzCoreClient; its
 * deletes 30). When ARM's answer carries Retry-After, azcore's poller waits that instead: first the
 * initial answer's, before the first poll, then each poll's (Azure/azure-sdk-for-go sdk/azcore
 * runtime/poller.go, PollUntilDone; retry-after-ms and x-ms-retry-after-ms first, in milliseconds:
 * internal/shared/shared.go, RetryAfter). Local Azure sends it on every answer while an operation runs.
 */
export const AZURE_NATIVE_POLL_SECONDS = 10;

/** What polling needs besides ARM; tests pass a clock of their own. */
export interface PollOptions {
  /** The request's timeout in seconds; none (or not positive): AZURE_NATIVE_TIMEOUT_SECONDS. */
  timeoutSeconds?: number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * The wait an answer asks for, in milliseconds (0: none): retry-after-ms, x-ms-retry-after-ms, then
 * Retry-After in seconds or as an HTTP date, as azcore reads them.
 */
export function retryAfterMs(headers: Record<string, string> | undefined, now = Date.now()): number {
  const header = (name: string) => headers?.[name] ?? headers?.[name.toLowerCase()];
  for (const name of ["retry-after-ms", "x-ms-retry-after-ms"]) {
    const ms = Number(header(name));
    if (header(name) !== undefined && Number.isFinite(ms) && ms > 0) return ms;
  }
  const value = header("retry-after");
  if (value === undefined || value.trim() === "") return 0;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? 0 : Math.max(0, date - now);
}

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

/** The clock of one request: its deadline, and a wait that never runs past it. */
interface RequestClock {
  now: () => number;
  /** Waits `ms`, or until the deadline; past the deadline, throws OperationTimedOut. */
  wait: (ms: number) => Promise<void>;
}

function requestClock(path: string, options: PollOptions): RequestClock {
  const sleep = options.sleep ?? realSleep;
  const now = options.now ?? Date.now;
  // As azureContext: a timeout that is not positive is none.
  const seconds = (options.timeoutSeconds ?? 0) > 0 ? (options.timeoutSeconds as number) : AZURE_NATIVE_TIMEOUT_SECONDS;
  const deadline = now() + seconds * 1000;
  const within = seconds % 60 === 0 ? `${seconds / 60} minutes` : `${seconds} s`;
  return {
    now,
    async wait(ms) {
      await sleep(Math.max(0, Math.min(ms, deadline - now())));
      if (now() >= deadline) {
        throw new ArmPutError(
          0,
          "OperationTimedOut",
          `operation timed out: the operation on ${path.split("?")[0]} did not finish within ${within}`,
          true,
        );
      }
    },
  };
}

/**
 * Follows the operation the first answer started (Azure-AsyncOperation, else Location) to its end, at
 * ARM's pace (AZURE_NATIVE_POLL_SECONDS), until the request's deadline.
 */
async function awaitOperation(
  arm: ArmHttp,
  path: string,
  first: { status: number; headers?: Record<string, string>; body: unknown },
  clock: RequestClock,
): Promise<void> {
  const headers = first.headers ?? {};
  const asyncOperation = headers["azure-asyncoperation"];
  const location = headers.location;
  if (!asyncOperation && !location) return;
  // Before the first poll, only the wait the first answer asks for (azcore's PollUntilDone waits it
  // even for an operation already ended).
  await clock.wait(retryAfterMs(headers, clock.now()));
  // An operation that ended with its first answer is then not polled: azcore's pollers take the
  // answer's provisioningState as their state (sdk/azcore internal/pollers/async/async.go and
  // loc/loc.go, New: "if the operation is a RELO and terminates synchronously this will prevent extra
  // polling"), and Poll on a terminal one returns that answer (runtime/poller.go); Succeeded or
  // Completed is done, Failed, Canceled or Cancelled a failure reported from that answer
  // (sdk/internal poller/util.go).
  const state = provisioningStateOf(first.body);
  if (/^(succeeded|completed)$/i.test(state)) return;
  if (/^(failed|canceled|cancelled)$/i.test(state)) {
    throw armErrorOf(first, true, { code: state, message: `the operation on ${path} ${state}` });
  }
  for (;;) {
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
    await clock.wait(retryAfterMs(answer.headers, clock.now()) || AZURE_NATIVE_POLL_SECONDS * 1000);
  }
}

/** properties.provisioningState of a resource body, or "" (azcore's poller.GetProvisioningState). */
function provisioningStateOf(body: unknown): string {
  const state = (body as { properties?: { provisioningState?: unknown } } | null)?.properties?.provisioningState;
  return typeof state === "string" ? state : "";
}

/**
 * PUT `path` (with its api-version) and wait for the operation, as azure-native does (its deadline,
 * from the PUT on, and pace: PollOptions); returns the resource as a plain GET reads it.
 */
export async function putResource(
  arm: ArmHttp,
  path: string,
  body: unknown,
  options: PollOptions = {},
): Promise<{ body: unknown }> {
  const clock = requestClock(path, options);
  const first = await arm.request("PUT", path, body);
  if (first.status >= 400) throw armErrorOf(first, false, { code: "Unknown", message: JSON.stringify(first.body) });
  await awaitOperation(arm, path, first, clock);
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
