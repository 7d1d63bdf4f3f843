import { type ChildProcess, fork } from "node:child_process";
import { join, resolve } from "node:path";
import type { WorkerMessage } from "./workerProtocol";

/**
 * The runner's worker process (local/worker.ts: Pulumi's mock runtime running the program), forked as
 * early as the command allows. Loading Pulumi and the SDKs is the longest part of a run's start-up, so
 * `npm run local` forks it before it loads the runner itself (local/main.ts), and deployLocal claims
 * that one instead of forking its own. What the worker says before it is claimed is kept and handed
 * over in order.
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
  /** Starts handing over what it says (what it said so far first, in order). */
  listen(listeners: WorkerListeners): void;
}

/** The worker's environment: ours, minus any Pulumi config a surrounding `pulumi` run may have set. */
export function workerEnvironment(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { PULUMI_CONFIG: _config, PULUMI_CONFIG_SECRET_KEYS: _secretKeys, ...rest } = env;
  return rest;
}

function forkWorker(): ForkedWorker {
  const forkedAt = Date.now();
  const child = fork(WORKER_PATH, [], {
    cwd: REPO_ROOT,
    // tsx without typechecking, its CommonJS hook only: the worker and everything it loads are CommonJS,
    // and tsx's ESM hooks would send each require through their loader thread (about 0.2 s of CPU per
    // worker). Nothing else inherited (a test runner's flags do not belong here).
    execArgv: ["--require", "tsx/cjs"],
    stdio: ["ignore", "ignore", "pipe", "ipc"],
    env: workerEnvironment(process.env),
  });
  // Until someone listens, every event is kept in order (an IPC message nobody listens to is lost).
  const kept: Array<(listeners: WorkerListeners) => void> = [];
  let listening: WorkerListeners | undefined;
  const deliver = (event: (listeners: WorkerListeners) => void) => {
    if (listening) event(listening);
    else kept.push(event);
  };
  child.on("message", (message: WorkerMessage) => deliver((l) => l.message(message)));
  child.on("exit", (code, signal) => deliver((l) => l.exit(code, signal)));
  child.on("error", (error) => deliver((l) => l.error(error)));
  child.stderr?.on("data", (chunk: Buffer) => deliver((l) => l.stderr(chunk)));
  return {
    child,
    forkedAt,
    listen(listeners) {
      listening = listeners;
      for (const event of kept.splice(0)) event(listeners);
    },
  };
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

/** The worker forked early, if one waits unclaimed, else a new one. */
export function claimWorker(): ForkedWorker {
  const worker = early ?? forkWorker();
  early = undefined;
  return worker;
}

/** Stops a worker forked early that no deployment claimed (its IPC channel would keep this process alive). */
export function dropUnclaimedWorker(): void {
  early?.child.kill("SIGKILL");
  early = undefined;
}
