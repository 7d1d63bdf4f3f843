import type { StateEntry } from "./mocks";
import type { PolicyViolation } from "./policyVerdict";
import type { TimelineEvent } from "./timeline";

/**
 * The messages between deployLocal (parent: Local Azure, state, progress) and the worker (child:
 * Pulumi's process-global mock runtime running index.ts). Only JSON crosses.
 */

export interface WorkerStart {
  kind: "start";
  /** Full Pulumi config keys ("vm-identity-access:identity") to raw string values. */
  config: Record<string, string>;
  azure: {
    armEndpoint: string;
    caCertPem: string;
    subscriptionId: string;
    tenantId: string;
    /** The deployer service principal; the worker signs in with its secret at authorityHost and never prints either. */
    deployer: { principalId: string; clientId: string; clientSecret: string };
    /** Entra's sign-in endpoints (same CA as ARM). */
    authorityHost: string;
    location: string;
  };
  previous: Record<string, StateEntry>;
  /** Epoch ms; timeline times are relative to it. */
  runStart: number;
  /** Absolute path of the Pulumi program (index.ts). */
  programPath: string;
}

export interface WorkerEvent {
  kind: "event";
  event: TimelineEvent;
}

/** A phase of the worker's own ended (npm run local -- --timings): its name and epoch ms. */
export interface WorkerMark {
  kind: "mark";
  name: string;
  at: number;
}

/** A line for the run's progress (the deletions a successful run ends with). */
export interface WorkerProgress {
  kind: "progress";
  line: string;
}

export interface WorkerDone {
  kind: "done";
  /** As `pulumi stack output --json` prints them: secrets "[secret]". */
  outputs: Record<string, unknown>;
  error: string | null;
  /** The accessCheck a failed check carried (AccessCheckFailedError.accessCheck), for the verdict line. */
  failedAccessCheck: unknown;
  commandStdouts: Array<{ name: string; stdout: string }>;
  /**
   * What the stack holds after the run (local/stackInCloud.ts settle): the state to write; null when
   * the state stays as it was (the worker failed before it knew anything, or the run holds nothing in
   * a cloud that no longer holds the previous run's resources: local/worker.ts stateToWrite).
   */
  resources: StateEntry[] | null;
  timeline: TimelineEvent[];
  /** The policy pack's violations (local/policyCheck.ts): the preview's when it rejected the run, else the deployment's. */
  policyViolations?: PolicyViolation[];
  /**
   * The worker stays for another run: this one ended through the run's own flow (not an error of the
   * runner's, not a program that stopped halfway) with nothing of it in flight. It says `ready` again
   * once nothing of this run is left running (local/worker.ts); otherwise it exits after this message.
   */
  reusable: boolean;
}

/**
 * The worker has loaded Pulumi and the SDKs and waits for its start message: once loaded, and again
 * after a run it stays for (WorkerDone.reusable), when nothing of that run is left running.
 */
export interface WorkerReady {
  kind: "ready";
}

export type WorkerMessage = WorkerReady | WorkerEvent | WorkerMark | WorkerProgress | WorkerDone;
