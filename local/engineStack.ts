import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { LocalRunOptions, LocalRunResult } from "./deploy";
import { engineEnv } from "./engineEnv";
import type { EnvSource } from "./kept";

/**
 * Where `npm run local -- --engine` keeps things under the state folder (.local-azure/), shared by the
 * runner (local/), the engine runner (engine/localRun.ts) and `npm run -s local -- env`:
 *   cloud/        the kept Local Azure (local-azure/persist.ts)
 *   pulumi/       the file:// backend holding stack `local`, and the passphrase of its secrets
 *   kept.json     while a Local Azure runs for the engine: where the stand-in plugins find it
 *   keeper.json   beside it: which process keeps that Local Azure (local/kept.ts)
 */

export const ENGINE_STACK = "local";

/** The variable naming the kept Local Azure's kept.json, where the stand-in plugins find it. */
export const KEPT_ENV = "LOCAL_AZURE_KEPT";
export const CLOUD_SUBDIR = "cloud";
export const BACKEND_SUBDIR = "pulumi";
const PASSPHRASE_FILE = "passphrase";

export function cloudDir(stateDir: string): string {
  return join(stateDir, CLOUD_SUBDIR);
}

export function backendDir(stateDir: string): string {
  return join(stateDir, BACKEND_SUBDIR);
}

/**
 * The passphrase of the local stack's secrets: random, made once per state folder and kept beside the
 * backend, owner-only. It guards secrets in a state that never leaves this machine.
 */
export function enginePassphrase(stateDir: string): string {
  const file = join(backendDir(stateDir), PASSPHRASE_FILE);
  if (existsSync(file)) return readFileSync(file, "utf8").trim();
  mkdirSync(backendDir(stateDir), { recursive: true });
  const passphrase = randomBytes(24).toString("base64url");
  writeFileSync(file, `${passphrase}\n`, { mode: 0o600 });
  return passphrase;
}

/** The built CLI, relative to the repository root. */
export const ENGINE_PULUMI = join(".engine", "bin", "pulumi");

/** The engine runner's entry (engine/localRun.ts), run in a child process by path: local/ does not import engine/. */
export const ENGINE_RUNNER = join("engine", "localRun.ts");

/** From the runner to the engine runner. */
export type EngineRequest =
  /** keep: Local Azure stays up after `pulumi up` until the engine runner gets SIGTERM. */
  | { kind: "up"; options: Omit<LocalRunOptions, "onProgress" | "keep">; keep?: boolean }
  | { kind: "destroy"; stateDir: string };

/** From the engine runner back: progress lines, then the result (`azure` is always null). */
export type EngineMessage =
  | { kind: "progress"; line: string }
  | { kind: "done"; result: Omit<LocalRunResult, "azure">; exitCode?: number };

/**
 * The real CLI's environment for `npm run -s local -- env`: local/engineEnv.ts's variables on this state
 * folder's backend and passphrase, the stack `npm run local -- --engine` made there (PULUMI_STACK, which
 * the CLI reads before the project's selected stack: that selection lives in PULUMI_HOME, shared by every
 * state folder and by anything else that runs `pulumi stack select` in this project), the transpile-only
 * TypeScript the runner uses, and where the stand-ins find a kept Local Azure.
 */
export const engineShellEnv: EnvSource = {
  name: "Pulumi engine",
  variables(stateDir) {
    const repoRoot = resolve(__dirname, "..");
    if (!existsSync(join(repoRoot, ENGINE_PULUMI))) {
      return { none: "the Pulumi CLI is not built (npm run engine:build)" };
    }
    if (!existsSync(backendDir(stateDir))) {
      return { none: "no engine stack yet (npm run local -- --engine makes one)" };
    }
    // No basePath: PATH is .engine/bin alone, put in front of the evaluating shell's own PATH (this
    // process's PATH holds what `npm run` added for the script, which does not belong in a shell).
    const { PATH, ...env } = engineEnv({
      repoRoot,
      stateDir: backendDir(stateDir),
      passphrase: enginePassphrase(stateDir),
    });
    return {
      variables: [
        ["PATH", { prepend: PATH }],
        ...Object.entries(env).sort(([a], [b]) => a.localeCompare(b)),
        ["PULUMI_NODEJS_TRANSPILE_ONLY", "true"],
        ["PULUMI_STACK", ENGINE_STACK],
        [KEPT_ENV, join(resolve(stateDir), "kept.json")],
      ],
    };
  },
};
