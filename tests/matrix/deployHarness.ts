import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deployLocal, type LocalRunResult } from "../../local/deploy";
import { type BadSettingCase, badSettingProblems, type DeployCase, PRIVATE_KEY_MARKERS, secretLeaks } from "./cases";

/**
 * Runs the matrix rows that need the whole program (deployLocal: the Pulumi program in the mock
 * runtime against Local Azure, the probe over real SSH) and collects everything a secret could leak
 * into: outputs, the error, progress lines, the probe's stdout, outputs.json and state.json.
 */

export interface DeployCaseRun {
  row: DeployCase;
  result: LocalRunResult;
  progress: string[];
  outputsJson: string | null;
  stateJson: string | null;
  problems: string[];
}

function readIfPresent(path: string): string | null {
  return existsSync(path) ? readFileSync(path, "utf8") : null;
}

export async function runDeployCase(row: DeployCase): Promise<DeployCaseRun> {
  const stateDir = mkdtempSync(join(tmpdir(), `matrix-${row.id}-`));
  const progress: string[] = [];
  try {
    const result = await deployLocal({ ...row.options, stateDir, onProgress: (line) => progress.push(line) });
    const outputsJson = readIfPresent(join(stateDir, "outputs.json"));
    const stateJson = readIfPresent(join(stateDir, "state.json"));
    const run = { row, result, progress, outputsJson, stateJson, problems: [] as string[] };
    run.problems = [...deployProblems(row, result), ...deploySecretProblems(run)];
    return run;
  } finally {
    rmSync(stateDir, { recursive: true, force: true });
  }
}

/** How the deployment's outcome departs from the row's expectation. */
export function deployProblems(row: DeployCase, result: LocalRunResult): string[] {
  const problems: string[] = [];
  if (result.ok !== row.expect.ok) problems.push(`ok ${result.ok}, expected ${row.expect.ok}: ${result.error ?? ""}`);
  const accessCheck = result.outputs.accessCheck as { verified?: unknown; expectation?: unknown } | undefined;
  const verified = accessCheck?.verified === true;
  if (verified !== row.expect.verified)
    problems.push(`accessCheck.verified ${verified}, expected ${row.expect.verified}`);
  if (accessCheck !== undefined && accessCheck.expectation !== row.expect.expectation) {
    problems.push(`accessCheck.expectation ${String(accessCheck.expectation)}, expected ${row.expect.expectation}`);
  }
  if (row.expect.ok && result.error !== null) problems.push(`unexpected error: ${result.error}`);
  for (const fragment of row.expect.errorMentions ?? []) {
    if (!result.error?.includes(fragment)) problems.push(`the error does not name ${fragment}: ${result.error}`);
  }
  if (result.error !== null && /\n\s+at .+:\d+:\d+/.test(result.error))
    problems.push("the error carries a stack trace");
  return problems;
}

/** Tokens nowhere; the SSH private key only in state.json (which the next run needs), "[secret]" in outputs. */
export function deploySecretProblems(run: Omit<DeployCaseRun, "problems">): string[] {
  const problems = secretLeaks(
    {
      outputs: JSON.stringify(run.result.outputs),
      error: run.result.error ?? "",
      progress: run.progress.join("\n"),
      commandStdouts: JSON.stringify(run.result.commandStdouts),
      "outputs.json": run.outputsJson ?? "",
      "state.json": run.stateJson ?? "",
    },
    { privateKeysAllowed: ["state.json"] },
  );
  if (run.outputsJson === null) {
    problems.push("no outputs.json was written");
  } else {
    const outputs = JSON.parse(run.outputsJson) as Record<string, unknown>;
    if ("sshPrivateKey" in outputs && outputs.sshPrivateKey !== "[secret]") {
      problems.push(
        `outputs.json sshPrivateKey is ${JSON.stringify(outputs.sshPrivateKey).slice(0, 20)}…, not "[secret]"`,
      );
    }
  }
  if (run.result.outputs.sshPrivateKey !== undefined && run.result.outputs.sshPrivateKey !== "[secret]") {
    problems.push("LocalRunResult.outputs.sshPrivateKey is not [secret]");
  }
  return problems;
}

/** Whether any private key material shows in `text`. */
export function showsPrivateKey(text: string): boolean {
  return PRIVATE_KEY_MARKERS.some((marker) => marker.test(text));
}

export interface BadSettingDeployRun {
  row: BadSettingCase;
  result: LocalRunResult;
  /** Requests that would have created, changed or deleted something in Local Azure. */
  writes: string[];
  problems: string[];
}

/** A bad setting through the whole runner: a clear error and NOTHING created in Local Azure. */
export async function runBadSettingDeploy(row: BadSettingCase): Promise<BadSettingDeployRun> {
  const stateDir = mkdtempSync(join(tmpdir(), `matrix-${row.id}-`));
  const config = Object.fromEntries(
    Object.entries(row.raw).filter((entry): entry is [string, string] => entry[1] !== undefined),
  );
  const result = await deployLocal({ config, stateDir, keep: true });
  try {
    const writes = (result.azure?.requestLog ?? [])
      .filter((entry) => entry.method !== "GET")
      .map((entry) => `${entry.method} ${entry.path}`);
    const problems = [...badSettingProblems(row, result.ok ? null : result.error)];
    if (result.ok) problems.push("the deployment succeeded");
    if (result.azure === null) problems.push("deployLocal({ keep: true }) returned no Local Azure to inspect");
    if (writes.length > 0) problems.push(`Local Azure saw writes: ${writes.join(", ")}`);
    return { row, result, writes, problems };
  } finally {
    await result.azure?.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}
