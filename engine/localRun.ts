/**
 * `npm run local -- --engine`: the real `pulumi up` (the CLI built into .engine/bin) of this program
 * against a kept Local Azure, on a file:// backend under .local-azure/pulumi with the passphrase
 * secrets provider, stack `local`, configured from the runner's flags. Local Azure is started here,
 * keeps its cloud in .local-azure/cloud between runs, and runs for the duration; the stand-in
 * plugins (engine/plugins/) find it through LOCAL_AZURE_KEPT. The result is what the mock runner
 * returns, so `npm run local` prints the same outputs and verdict.
 *
 * Run by the runner in a child process (local/engineBridge.ts: local/ does not import engine/).
 */
import { spawn } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { stringify } from "yaml";
import { DEFAULT_STATE_DIR, type LocalRunOptions, type LocalRunResult, REPO_ROOT, runnerConfig } from "../local/deploy";
import { engineEnv } from "../local/engineEnv";
import {
  backendDir,
  cloudDir,
  ENGINE_PULUMI,
  ENGINE_STACK,
  type EngineMessage,
  type EngineRequest,
  enginePassphrase,
  KEPT_ENV,
} from "../local/engineStack";
import { KEPT_FILE, removeKept, writeKept } from "../local/kept";
import { STACK_SUBJECT } from "../local/policyCheck";
import { hasMandatory, type PolicyViolation, policyError, policyVerdict } from "../local/policyVerdict";
import { guestsInService, runningService } from "../local/service";
import { writeOutputs } from "../local/state";
import { revocationPending, verdictLine } from "../local/verdict";
import { type GuestKind, LocalAzure } from "../local-azure/index";
import type { AccessCheck } from "../verify/contract";
import { judgeAccessCheck } from "../verify/judge";
import { installStandIns } from "./plugins/install";

const PROJECT = "vm-identity-access";
/** The stack's security defaults as policies: every engine `up` runs them, as `npm run local` does. */
export const POLICY_PACK = join(REPO_ROOT, "policy");

export interface PulumiRun {
  code: number;
  output: string;
}

/** Runs the built CLI in the program's folder, each output line to `onLine`. */
export function runPulumi(
  args: string[],
  env: NodeJS.ProcessEnv,
  onLine: (line: string) => void = () => undefined,
): Promise<PulumiRun> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(join(REPO_ROOT, ENGINE_PULUMI), args, {
      cwd: REPO_ROOT,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    let pending = "";
    const take = (chunk: Buffer) => {
      const text = chunk.toString();
      output += text;
      pending += text;
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) onLine(line);
    };
    child.stdout.on("data", take);
    child.stderr.on("data", take);
    child.on("error", reject);
    child.on("close", (code) => {
      if (pending !== "") onLine(pending);
      resolveRun({ code: code ?? 1, output });
    });
  });
}

/** A config value as Pulumi.<stack>.yaml holds it: whole numbers and booleans typed, as Pulumi.yaml declares them. */
export function yamlValue(value: string): string | number | boolean {
  if (/^(0|[1-9]\d{0,8})$/.test(value)) return Number(value);
  if (value === "true" || value === "false") return value === "true";
  return value;
}

/**
 * Pulumi.<stack>.yaml with exactly this config (a key an earlier run set and this one does not is
 * gone). The passphrase's salt is left out: the file:// backend keeps it in the stack's checkpoint
 * too, and the CLI reads it there, so one config file serves the stack in any state folder (each with
 * its own passphrase) instead of failing with "incorrect passphrase" in all but one.
 */
export function stackConfigText(config: Record<string, string>): string {
  return stringify({
    config: Object.fromEntries(
      Object.keys(config)
        .sort()
        .map((key) => [key, yamlValue(config[key])]),
    ),
  });
}

/**
 * The deployment's error from `pulumi up`'s Diagnostics: the first resource's error with the lines
 * that follow it (a failed command's output: the probe's progress and JSON), as
 * `<type> <name>: <error>`, the form the runner's verdict reads the probe's own error from.
 */
export function upError(output: string): string {
  const diagnostics = /(?:^|\n)\s*Diagnostics:\n([\s\S]*?)(?:\n\s*(?:Outputs|Resources):\n|$)/.exec(output)?.[1] ?? "";
  const lines = diagnostics.split("\n");
  const indent = (line: string) => line.length - line.trimStart().length;
  for (let i = 0; i < lines.length; i++) {
    const resource = /^\s*(\S+) \((.+)\):$/.exec(lines[i]);
    if (!resource) continue;
    const body: string[] = [];
    for (let j = i + 1; j < lines.length && (lines[j].trim() === "" || indent(lines[j]) > indent(lines[i])); j++) {
      body.push(lines[j]);
    }
    const depth = Math.min(...body.filter((line) => line.trim() !== "").map(indent));
    const text = body
      .map((line) => line.slice(depth))
      .join("\n")
      .trim();
    if (!text.startsWith("error: ") || text === "error: update failed") continue;
    return `${resource[1]} ${resource[2]}: ${text.slice("error: ".length)}`;
  }
  const errors = output
    .split("\n")
    .filter((line) => /^\s*error: /.test(line))
    .map((line) => line.trim().replace(/^error: /, ""));
  const unique = [...new Set(errors)].filter((line) => line !== "update failed");
  return unique.length > 0 ? unique.join("\n") : "pulumi up failed (see its output above)";
}

/**
 * The policy pack's violations as `pulumi up` prints them under "Policies:": `- [level]  policy
 * (type: name)`, then the policy's description, then the violation's message. A stack policy's
 * subject (the pulumi:pulumi:Stack resource) is named as the local runner names it.
 */
export function policyViolationsFromOutput(output: string): PolicyViolation[] {
  const lines = output.split("\n");
  const violations: PolicyViolation[] = [];
  for (let i = 0; i < lines.length; i++) {
    const head = /^\s*- \[(mandatory|advisory|remediate)\]\s+(\S+)\s+\(([^:()]+(?::[^:()]+)*): ([^()]+)\)\s*$/.exec(
      lines[i],
    );
    if (!head) continue;
    const message = (lines[i + 2] ?? "").trim();
    violations.push({
      policy: head[2],
      enforcementLevel: head[1] === "advisory" ? "advisory" : "mandatory",
      resource: head[3] === "pulumi:pulumi:Stack" ? STACK_SUBJECT : head[4],
      message,
    });
  }
  return violations;
}

/** The accessCheck output re-judged from its expected values and probe evidence (never a stored verdict). */
export function rejudged(accessCheck: unknown): AccessCheck | null {
  const check = accessCheck as AccessCheck | undefined;
  if (!check || !Array.isArray(check.results)) return null;
  return judgeAccessCheck(
    check.expectation,
    check.results.map(({ vm, identity, expected, probe }) => ({ vm, identity, expected, probe })),
  );
}

export interface EngineContext {
  stateDir: string;
  env: NodeJS.ProcessEnv;
  azure: LocalAzure;
}

/**
 * What a run of the CLI needs: its environment and where the program's config points, on this run's
 * Local Azure or on the service's (`npm run local -- start`), which runs on after the run.
 */
interface EngineSession {
  stateDir: string;
  env: NodeJS.ProcessEnv;
  azure: { armEndpoint: string; sshPort: number };
  /** Stops this run's Local Azure; a service's runs on. */
  stop: () => Promise<void>;
  /** True when the service holds the cloud. */
  service: boolean;
  /** The VMs' guests: those asked for, or the service's. */
  guests: GuestKind;
}

/** The environment the CLI and the stand-ins need on this state folder (the stand-ins installed). */
function engineEnvironment(stateDir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...engineEnv({
      repoRoot: REPO_ROOT,
      stateDir: backendDir(stateDir),
      passphrase: enginePassphrase(stateDir),
      basePath: process.env.PATH,
    }),
    [KEPT_ENV]: join(stateDir, KEPT_FILE),
    // The program is type-checked by npm run typecheck; under the engine it is only transpiled.
    PULUMI_NODEJS_TRANSPILE_ONLY: "true",
  };
  for (const name of ["PULUMI_CONFIG", "PULUMI_CONFIG_SECRET_KEYS"]) delete env[name];
  installStandIns(env);
  return env;
}

/** Starts the kept Local Azure and the environment the CLI and the stand-ins need. */
export async function startEngineContext(
  stateDir: string,
  faults: LocalRunOptions["faults"],
  guests?: LocalRunOptions["guest"],
): Promise<EngineContext> {
  const azure = await LocalAzure.start({ faults, persistDir: cloudDir(stateDir), guests });
  writeKept(stateDir, azure, []);
  return { stateDir, env: engineEnvironment(stateDir), azure };
}

export async function stopEngineContext(context: EngineContext): Promise<void> {
  removeKept(context.stateDir);
  await context.azure.stop();
}

/**
 * The service of this state folder when it runs, else a Local Azure started here on the kept cloud
 * for the duration of the run.
 */
async function startEngineSession(
  stateDir: string,
  faults: LocalRunOptions["faults"],
  guests?: LocalRunOptions["guest"],
): Promise<EngineSession> {
  const service = runningService(stateDir);
  if (service && faults) {
    throw new Error(
      `the Local Azure service (pid ${service.pid}) has the faults it was started with: stop it (npm run local -- stop) to run with others`,
    );
  }
  if (service) {
    // The service's guests were set when it started: the program is configured for those.
    const inService = guestsInService(service, guests);
    if ("refused" in inService) throw new Error(inService.refused);
    const azure = { armEndpoint: service.kept.armEndpoint, sshPort: service.sshPort };
    return {
      stateDir,
      env: engineEnvironment(stateDir),
      azure,
      stop: async () => undefined,
      service: true,
      guests: inService.guests,
    };
  }
  const context = await startEngineContext(stateDir, faults, guests);
  return { ...context, stop: () => stopEngineContext(context), service: false, guests: guests ?? "portable" };
}

/** The run's options with the session's guests (a service's, when the run asked for none). */
function withSessionGuests<T extends Pick<LocalRunOptions, "guest">>(opts: T, context: EngineSession): T {
  return { ...opts, guest: context.guests };
}

/** The stack's config file, in the program's folder where `pulumi` looks for it (git-ignored for `local`). */
function stackConfigFile(stack: string): string {
  return join(REPO_ROOT, `Pulumi.${stack}.yaml`);
}

/** Selects the stack (creating it with the passphrase provider) and writes its config. */
async function prepareStack(context: EngineSession, stack: string, config: Record<string, string>): Promise<void> {
  mkdirSync(backendDir(context.stateDir), { recursive: true });
  // Written first, and again last: the CLI writes the salt of whichever backend it last used back
  // into the file, which the next state folder's passphrase would not open.
  writeFileSync(stackConfigFile(stack), stackConfigText(config));
  const select = await runPulumi(["stack", "select", stack, "--non-interactive"], context.env);
  if (select.code !== 0) {
    const init = await runPulumi(
      ["stack", "init", stack, "--secrets-provider", "passphrase", "--non-interactive"],
      context.env,
    );
    if (init.code !== 0) throw new Error(`pulumi stack init ${stack} failed:\n${init.output}`);
  }
  writeFileSync(stackConfigFile(stack), stackConfigText(config));
}

export async function upWithEngine(
  opts: Omit<LocalRunOptions, "keep">,
  onProgress: (line: string) => void = () => undefined,
  stack = ENGINE_STACK,
  /** More `pulumi up` flags, e.g. `--replace <urn>`. */
  extraArgs: string[] = [],
): Promise<Omit<LocalRunResult, "azure">> {
  const context = await startEngineSession(resolve(opts.stateDir ?? DEFAULT_STATE_DIR), opts.faults, opts.guest);
  try {
    return await upInContext(context, opts, onProgress, stack, extraArgs);
  } finally {
    await context.stop();
  }
}

async function upInContext(
  context: EngineSession,
  opts: Omit<LocalRunOptions, "keep">,
  onProgress: (line: string) => void,
  stack: string,
  extraArgs: string[],
): Promise<Omit<LocalRunResult, "azure">> {
  const started = Date.now();
  const stateDir = context.stateDir;
  const config = runnerConfig(withSessionGuests(opts, context), context.azure);
  await prepareStack(context, stack, config);
  onProgress(`pulumi up --stack ${stack} (${ENGINE_PULUMI}, state in ${backendDir(stateDir)})`);
  const up = await runPulumi(
    [
      "up",
      "--stack",
      stack,
      "--yes",
      "--skip-preview",
      "--non-interactive",
      "--color",
      "never",
      "--policy-pack",
      POLICY_PACK,
      ...extraArgs,
    ],
    context.env,
    (line) => onProgress(`  ${line}`),
  );
  const outputsRun = await runPulumi(["stack", "output", "--json", "--stack", stack], context.env);
  let outputs: Record<string, unknown> = {};
  try {
    outputs = JSON.parse(outputsRun.output) as Record<string, unknown>;
  } catch {
    // No outputs yet (a first up that failed early).
  }
  writeOutputs(stateDir, outputs);
  // A pending revocation is read from the stored output: re-judging its (unprobed) evidence would lose it.
  const pending = up.code === 0 && revocationPending(outputs.accessCheck) !== undefined;
  const accessCheck = pending ? (outputs.accessCheck as AccessCheck) : rejudged(outputs.accessCheck);
  const policyViolations = policyViolationsFromOutput(up.output);
  const rejected = up.code !== 0 && hasMandatory(policyViolations);
  const ok = up.code === 0 && accessCheck?.verified === true;
  // An update that only removes a grant succeeds without proving anything yet: its verdict says so.
  const error = rejected
    ? policyError(policyViolations)
    : up.code !== 0
      ? upError(up.output)
      : ok || pending
        ? null
        : "the deployment finished without a verified accessCheck output";
  const identity = config[`${PROJECT}:identity`] ?? "user";
  return {
    ok,
    outputs,
    error,
    commandStdouts: [],
    timeline: [],
    wallSeconds: (Date.now() - started) / 1000,
    // After a failed up, the stack's outputs are the previous update's: not this run's evidence.
    verdict: rejected
      ? policyVerdict(policyViolations)
      : verdictLine({ ok, accessCheck: up.code === 0 ? accessCheck : null, error, identity }),
    policyViolations,
  };
}

/** `up` that leaves Local Azure running (for the CLI by hand) until `release` is awaited. */
export async function upAndKeep(
  opts: Omit<LocalRunOptions, "keep">,
  onProgress: (line: string) => void,
): Promise<{ result: Omit<LocalRunResult, "azure">; release: () => Promise<void> }> {
  const context = await startEngineSession(resolve(opts.stateDir ?? DEFAULT_STATE_DIR), opts.faults, opts.guest);
  try {
    const result = await upInContext(context, opts, onProgress, ENGINE_STACK, []);
    return { result, release: () => context.stop() };
  } catch (error) {
    await context.stop();
    throw error;
  }
}

/**
 * Any other `pulumi` command on the stack (preview, stack output, stack export…), with the kept Local
 * Azure running and the stack configured as `up` would configure it.
 */
export async function pulumiWithEngine(
  opts: Omit<LocalRunOptions, "keep">,
  stack: string,
  args: string[],
): Promise<PulumiRun> {
  const stateDir = resolve(opts.stateDir ?? DEFAULT_STATE_DIR);
  const context = await startEngineSession(stateDir, opts.faults, opts.guest);
  try {
    await prepareStack(context, stack, runnerConfig(withSessionGuests(opts, context), context.azure));
    return await runPulumi([...args, "--stack", stack], context.env);
  } finally {
    await context.stop();
  }
}

/** `npm run local -- destroy` under the engine: the real `pulumi destroy`, then the kept cloud emptied. */
export async function destroyWithEngine(
  stateDir: string,
  onProgress: (line: string) => void,
  stack = ENGINE_STACK,
): Promise<number> {
  const context = await startEngineSession(resolve(stateDir), undefined);
  let code = 0;
  try {
    const select = await runPulumi(["stack", "select", stack, "--non-interactive"], context.env);
    if (select.code !== 0) {
      onProgress(`  no stack ${stack} in ${backendDir(context.stateDir)}: nothing to destroy`);
      return 0;
    }
    const destroy = await runPulumi(
      ["destroy", "--stack", stack, "--yes", "--skip-preview", "--non-interactive", "--color", "never"],
      context.env,
      (line) => onProgress(`  ${line}`),
    );
    code = destroy.code;
    // Emptied either way: the stack goes too (with --force, even if a resource could not be deleted).
    await runPulumi(["stack", "rm", stack, "--yes", "--force", "--non-interactive"], context.env);
    rmSync(stackConfigFile(stack), { force: true });
  } finally {
    await context.stop();
    // A service's cloud is its own: it runs on, with the stack's resources deleted from it.
    if (!context.service) rmSync(cloudDir(context.stateDir), { recursive: true, force: true });
  }
  return code;
}

if (require.main === module) {
  const send = (message: EngineMessage) =>
    new Promise<void>((resolveSend) =>
      process.send ? process.send(message, undefined, undefined, () => resolveSend()) : resolveSend(),
    );
  process.once("message", (request: EngineRequest) => {
    const progress = (line: string) => void send({ kind: "progress", line });
    let release: (() => Promise<void>) | undefined;
    const work =
      request.kind === "up" && request.keep
        ? upAndKeep(request.options, progress).then((kept) => {
            release = kept.release;
            return kept.result;
          })
        : request.kind === "up"
          ? upWithEngine(request.options, progress)
          : destroyWithEngine(request.stateDir, progress).then((exitCode) => ({
              ok: exitCode === 0,
              outputs: {},
              error: exitCode === 0 ? null : "pulumi destroy failed",
              commandStdouts: [],
              timeline: [],
              wallSeconds: 0,
              verdict: "",
              exitCode,
            }));
    // Kept: Ctrl-C reaches this process too, but the runner decides when Local Azure stops (SIGTERM).
    if (request.kind === "up" && request.keep) process.on("SIGINT", () => undefined);
    work
      .catch((error: Error) => ({
        ok: false,
        outputs: {},
        error: error.message,
        commandStdouts: [],
        timeline: [],
        wallSeconds: 0,
        verdict: verdictLine({ ok: false, accessCheck: null, error: error.message, identity: "user" }),
      }))
      .then((result) => send({ kind: "done", result }))
      .then(async () => {
        if (release) {
          await new Promise((resolveStop) => process.once("SIGTERM", resolveStop));
          await release();
        }
        process.exit(0);
      });
  });
}
