import { createHash } from "node:crypto";
import * as path from "node:path";
import type { Check } from "../verify/contract";
import { CHECK, judgeProbe } from "../verify/judge";
import { AccessCheckArgsError, type RunPlan } from "./accessCheckPlan";
import { invocationEnvironment, type ProbeInvocation, REVOCATION_PENDING_COMMAND } from "./probeCommand";

/**
 * The probe through Azure's managed Run Command, as pure functions the component
 * (components/vmAccessCheckRunCommand.ts) calls once its inputs are known, and tests call directly:
 * the script and its parameters, when a run must be repeated, and what its instance view proves.
 *
 * Two facts of Azure shape it (AZURE-FACTS.md, "Run Command"): an identical PUT of a run command does
 * not run its script again, and azure-native records a run command whose long-running create failed
 * as created, so the next `pulumi up` updates it in place with the same body. Hence the parameter
 * PROBE_RUN: read from the run command ARM already holds (before the resource is declared), it stays
 * the same while that run's evidence verifies what the current inputs ask, and goes up by one when it
 * does not (none yet, failed, timed out, not verified, other inputs), so that the PUT differs and Azure
 * runs the probe again. `treatFailureAsDeploymentFailure` stays false: the resource always records
 * cleanly, and the program judges the instance view itself, its error naming each failed check as
 * over SSH. A fresh check on purpose is `pulumi up --replace <the run command's URN>`: the resource
 * is deleted before it is created again under its one name (deleteBeforeReplace), and a new run
 * command always runs.
 *
 * A third fact shapes the parameters: Azure's Linux handler (Azure/run-command-handler-linux,
 * internal/exec SetEnvironmentVariables) makes each named parameter an environment variable with
 * os.Setenv in its own process, which outlives one run command (its immediate-run-command service runs
 * several at once), and skips an empty value; so a variable an earlier run command set may still be
 * there when this one's script starts. The probe reads an absent variable as meaningful (no MI_* is the
 * system identity, no PROBE_EXPECT is "access expected"), so its settings never travel as parameters of
 * their own: all of them go in the one parameter PROBE_SETTINGS, which the preamble unpacks after
 * removing every variable the probe takes as a setting, and the three parameters this program sends
 * (PROBE_SETTINGS, PROBE_TRIGGERS, PROBE_RUN) always have a value, so each run overwrites them all.
 */

/** Azure keeps the last this many bytes of a run command's output and error streams. */
export const RUN_COMMAND_OUTPUT_LIMIT_BYTES = 4096;
/** What the probe carries of a body that is not JSON under Run Command (its report must fit the output). */
export const RUN_COMMAND_MAX_TEXT_BYTES = 256;
/** Beyond the probe's deadline: the agent starting the script, the drop to nobody, the last request. */
export const RUN_COMMAND_SLACK_SECONDS = 60;
/** The parameter whose change makes Azure run the probe again. */
export const PROBE_RUN_PARAMETER = "PROBE_RUN";
/** The parameter that carries the check's triggers (a digest): a change runs the probe again. */
export const PROBE_TRIGGERS_PARAMETER = "PROBE_TRIGGERS";
/** PROBE_TRIGGERS when the check has none: a parameter with an empty value would not be set at all. */
export const NO_TRIGGERS = "none";
/** The parameter that carries every setting of the probe (verify/runCommandPreamble.sh unpacks it). */
export const PROBE_SETTINGS_PARAMETER = "PROBE_SETTINGS";
/** The preamble that starts the probe unprivileged (verify/runCommandPreamble.sh). */
export const PREAMBLE_PATH = path.join(__dirname, "..", "verify", "runCommandPreamble.sh");
/** The here-document delimiter the probe's source travels between. */
export const PROBE_SOURCE_DELIMITER = "VMIA_PROBE_SOURCE";
/** What a run command runs while nothing is probed (a revocation still to happen, or a grant that stays). */
export const UNPROBED_SCRIPT = REVOCATION_PENDING_COMMAND;

export interface RunCommandParameter {
  name: string;
  value: string;
}

/** A run command's instance view, as the invoke with `expand: "instanceView"` returns it. */
export interface RunCommandInstanceView {
  executionState?: string;
  executionMessage?: string;
  exitCode?: number;
  output?: string;
  error?: string;
}

/** What ARM holds of a run command: the parts that decide whether it must run again. */
export interface ExistingRunCommand {
  /** Its source.script. */
  script?: string;
  parameters?: RunCommandParameter[];
  instanceView?: RunCommandInstanceView;
  provisioningState?: string;
}

/** The VM a run command goes to, from the component's `runCommand` input. */
export interface VmTarget {
  subscriptionId: string;
  resourceGroupName: string;
  vmName: string;
  location: string;
}

const VM_ID =
  /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.Compute\/virtualMachines\/([^/]+)$/i;

/** The VM's resource group and name from its ID; throws AccessCheckArgsError for a bad vmId or location. */
export function runCommandTarget(component: string, values: { vmId?: unknown; location?: unknown }): VmTarget {
  const problems: string[] = [];
  const match = typeof values.vmId === "string" ? VM_ID.exec(values.vmId.trim()) : null;
  if (!match) {
    problems.push(
      `runCommand.vmId = ${JSON.stringify(values.vmId ?? null)} must be the VM's ARM resource ID: /subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.Compute/virtualMachines/<name>`,
    );
  }
  if (typeof values.location !== "string" || values.location.trim() === "") {
    problems.push("runCommand.location is required: the VM's Azure region (a run command lives where its VM does)");
  }
  if (match === null || problems.length > 0) throw new AccessCheckArgsError(component, problems);
  return {
    subscriptionId: match[1],
    resourceGroupName: match[2],
    vmName: match[3],
    location: (values.location as string).trim(),
  };
}

/** The run command's script: the preamble, then the probe's source on the preamble's stdin. */
export function runCommandScript(preamble: string, probe: string): string {
  if (probe.split("\n").includes(PROBE_SOURCE_DELIMITER)) {
    throw new Error(`the probe's source holds the line ${PROBE_SOURCE_DELIMITER}, which ends its here-document`);
  }
  const source = probe.endsWith("\n") ? probe : `${probe}\n`;
  return `${preamble.trimEnd()}\n\nvmia_run_probe <<'${PROBE_SOURCE_DELIMITER}'\n${source}${PROBE_SOURCE_DELIMITER}\n`;
}

/** A short digest of the check's triggers: their change alone makes the PUT differ. */
export function triggersDigest(triggers: readonly unknown[] | undefined): string | undefined {
  if (triggers === undefined || triggers.length === 0) return undefined;
  return createHash("sha256").update(JSON.stringify(triggers)).digest("hex").slice(0, 16);
}

/** A byte the preamble's decoder takes as it is; every other byte of a value travels as %XX. */
const UNRESERVED = /^[A-Za-z0-9._~-]$/;

/**
 * The probe's variables as PROBE_SETTINGS' one value: `NAME=value&NAME=value`, each value's UTF-8 bytes
 * outside A-Z a-z 0-9 . _ ~ - percent-encoded, so that the value is plain text the preamble splits and
 * decodes without evaluating anything.
 */
export function encodeProbeSettings(variables: Array<[string, string]>): string {
  const encode = (value: string) =>
    [...Buffer.from(value, "utf8")]
      .map((byte) => {
        const char = String.fromCharCode(byte);
        return byte < 0x80 && UNRESERVED.test(char) ? char : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
      })
      .join("");
  return variables.map(([name, value]) => `${name}=${encode(value)}`).join("&");
}

/** The variables PROBE_SETTINGS carries, as the preamble unpacks them. */
export function decodeProbeSettings(value: string): Record<string, string> {
  if (value === "") return {};
  return Object.fromEntries(
    value.split("&").map((pair) => {
      const at = pair.indexOf("=");
      return [pair.slice(0, at), decodeURIComponent(pair.slice(at + 1))];
    }),
  );
}

/** The run command's parameters for one invocation, PROBE_RUN aside: its settings, and the triggers' digest. */
export function invocationParameters(invocation: ProbeInvocation, triggers?: string): RunCommandParameter[] {
  const settings = { ...invocation.settings, maxTextBytes: RUN_COMMAND_MAX_TEXT_BYTES };
  return [
    { name: PROBE_SETTINGS_PARAMETER, value: encodeProbeSettings(invocationEnvironment({ ...invocation, settings })) },
    { name: PROBE_TRIGGERS_PARAMETER, value: triggers ?? NO_TRIGGERS },
  ];
}

/** The run command's timeout: the probe's deadline and the slack around it. */
export function runCommandTimeoutSeconds(deadlineSeconds: number): number {
  return deadlineSeconds + RUN_COMMAND_SLACK_SECONDS;
}

/**
 * The longest a run command's timeout may be here: 90 minutes, the one limit Azure documents for a run
 * command (Learn, "Run scripts in your Linux VM by using action Run Command"); nothing longer is
 * verified, and azure-native would give up first anyway (its default for a create or update is 2 hours).
 */
export const RUN_COMMAND_MAX_TIMEOUT_SECONDS = 5400;
/** The longest probe deadline through Run Command: the timeout above, less the slack. */
export const RUN_COMMAND_MAX_DEADLINE_SECONDS = RUN_COMMAND_MAX_TIMEOUT_SECONDS - RUN_COMMAND_SLACK_SECONDS;
/**
 * How long azure-native waits for a run command's PUT (it waits for the script: asyncExecution false):
 * the longest timeout and ten minutes for the agent to pick the run up, said explicitly rather than
 * left to azure-native's default.
 */
export const RUN_COMMAND_CUSTOM_TIMEOUTS = { create: "100m", update: "100m" };

/** Throws AccessCheckArgsError for a deadline a run command may not take (see RUN_COMMAND_MAX_TIMEOUT_SECONDS). */
export function checkRunCommandDeadlines(
  component: string,
  settings: { deadlineSeconds: number; quickRefusalSeconds?: number },
): void {
  const problems = (["deadlineSeconds", "quickRefusalSeconds"] as const)
    .filter((key) => (settings[key] ?? 0) > RUN_COMMAND_MAX_DEADLINE_SECONDS)
    .map(
      (key) =>
        `${key} = ${settings[key]} is longer than a check through Run Command may take: at most ${RUN_COMMAND_MAX_DEADLINE_SECONDS} ` +
        `(the run command's timeout is the deadline plus ${RUN_COMMAND_SLACK_SECONDS} s, and 90 minutes is the one limit Azure documents for a run command)`,
    );
  if (problems.length > 0) throw new AccessCheckArgsError(component, problems);
}

/** What the run command is declared with in this update. */
export interface RunCommandBody {
  script: string;
  parameters: RunCommandParameter[];
  timeoutInSeconds: number;
  /** The invocation it runs; undefined while nothing is probed. */
  invocation?: ProbeInvocation;
  /** True when this is the body ARM already holds, whose last run verifies: Azure runs nothing. */
  keeps: boolean;
}

const parameterValue = (parameters: RunCommandParameter[] | undefined, name: string) =>
  parameters?.find((parameter) => parameter.name === name)?.value;

/**
 * Which run a run command's body is: its three parameters' values. The preamble reports them in the
 * evidence ("run"), so the evidence says which run produced it: ARM's parameters are the last body
 * requested, its instance view the last run executed, and the two differ when a PUT was taken and its
 * script never ran (the VM stopped, its agent down, the operation failed).
 */
export interface RunIdentity {
  probeRun: string;
  triggers: string;
  settings: string;
}

/** The run a body's parameters make; undefined when one of the three is missing (not this program's run command). */
export function runIdentity(parameters: RunCommandParameter[] | undefined): RunIdentity | undefined {
  const probeRun = parameterValue(parameters, PROBE_RUN_PARAMETER);
  const triggers = parameterValue(parameters, PROBE_TRIGGERS_PARAMETER);
  const settings = parameterValue(parameters, PROBE_SETTINGS_PARAMETER);
  if (probeRun === undefined || triggers === undefined || settings === undefined) return undefined;
  return { probeRun, triggers, settings };
}

/** Whether two parameter lists name the same values, PROBE_RUN aside (order does not matter). */
export function sameParameters(held: RunCommandParameter[] | undefined, wanted: RunCommandParameter[]): boolean {
  const asMap = (list: RunCommandParameter[]) =>
    new Map(list.filter((p) => p.name !== PROBE_RUN_PARAMETER).map((p) => [p.name, p.value] as const));
  const a = asMap(held ?? []);
  const b = asMap(wanted);
  return a.size === b.size && [...b].every(([name, value]) => a.get(name) === value);
}

/** The next PROBE_RUN after `previous`: one more, or 1 when there was none. */
export function nextProbeRun(previous: string | undefined): string {
  const n = previous !== undefined && /^\d{1,9}$/.test(previous) ? Number(previous) : 0;
  return String(n + 1);
}

/**
 * The run command for `plan` in this update, given what ARM holds under its name (undefined: nothing,
 * a 404). Its last run is kept (the same PROBE_RUN, so the same body: Azure does not run it again)
 * only when ARM holds what this update would send (script and parameters), its operation succeeded,
 * its instance view is the evidence of that very run (not of an earlier one: a PUT ARM took whose
 * script never ran leaves the instance view as it was), and that evidence verifies what this update
 * expects.
 * Otherwise PROBE_RUN goes up and the body differs, so Azure runs the probe: the first form where
 * nothing ran before, the repeated form (a refusal that waits out a revocation) where something did.
 */
export function runCommandBody(
  plan: RunPlan,
  existing: ExistingRunCommand | undefined,
  scripts: { probe: string },
  triggers?: string,
): RunCommandBody {
  if (plan.unprobed !== undefined) {
    return { script: UNPROBED_SCRIPT, parameters: [], timeoutInSeconds: RUN_COMMAND_SLACK_SECONDS, keeps: false };
  }
  const body = (invocation: ProbeInvocation, probeRun: string, keeps = false): RunCommandBody => ({
    script: scripts.probe,
    parameters: [...invocationParameters(invocation, triggers), { name: PROBE_RUN_PARAMETER, value: probeRun }],
    timeoutInSeconds: runCommandTimeoutSeconds(invocation.settings.deadlineSeconds),
    invocation,
    keeps,
  });
  if (existing === undefined) return body(plan.first, "1");
  const previousRun = parameterValue(existing.parameters, PROBE_RUN_PARAMETER);
  const heldRun = runIdentity(existing.parameters);
  const candidates = plan.repeat !== undefined ? [plan.first, plan.repeat] : [plan.first];
  for (const invocation of candidates) {
    if (
      previousRun !== undefined &&
      heldRun !== undefined &&
      existing.provisioningState === "Succeeded" &&
      // A new script (a probe upgrade) runs again, so a preview shows no verdict the update will not use.
      existing.script === scripts.probe &&
      sameParameters(existing.parameters, invocationParameters(invocation, triggers)) &&
      judgeRun(plan, runEvidence(existing.instanceView, heldRun)).verified
    ) {
      return body(invocation, previousRun, true);
    }
  }
  return body(plan.repeat ?? plan.first, nextProbeRun(previousRun));
}

/** What a run command's instance view holds: the probe's JSON, or why there is none to judge. */
export type RunEvidence = { probe: unknown } | { failure: string; output: string };

/** Control characters escaped, length bounded: text from the VM, shown in an error. */
function quoted(text: string, max = 300): string {
  const cut = text.length > max ? `${text.slice(0, max)}…` : text;
  return JSON.stringify(cut);
}

function lastLine(text: string | undefined): string | undefined {
  const lines = (text ?? "").split("\n").map((line) => line.trim());
  return lines.filter((line) => line !== "").at(-1);
}

/** A run's state in words: `executionState Failed, exit code 3: <message>`. */
function stateOf(view: RunCommandInstanceView): string {
  const parts = [`executionState ${view.executionState ?? "unknown"}`];
  if (typeof view.exitCode === "number") parts.push(`exit code ${view.exitCode}`);
  const message = view.executionMessage?.trim() ? `: ${quoted(view.executionMessage.trim())}` : "";
  return `${parts.join(", ")}${message}`;
}

/** A run as an error names it: `PROBE_RUN 2, PROBE_TRIGGERS <digest>`, and whether its settings differ from `sent`'s. */
function describeRun(run: Partial<Record<keyof RunIdentity, unknown>>, sent?: RunIdentity): string {
  const settings = sent !== undefined && run.settings !== sent.settings ? ", other settings" : "";
  return `PROBE_RUN ${String(run.probeRun)}, PROBE_TRIGGERS ${String(run.triggers)}${settings}`;
}

const NOT_RUN =
  "the VM's agent has not run it (the VM stopped or deallocated, its agent not running, or the run command's " +
  "operation failed before it ran); the next pulumi up runs it again";

/** Why a probe's report is not the evidence of run `sent`, or undefined when it is. */
function otherRun(report: object, sent: RunIdentity): string | undefined {
  const run = (report as { run?: unknown }).run;
  if (typeof run !== "object" || run === null) {
    return `the instance view holds evidence that names no run (a run command made by an earlier version of this program, or by someone else) where this update sent ${describeRun(sent)}; the next pulumi up runs it again`;
  }
  const found = run as Partial<Record<keyof RunIdentity, unknown>>;
  if (found.probeRun === sent.probeRun && found.triggers === sent.triggers && found.settings === sent.settings) {
    return undefined;
  }
  return `the instance view holds the evidence of another run (${describeRun(found, sent)}) than the one this update sent (${describeRun(sent)}): ${NOT_RUN}`;
}

/**
 * The evidence in a run command's instance view; with `sent`, only if it is the evidence of that run
 * (the preamble names its run in the report). Azure keeps only the last 4,096 bytes of the output, so a
 * report longer than that comes back with its beginning cut off: that is said as such, never passed on
 * as text that is not JSON.
 */
export function runEvidence(view: RunCommandInstanceView | undefined, sent?: RunIdentity): RunEvidence {
  if (view === undefined || view === null) {
    return { failure: "the run command has no instance view: the VM's agent has not reported a run", output: "" };
  }
  const output = typeof view.output === "string" ? view.output : "";
  const text = output.trim();
  const stderr = lastLine(view.error);
  const lastWords = stderr !== undefined ? `; the probe's last words on stderr: ${quoted(stderr)}` : "";
  switch (view.executionState) {
    case "Pending":
    case "Running":
      return { failure: `the run command has not finished (${stateOf(view)})`, output };
    case "TimedOut":
      return { failure: `the run command timed out before the probe reported (${stateOf(view)})${lastWords}`, output };
    case "Canceled":
      return { failure: `the run command was canceled (${stateOf(view)})${lastWords}`, output };
  }
  if (text === "") {
    return { failure: `the probe printed no evidence (${stateOf(view)})${lastWords}`, output };
  }
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) {
      const other = sent !== undefined ? otherRun(parsed, sent) : undefined;
      return other !== undefined ? { failure: other, output } : { probe: parsed };
    }
  } catch {
    // Not one JSON object: cut short, or not a report at all (below).
  }
  const bytes = Buffer.byteLength(output, "utf8");
  if (bytes >= RUN_COMMAND_OUTPUT_LIMIT_BYTES - 96 || (!text.startsWith("{") && text.endsWith("}"))) {
    return {
      failure:
        `the evidence was cut short: Azure keeps only the last ${RUN_COMMAND_OUTPUT_LIMIT_BYTES.toLocaleString("en-US")} ` +
        `bytes of a run command's output, and the probe's report was longer (${bytes} bytes came back, ` +
        `beginning ${quoted(text.slice(0, 40))})`,
      output,
    };
  }
  return { probe: text };
}

/** The verdict of one run from its evidence: the judge's checks, or a failed probe-output check saying why. */
export function judgeRun(plan: RunPlan, evidence: RunEvidence): { probe: unknown; checks: Check[]; verified: boolean } {
  if ("failure" in evidence) {
    return {
      probe: evidence.output.trim(),
      checks: [{ name: CHECK.probeOutput, ok: false, detail: evidence.failure }],
      verified: false,
    };
  }
  return { probe: evidence.probe, ...judgeProbe(evidence.probe, plan.expected, plan.kind, plan.expectation) };
}
