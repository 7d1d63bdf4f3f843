import { fork } from "node:child_process";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { DEFAULT_STATE_DIR, type LocalRunOptions, type LocalRunResult, REPO_ROOT } from "./deploy";
import { ENGINE_PULUMI, ENGINE_RUNNER, type EngineMessage, type EngineRequest } from "./engineStack";

/**
 * `npm run local -- --engine` from the runner's side: the engine runner (engine/localRun.ts) runs in
 * a child process, reached by path and IPC only, since the runner does not import the engine tier.
 */

/** Why the engine cannot run, or null when the built CLI is there. */
export function engineMissing(repoRoot = REPO_ROOT): string | null {
  return existsSync(join(repoRoot, ENGINE_PULUMI))
    ? null
    : `the Pulumi CLI is not built (${ENGINE_PULUMI} is missing): run npm run engine:build first`;
}

interface EngineRun {
  done: EngineMessage & { kind: "done" };
  /** Stops the engine runner (and the Local Azure it keeps) and waits for it to exit. */
  stop: () => Promise<void>;
}

function runEngine(request: EngineRequest, onProgress: (line: string) => void): Promise<EngineRun> {
  const child = fork(join(REPO_ROOT, ENGINE_RUNNER), [], {
    cwd: REPO_ROOT,
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const exited = new Promise<void>((resolveExit) => child.once("exit", () => resolveExit()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await exited;
  };
  return new Promise((resolveDone, reject) => {
    child.on("message", (message: EngineMessage) => {
      if (message.kind === "progress") onProgress(message.line);
      else resolveDone({ done: message, stop });
    });
    child.on("error", reject);
    child.on("exit", (code, signal) =>
      reject(new Error(`the engine runner exited early (${signal ?? `exit ${code}`})`)),
    );
    child.send(request);
  });
}

/**
 * The real `pulumi up` against a kept Local Azure; the same result shape as deployLocal. With keep,
 * Local Azure keeps running for the CLI by hand until `release()`.
 */
export async function deployWithEngine(opts: LocalRunOptions): Promise<LocalRunResult> {
  const { onProgress, keep, ...options } = opts;
  const run = await runEngine(
    { kind: "up", options: { ...options, stateDir: resolve(opts.stateDir ?? DEFAULT_STATE_DIR) }, keep },
    onProgress ?? (() => undefined),
  );
  if (!keep) await run.stop();
  return { ...run.done.result, azure: null, ...(keep ? { release: run.stop } : {}) };
}

/** The real `pulumi destroy` of stack `local`, then the kept cloud emptied; resolves to its exit code. */
export async function destroyWithEngine(stateDir: string, onProgress: (line: string) => void): Promise<number> {
  const { done, stop } = await runEngine({ kind: "destroy", stateDir: resolve(stateDir) }, onProgress);
  await stop();
  return done.exitCode ?? (done.result.ok ? 0 : 1);
}
