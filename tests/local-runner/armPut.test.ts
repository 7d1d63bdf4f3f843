import { describe, expect, it } from "vitest";
import {
  type ArmHttp,
  ArmPutError,
  AZURE_NATIVE_POLL_SECONDS,
  AZURE_NATIVE_TIMEOUT_SECONDS,
  putResource,
  retryAfterMs,
} from "../../local/armPut";

/**
 * How the runner and the azure-native stand-in wait for a long-running PUT: azure-native's deadline
 * (the request's timeout, else two hours) and ARM's pace (Retry-After; else every 10 s), as
 * pulumi-azure-native and azcore's poller do (review R3, finding 3). Before, the runner polled
 * every 25 ms and gave up after 4,000 polls (about 100 s), so a run command whose probe waited out a
 * slow RBAC failed where a real `pulumi up` passes. The clock here is the test's own: no real waits.
 */

const PATH = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm/runCommands/probe";
const STATUS = "https://arm.invalid/operationStatuses/1";

interface Answer {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

/** ARM answering the PUT with `first`, each poll with the next of `polls` (the last one again when they run out), and the read-back. */
function scriptedArm(first: Answer, polls: Answer[]) {
  const clock = { now: 0, sleeps: [] as number[] };
  const calls: string[] = [];
  let polled = 0;
  const arm: ArmHttp = {
    async request(method, path) {
      calls.push(`${method} ${path}`);
      if (method === "PUT") return { status: first.status, headers: first.headers ?? {}, body: first.body ?? {} };
      if (path === PATH)
        return { status: 200, headers: {}, body: { id: PATH, properties: { provisioningState: "Succeeded" } } };
      const answer = polls[Math.min(polled++, polls.length - 1)];
      return { status: answer.status, headers: answer.headers ?? {}, body: answer.body ?? null };
    },
  };
  const options = {
    now: () => clock.now,
    sleep: async (ms: number) => {
      clock.sleeps.push(ms);
      clock.now += ms;
    },
  };
  return { arm, options, clock, calls, polls: () => calls.filter((call) => call === `GET ${STATUS}`).length };
}

const running = (headers: Record<string, string> = {}): Answer => ({
  status: 200,
  headers,
  body: { status: "InProgress" },
});
const succeeded: Answer = { status: 200, body: { status: "Succeeded" } };
const accepted = (headers: Record<string, string> = {}): Answer => ({
  status: 201,
  headers: { "azure-asyncoperation": STATUS, ...headers },
});

describe("putResource waits at ARM's pace", () => {
  it("waits what the first answer's Retry-After asks before the first poll, then what each poll asks", async () => {
    const { arm, options, clock, calls } = scriptedArm(accepted({ "retry-after": "3" }), [
      running({ "retry-after": "2" }),
      running({ "retry-after-ms": "1500" }),
      succeeded,
    ]);
    expect(await putResource(arm, PATH, {}, options)).toEqual({
      body: { id: PATH, properties: { provisioningState: "Succeeded" } },
    });
    expect(clock.sleeps).toEqual([3000, 2000, 1500]);
    expect(calls).toEqual([`PUT ${PATH}`, `GET ${STATUS}`, `GET ${STATUS}`, `GET ${STATUS}`, `GET ${PATH}`]);
  });

  it("polls at once when the first answer asks no wait, then every 10 s while ARM does not say", async () => {
    const { arm, options, clock } = scriptedArm(accepted(), [running(), running(), succeeded]);
    await putResource(arm, PATH, {}, options);
    expect(AZURE_NATIVE_POLL_SECONDS).toBe(10);
    expect(clock.sleeps).toEqual([0, 10_000, 10_000]);
  });

  it("polls nothing when the first answer's provisioningState is already Succeeded (an operation that ended at once), as azcore", async () => {
    const { arm, options, clock, calls } = scriptedArm(
      { ...accepted(), body: { properties: { provisioningState: "Succeeded" } } },
      [running()],
    );
    await putResource(arm, PATH, {}, options);
    // The first answer asks no wait (0), and nothing is polled.
    expect(clock.sleeps).toEqual([0]);
    expect(calls).toEqual([`PUT ${PATH}`, `GET ${PATH}`]);
  });

  it("waits what such a first answer's Retry-After asks all the same, as azcore's PollUntilDone does, then polls nothing", async () => {
    const { arm, options, clock, calls } = scriptedArm(
      { ...accepted({ "retry-after": "3" }), body: { properties: { provisioningState: "Succeeded" } } },
      [running()],
    );
    await putResource(arm, PATH, {}, options);
    expect(clock.sleeps).toEqual([3000]);
    expect(calls).toEqual([`PUT ${PATH}`, `GET ${PATH}`]);
  });

  it("fails as accepted, unpolled, when the first answer's provisioningState is Failed, with that answer's error", async () => {
    const { arm, options, calls } = scriptedArm(
      {
        ...accepted(),
        body: { properties: { provisioningState: "Failed" }, error: { code: "Conflict", message: "no room" } },
      },
      [running()],
    );
    const failure = await putResource(arm, PATH, {}, options).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ArmPutError);
    expect(failure).toMatchObject({ status: 201, code: "Conflict", message: "no room", accepted: true });
    expect(calls).toEqual([`PUT ${PATH}`]);
  });

  it("polls as usual when the first answer's provisioningState is Creating, Updating or absent", async () => {
    for (const body of [
      { properties: { provisioningState: "Creating" } },
      { properties: { provisioningState: "Updating" } },
      {},
    ]) {
      const { arm, options, polls } = scriptedArm({ ...accepted(), body }, [succeeded]);
      await putResource(arm, PATH, {}, options);
      expect(polls()).toBe(1);
    }
  });

  it("follows a Location (202 while it runs) at its Retry-After", async () => {
    const location = "https://arm.invalid/operationResults/1";
    const clock = { now: 0, sleeps: [] as number[] };
    const answers = [
      { status: 202, headers: { location, "retry-after": "1" } },
      { status: 200, headers: {} },
    ];
    const arm: ArmHttp = {
      async request(method, path) {
        if (method === "PUT") return { status: 202, headers: { location, "retry-after": "4" }, body: null };
        if (path === location) return { ...(answers.shift() as Answer), body: null };
        return { status: 200, headers: {}, body: { id: PATH } };
      },
    };
    await putResource(
      arm,
      PATH,
      {},
      {
        now: () => clock.now,
        sleep: async (ms) => {
          clock.sleeps.push(ms);
          clock.now += ms;
        },
      },
    );
    expect(clock.sleeps).toEqual([4000, 1000]);
  });

  it("a run command whose probe waits out a slow grant (111 s) finishes: one poll a second, not 4,000", async () => {
    // Local Azure's answer while a script runs: Retry-After 1.
    const { arm, options, clock, polls } = scriptedArm(accepted({ "retry-after": "1" }), [
      ...Array.from({ length: 110 }, () => running({ "retry-after": "1" })),
      succeeded,
    ]);
    await putResource(arm, PATH, {}, options);
    expect(clock.now).toBe(111_000);
    expect(polls()).toBe(111);
  });
});

describe("putResource's deadline", () => {
  it("is azure-native's two hours: an operation still running then fails as accepted (a partial create)", async () => {
    expect(AZURE_NATIVE_TIMEOUT_SECONDS).toBe(7200);
    const { arm, options, clock, polls } = scriptedArm(accepted({ "retry-after": "10" }), [
      running({ "retry-after": "10" }),
    ]);
    const failure = await putResource(arm, PATH, {}, options).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ArmPutError);
    expect(failure).toMatchObject({
      status: 0,
      code: "OperationTimedOut",
      accepted: true,
      message: `operation timed out: the operation on ${PATH} did not finish within 120 minutes`,
    });
    expect(clock.now).toBe(7_200_000);
    // The first wait, then one poll every 10 s until the deadline.
    expect(polls()).toBe(719);
  });

  it("is the request's timeout when it has one, and no wait runs past it", async () => {
    const { arm, options, clock } = scriptedArm(accepted({ "retry-after": "50" }), [running({ "retry-after": "50" })]);
    await expect(putResource(arm, PATH, {}, { ...options, timeoutSeconds: 120 })).rejects.toThrow(
      `operation timed out: the operation on ${PATH} did not finish within 2 minutes`,
    );
    expect(clock.sleeps).toEqual([50_000, 50_000, 20_000]);
  });
});

describe("retryAfterMs reads the waits azcore reads", () => {
  it("milliseconds first, then seconds or an HTTP date; none is 0", () => {
    expect(retryAfterMs({ "retry-after-ms": "250", "retry-after": "9" })).toBe(250);
    expect(retryAfterMs({ "x-ms-retry-after-ms": "40" })).toBe(40);
    expect(retryAfterMs({ "retry-after": "3" })).toBe(3000);
    expect(
      retryAfterMs({ "retry-after": "Wed, 21 Oct 2026 07:28:05 GMT" }, Date.parse("Wed, 21 Oct 2026 07:28:00 GMT")),
    ).toBe(5000);
    expect(retryAfterMs({ "retry-after": "soon" })).toBe(0);
    expect(retryAfterMs({ "retry-after-ms": "-1" })).toBe(0);
    expect(retryAfterMs({})).toBe(0);
    expect(retryAfterMs(undefined)).toBe(0);
  });
});
