import { type ChildProcess, fork } from "node:child_process";
import { join, resolve } from "node:path";
import type { WorkerMessage } from "./workerProtocol";

/**
 * The runner's worker process (local/worker.ts: Pulumi's mock runtime running the program), forked as
 * early as the command allows. Loading Pulumi and the SDKs is the longest part of a run's start-up, so
 * `npm run local` forks it before it loads the runner itself (local/main.ts), and deployLocal claims
 * that one instead of forking its own. What the worker says before it is claimed is kept and handed
 * over in order.
 *
 * A process that deploys more than once (a test file) pays that load once: a worker whose
 * run it stays for (WorkerDone.reusable) is released, says `ready` again once nothing of that run is
 * left running, and the next claim takes it. Any other worker is stopped after its run (deployLocal).
 * Released and idle workers do not keep this process alive; when it ends, however it ends, their IPC
 * channel closes and they end too (local/worker.ts: nothing then keeps them alive).
 */

const REPO_ROOT = resolve(__dirname, "..");
const WORKER_PATH = join(REPO_ROOT, "local", "worker.ts");

/**
 * The subcommands of `npm run local` (local/cli.ts), none of which deploys: named here, where nothing
 * may be loaded yet; tests/local-runner/workerProcess.test.ts holds the list to the CLI's.
 */
export const SUBCOMMANDS = ["output", "env", "destroy", "start", "status", "stop"] as const;
const NOT_DEPLOYING = new Set<string>(SUBCOMMANDS);

export interface WorkerListeners {
  message: (message: WorkerMessage) => void;
  exit: (code: number | null, signal: NodeJS.Signals | null) => void;
  error: (error: Error) => void;
  stderr: (chunk: Buffer) => void;
}

export interface ForkedWorker {
  child: ChildProcess;
  /** Epoch ms when it was forked. */
  forkedAt: number;
  /** How many runs it reported before this claim: 0 for a fresh worker. */
  runsBefore: number;
  /** Starts handing over what it says (what it said so far first, in order). */
  listen(listeners: WorkerListeners): void;
  /**
   * Hands it back after a run it stays for (WorkerDone.reusable): the listeners are dropped; once it
   * says `ready` the next claim may take it. Anything else it says then stops it.
   */
  release(): void;
}

/** The worker's environment: ours, minus any Pulumi config a surrounding `pulumi` run may have set. */
export function workerEnvironment(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { PULUMI_CONFIG: _config, PULUMI_CONFIG_SECRET_KEYS: _secretKeys, ...rest } = env;
  return rest;
}

/** Idle workers (released, then ready again) no claim took yet, oldest first, with the environment each was forked with. */
const idle: Array<{ worker: ForkedWorker; environment: string }> = [];
/**
 * Idle workers kept at most: a file that deploys several stacks at once forks one worker per stack in
 * flight, and keeping them all would hold about 180 MB each for runs that mostly come one at a time.
 */
const MAX_IDLE = 2;
/** Released workers that have not said ready yet: each settles, ready or gone, within the worker's own deadline. */
const settling = new Map<ChildProcess, Promise<void>>();

/** Whether the worker keeps this process alive: its process, its IPC channel and its stderr pipe. */
function keepAlive(child: ChildProcess, keep: boolean): void {
  const stderr = child.stderr as (NodeJS.ReadableStream & { ref?(): void; unref?(): void }) | null;
  if (keep) {
    child.ref();
    child.channel?.ref();
    stderr?.ref?.();
  } else {
    child.unref();
    child.channel?.unref();
    stderr?.unref?.();
  }
}

function forkWorker(): ForkedWorker {
  const forkedAt = Date.now();
  // What it was forked with, to be claimed again only by a process whose environment is still the same.
  const env = workerEnvironment(process.env);
  const environment = JSON.stringify(env);
  const child = fork(WORKER_PATH, [], {
    cwd: REPO_ROOT,
    // tsx without typechecking, its CommonJS hook only: the worker and everything it loads are CommonJS,
    // and tsx's ESM hooks would send each require through their loader thread (about 0.2 s of CPU per
    // worker). Nothing else inherited (a test runner's flags do not belong here).
    execArgv: ["--require", "tsx/cjs"],
    stdio: ["ignore", "ignore", "pipe", "ipc"],
    env,
  });
  // Until someone listens, every event is kept in order (an IPC message nobody listens to is lost).
  const kept: Array<(listeners: WorkerListeners) => void> = [];
  let listening: WorkerListeners | undefined;
  // After a run it stays for (WorkerDone.reusable) it says ready once it has settled, before or after
  // deployLocal releases it: it is idle when both have happened.
  let staying = false;
  let settled = false;
  let released = false;
  let gone = false;
  /** Ends the wait for this worker to settle (it said ready, or it is gone). */
  let onSettled: () => void = () => undefined;
  const deliver = (event: (listeners: WorkerListeners) => void) => {
    if (listening) event(listening);
    else kept.push(event);
  };
  const becomeIdle = () => {
    staying = settled = released = false;
    keepAlive(child, false);
    onSettled();
    // What the next claim hears first: it is ready.
    kept.push((l) => l.message({ kind: "ready" }));
    idle.push({ worker, environment });
    if (idle.length > MAX_IDLE) idle.shift()?.worker.child.kill("SIGKILL");
  };
  const worker: ForkedWorker = {
    child,
    forkedAt,
    runsBefore: 0,
    listen(listeners) {
      listening = listeners;
      for (const event of kept.splice(0)) event(listeners);
    },
    release() {
      listening = undefined;
      kept.length = 0;
      released = true;
      worker.runsBefore++;
      // It settles, then idles: neither keeps this process alive (a test file or a CLI run ends).
      keepAlive(child, false);
      // A worker that said ready and then exited before this release is gone, never idle.
      if (gone) return;
      if (settled) return becomeIdle();
      const waiting = new Promise<void>((resolveSettled) => {
        onSettled = resolveSettled;
      });
      settling.set(child, waiting);
      void waiting.then(() => settling.delete(child));
    },
  };
  child.on("message", (message: WorkerMessage) => {
    if (staying && message.kind === "ready") {
      settled = true;
      if (released) becomeIdle();
      return;
    }
    // Released, a worker that stays says ready, once nothing of its last run is left, and nothing else.
    if (released) return void child.kill("SIGKILL");
    if (message.kind === "done" && message.reusable) staying = true;
    deliver((l) => l.message(message));
  });
  child.on("exit", (code, signal) => {
    gone = true;
    const at = idle.findIndex((entry) => entry.worker === worker);
    if (at >= 0) idle.splice(at, 1);
    onSettled();
    if (!released) deliver((l) => l.exit(code, signal));
  });
  child.on("error", (error) => {
    if (!released) deliver((l) => l.error(error));
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    if (!released) deliver((l) => l.stderr(chunk));
  });
  return worker;
}

/**
 * The newest idle worker forked with the environment a fork would get now, made to keep this process
 * alive again for its run; idle workers forked with another environment are stopped.
 */
function takeIdle(): ForkedWorker | undefined {
  const environment = JSON.stringify(workerEnvironment(process.env));
  for (let entry = idle.pop(); entry !== undefined; entry = idle.pop()) {
    // Gone since it idled (its exit takes it off the list, but a claim may come first): never handed a run.
    if (entry.worker.child.exitCode !== null || entry.worker.child.signalCode !== null || !entry.worker.child.connected)
      continue;
    if (entry.environment !== environment) {
      entry.worker.child.kill("SIGKILL");
      continue;
    }
    keepAlive(entry.worker.child, true);
    return entry.worker;
  }
  return undefined;
}

/**
 * Waits until every worker released after a run has settled: said ready (the next claim may take it)
 * or gone. A worker settles within milliseconds of its report, or exits at its own deadline (local/worker.ts).
 */
export async function workersSettled(): Promise<void> {
  // Waited for, they keep this process alive until then (an idle one does not again: becomeIdle).
  for (const child of settling.keys()) keepAlive(child, true);
  await Promise.all([...settling.values()]);
}

let early: ForkedWorker | undefined;

/**
 * Whether `npm run local ARGV` deploys with the in-process runner (so a worker forked now is used):
 * not for a subcommand, --help or --version, nor under --engine. A guess from the words alone, before
 * the flags are parsed; a wrong one only costs a worker forked for nothing and stopped at the end.
 */
export function wouldDeploy(argv: readonly string[]): boolean {
  if (argv.some((word) => ["--help", "-h", "--version", "-V", "--engine"].includes(word))) return false;
  return !argv.some((word) => NOT_DEPLOYING.has(word));
}

/** Forks the worker now, for the deployment this process is about to run; returns it. */
export function prestartWorker(): ForkedWorker {
  early ??= forkWorker();
  return early;
}

/** The worker forked early, if one waits unclaimed, else an idle one, else a new one. */
export function claimWorker(): ForkedWorker {
  const worker = early ?? takeIdle() ?? forkWorker();
  early = undefined;
  return worker;
}

/** Stops a worker forked early that no deployment claimed (its IPC channel would keep this process alive). */
export function dropUnclaimedWorker(): void {
  early?.child.kill("SIGKILL");
  early = undefined;
}

/** Stops the idle workers and those still settling after a run (a test that wants none left before it ends). */
export function stopIdleWorkers(): void {
  for (let entry = idle.pop(); entry !== undefined; entry = idle.pop()) entry.worker.child.kill("SIGKILL");
  for (const child of settling.keys()) child.kill("SIGKILL");
}
