/**
 * Child process of deployLocal: runs index.ts in Pulumi's mock runtime (process-global, hence one run
 * at a time) with mocks backed by Local Azure, which runs in the parent and is reached over HTTPS and
 * SSH only. Started with `node --require tsx/cjs`; reports over IPC (see workerProtocol.ts).
 *
 * After a run that ended through its own flow it may take another (deployLocal hands it the next run
 * of the same process, local/workerProcess.ts), so the load above is paid once: it says `ready` again
 * only once nothing of the last run is left running (its event loop emptied), and each run starts
 * afresh: its own record below, the program's modules evaluated again, Pulumi's settings and config
 * set again (setMocks resets the runtime's store, setAllConfig replaces the config).
 */
import { sep } from "node:path";
import * as pulumi from "@pulumi/pulumi";
// Warm the module cache with the SDKs index.ts imports while the parent starts Local Azure.
import "@pulumi/azure-native/authorization";
import "@pulumi/azure-native/compute";
import "@pulumi/azure-native/managedidentity";
import "@pulumi/azure-native/network";
import "@pulumi/azure-native/resources";
import "@pulumi/command";
import "@pulumi/tls";
import { ArmClient } from "../local-azure/armClient";
import { ClientSecretTokenSource } from "../local-azure/entraClient";
import { generatePrivateKey } from "../local-azure/tlsKeys";
import { passStepOptionsToMocks } from "./mockOptions";
import type { StateEntry } from "./mocks";
import { LocalAzureMocks } from "./mocks";
import { evaluatePolicies, evaluateResource, evaluateStack, type RegisteredResource } from "./policyCheck";
import { previewRegistrations } from "./policyPreview";
import { hasMandatory, type PolicyViolation, policyError } from "./policyVerdict";
import { SECRET_PLACEHOLDER } from "./secrets";
import { runRemoteCommand } from "./sshExec";
import { heldAfterFailure, heldInCloud, settle, stateToWrite } from "./stackInCloud";
import type { WorkerDone, WorkerMessage, WorkerStart } from "./workerProtocol";

const PROJECT = "vm-identity-access";
const STACK = "local";

/** What a run reports; whether the worker stays for another is decided as it reports (report). */
type RunOutcome = Omit<WorkerDone, "reusable">;

/** What one run keeps: a new record for each run, so nothing of one run reaches the next. */
interface Run {
  /**
   * Failed resources and a failed check reject Outputs nobody awaits; they are reported through the
   * exports and the mocks' failures, so they must not crash the worker. Any other rejection nobody
   * handles is the program's own failure (a value a resource needed could not be had): `pulumi up`'s
   * Node.js host fails the program with it, so the run fails with the first one when nothing else failed.
   */
  unhandled: unknown[];
  /**
   * Ends the run with an error from outside its own flow: set once the run can report (its state
   * settled as a failed run's), and used when the program can go no further: a resource whose input
   * was rejected is never registered, whatever waits on it waits forever, and the event loop empties.
   */
  failRun?: (error: string) => Promise<RunOutcome>;
  reported: boolean;
  /**
   * What the stack holds should the run stop on an error of the runner's own (set once the mocks
   * exist): as after a failed run, every resource this run made beside the previous run's.
   */
  heldSoFar: () => StateEntry[] | null;
  /** The program's calls into the mocks (registrations, function calls) not answered yet. */
  inFlight: number;
  /** Reported: the run's mocks answer nothing more (whatever of it still runs cannot reach the cloud). */
  over: boolean;
}

function newRun(): Run {
  return { unhandled: [], reported: false, heldSoFar: () => null, inFlight: 0, over: false };
}

/**
 * waiting: for a start message (the IPC channel keeps the worker alive); running: a run, until it has
 * reported (the channel does not keep the worker alive, so a program that stops halfway empties the
 * event loop); settling: reported and staying, until the event loop empties (nothing of the run left).
 */
let phase: "waiting" | "running" | "settling" = "waiting";
/** The run in progress, the one that just reported, or (waiting) the next one. */
let current = newRun();

process.on("unhandledRejection", (reason) => void current.unhandled.push(reason));

function report(run: Run, outcome: RunOutcome, ownFlow: boolean): Promise<void> {
  run.reported = true;
  run.over = true;
  // A run that ended through its own flow with nothing of it in flight leaves the worker as it found it.
  const reusable = ownFlow && run.inFlight === 0 && !tainted;
  return send({ ...outcome, reusable }).then(() => {
    if (!reusable) process.exit(0);
    phase = "settling";
    // Unref'd: it does not keep the event loop going, so it never delays the loop's emptying.
    settleDeadline = setTimeout(() => process.exit(0), SETTLE_DEADLINE_MS).unref();
  });
}

/**
 * How long a reported run may still have something running (an I/O, a timer) before the worker gives
 * up staying and exits: the next run waits for this worker meanwhile (local/workerProcess.ts), and
 * waiting longer than a fresh worker takes to load would save nothing. A clean run's last I/O ends
 * within milliseconds of its report.
 */
const SETTLE_DEADLINE_MS = 2_000;
/**
 * Set for good once anything of a run called its mocks after that run reported, whenever that came (an
 * unref'd timer or socket of it can outlive the emptied event loop the next run waited for): the run
 * then in progress still reports, and the worker takes no run after it.
 */
let tainted = false;
let settleDeadline: NodeJS.Timeout | undefined;

process.on("beforeExit", () => {
  const run = current;
  if (phase === "settling") return nextRun();
  if (phase !== "running" || run.reported || run.failRun === undefined) return;
  const cause = run.unhandled[0] ?? "nothing rejected: a value the program waits on never came";
  void run
    .failRun(`the program stopped with resources still waiting: ${errorMessage(cause)}`)
    .then((outcome) => report(run, outcome, false));
});

/**
 * The last run's event loop emptied: nothing of it that keeps a process alive is left (an unref'd timer
 * or socket may be, which `tainted` answers for). Unless the parent is gone, or something of an earlier
 * run called its mocks after it reported: then the worker ends here (the event loop is empty).
 */
function nextRun(): void {
  clearTimeout(settleDeadline);
  if (!process.connected || tainted) return;
  phase = "waiting";
  current = newRun();
  process.channel?.ref();
  void send({ kind: "ready" });
}

/**
 * The modules loaded before the first run: the worker's own, the runner's, the policy pack's and the
 * SDKs. Each run starts from these alone, as a fresh worker's first run does.
 */
let loadedBeforeRuns = new Set<string>();

/** Forgets the modules the last run loaded (the program's own, never node_modules, whose SDKs keep their registrations). */
function forgetLastRunsModules(): void {
  for (const key of Object.keys(require.cache)) {
    if (!loadedBeforeRuns.has(key) && !key.includes(`${sep}node_modules${sep}`)) delete require.cache[key];
  }
}

/** A call into the run's mocks, counted while it is answered; refused once the run has reported. */
async function answered<T>(run: Run, call: () => T | Promise<T>): Promise<T> {
  if (run.over) {
    tainted = true;
    throw new Error("the run has reported: its mocks answer nothing more");
  }
  run.inFlight++;
  try {
    return await call();
  } finally {
    run.inFlight--;
  }
}

/** Tells the parent a phase of the worker's ended (--timings). */
function mark(name: string): void {
  void send({ kind: "mark", name, at: Date.now() });
}

function send(message: WorkerMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send) return resolve();
    process.send(message, undefined, undefined, () => resolve());
  });
}

/** The first line-block of an error, without a stack trace (user errors are shown as their message). */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

interface ResolvedExport {
  value: unknown;
  secret: boolean;
}

function resolveExport(value: unknown): Promise<ResolvedExport> {
  const output = pulumi.output(value as pulumi.Input<unknown>) as unknown as {
    promise(): Promise<unknown>;
    isKnown: Promise<boolean>;
    isSecret: Promise<boolean>;
  };
  output.isKnown.catch(() => undefined);
  const secret = output.isSecret.catch(() => false);
  return output.promise().then(async (resolved) => ({ value: resolved, secret: await secret }));
}

async function execute(run: Run, start: WorkerStart): Promise<RunOutcome> {
  // The deployer signs in at Entra's token endpoint with its client secret, like any other client.
  const signIn = new ClientSecretTokenSource({
    authorityHost: start.azure.authorityHost,
    tenantId: start.azure.tenantId,
    clientId: start.azure.deployer.clientId,
    clientSecret: start.azure.deployer.clientSecret,
    scope: `${start.azure.armEndpoint}/.default`,
    caPem: start.azure.caCertPem,
  });
  const arm = new ArmClient(start.azure.armEndpoint, start.azure.caCertPem, () => signIn.token());
  let pending = 0;
  // Whether the previous run's resources are in this cloud (the kept one, or the service's): then each
  // resource is created, updated or left alone as `pulumi up` would; otherwise all are created.
  const previousLive = await heldInCloud(arm, start.previous);
  const previousHeld = previousLive ? start.previous : {};
  mark("worker: signed in, the previous run's resources looked up");
  const mocks = new LocalAzureMocks({
    arm,
    subscriptionId: start.azure.subscriptionId,
    tenantId: start.azure.tenantId,
    deployer: { principalId: start.azure.deployer.principalId, clientId: start.azure.deployer.clientId },
    defaultLocation: start.config["azure-native:location"] ?? start.azure.location,
    runStart: start.runStart,
    previous: start.previous,
    previousLive,
    runRemoteCommand,
    generatePrivateKey,
    onEvent: (event) => {
      if (run.over) tainted = true;
      else void send({ kind: "event", event });
    },
  });
  run.heldSoFar = () => stateToWrite(heldAfterFailure(previousHeld, mocks.resources), previousLive);
  // The policy pack judges each resource again as it registers, its inputs now all known (as
  // `pulumi up` analyzes each step): a mandatory violation fails that resource instead of creating it.
  const registered: RegisteredResource[] = [];
  const policyViolations: PolicyViolation[] = [];
  const counted: pulumi.runtime.Mocks = {
    newResource: (args) =>
      answered(run, async () => {
        pending++;
        try {
          const resource = { type: args.type, name: args.name, inputs: args.inputs };
          registered.push(resource);
          const violations = await evaluateResource(resource);
          policyViolations.push(...violations);
          if (hasMandatory(violations)) throw new Error(policyError(violations));
          return await mocks.newResource(args);
        } finally {
          pending--;
        }
      }),
    call: (args) => answered(run, () => mocks.call(args)),
  };
  // As `pulumi up` ends: after a successful run, what left the program is deleted, dependents first.
  const done = async (
    outputs: Record<string, unknown>,
    error: string | null,
    failedAccessCheck: unknown,
  ): Promise<RunOutcome> => {
    const failed = hasMandatory(policyViolations) ? policyError(policyViolations) : error;
    const settled = await settle(arm, previousHeld, mocks.resources, failed === null, (line) => {
      void send({ kind: "progress", line });
    });
    mark("worker: what left the program deleted, the stack's resources settled");
    return {
      kind: "done",
      outputs,
      error: failed ?? settled.error,
      failedAccessCheck,
      commandStdouts: mocks.commandStdouts,
      resources: stateToWrite(settled.held, previousLive),
      timeline: mocks.timeline,
      policyViolations,
    };
  };
  // From here the program runs: if it stops halfway (see failRun), the run fails as a failed run does.
  run.failRun = (error) => done({}, mocks.failures[0] ?? error, null);
  pulumi.runtime.setAllConfig(start.config);
  // Policy first, before anything exists: a preview pass registers every resource with unknown
  // outputs and the pack judges them all; a mandatory violation stops the run with nothing created.
  const preview = await previewRegistrations({
    programPath: start.programPath,
    project: PROJECT,
    stack: STACK,
    call: (args) => answered(run, () => mocks.call(args)),
  });
  const previewViolations = preview.loadError === null ? await evaluatePolicies(preview.resources) : [];
  if (hasMandatory(previewViolations)) policyViolations.push(...previewViolations);
  mark("worker: policy pack judged the preview's registrations");
  // The mocks decide each step as the engine would, which needs the resource options it reads.
  passStepOptionsToMocks();
  await pulumi.runtime.setMocks(counted, PROJECT, STACK, false);

  if (hasMandatory(policyViolations)) return done({}, null, null);

  let program: Record<string, unknown>;
  try {
    program = require(start.programPath);
  } catch (error) {
    // A settings error (or any error while the program is evaluated): nothing was registered after it.
    return done({}, errorMessage(error), null);
  }

  mark("worker: program evaluated (its resources registering)");
  const outputs: Record<string, unknown> = {};
  const rejections: Array<{ name: string; error: unknown }> = [];
  await Promise.all(
    Object.entries(program).map(async ([name, value]) => {
      if (value === undefined) return;
      try {
        const resolved = await resolveExport(value);
        if (resolved.value === undefined) return;
        outputs[name] = resolved.secret ? SECRET_PLACEHOLDER : resolved.value;
      } catch (error) {
        rejections.push({ name, error });
      }
    }),
  );
  // Resources no export depends on may still be in flight.
  while (pending > 0) await new Promise((resolve) => setTimeout(resolve, 10));
  mark("worker: every export resolved, every resource done");
  policyViolations.push(...(await evaluateStack(registered)));

  const ordered = Object.fromEntries(
    Object.keys(program)
      .filter((k) => k in outputs)
      .map((k) => [k, outputs[k]]),
  );
  const accessCheckRejection = rejections.find((r) => r.name === "accessCheck");
  const failedAccessCheck = (accessCheckRejection?.error as { accessCheck?: unknown } | undefined)?.accessCheck ?? null;
  // As `pulumi up`: a failed resource is the deployment's error; otherwise the first rejected export.
  const error =
    mocks.failures[0] ??
    (accessCheckRejection ? errorMessage(accessCheckRejection.error) : null) ??
    (rejections[0] ? errorMessage(rejections[0].error) : null) ??
    (run.unhandled.length > 0 ? errorMessage(run.unhandled[0]) : null);
  return done(ordered, error, failedAccessCheck);
}

process.on("message", (start: WorkerStart) => {
  if (phase !== "waiting") return;
  phase = "running";
  // From here a program that stops halfway must empty the event loop (beforeExit): the channel to the
  // parent no longer keeps the worker alive (as it did not when a worker took one run only).
  process.channel?.unref();
  forgetLastRunsModules();
  const run = current;
  execute(run, start)
    .then(
      (outcome) => ({ outcome, ownFlow: true }),
      (error) => ({
        outcome: {
          kind: "done",
          outputs: {},
          error: `the local runner failed: ${errorMessage(error)}`,
          failedAccessCheck: null,
          commandStdouts: [],
          resources: run.heldSoFar(),
          timeline: [],
        } satisfies RunOutcome,
        ownFlow: false,
      }),
    )
    .then(({ outcome, ownFlow }) => (run.reported ? undefined : report(run, outcome, ownFlow)));
});
// Loaded and ready: the parent may have started Local Azure in the meantime.
loadedBeforeRuns = new Set(Object.keys(require.cache));
void send({ kind: "ready" });
