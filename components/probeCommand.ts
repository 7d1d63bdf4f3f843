import type { Expectation } from "../verify/contract";

/**
 * The command line that runs verify/probe.sh on the VM. Settings go inline (`VAR='value' … bash -s`)
 * because sshd drops SSH environment requests its AcceptEnv does not list; the script itself arrives
 * on stdin, so nothing has to be copied to the VM first.
 */

export interface ProbeSettings {
  armEndpoint: string;
  /** The user-assigned identity's client ID; absent for the system-assigned identity. */
  clientId?: string;
  /** Selects a user-assigned identity by object (principal) ID instead; at most one selector is set. */
  objectId?: string;
  /** Selects a user-assigned identity by ARM resource ID instead. */
  resourceId?: string;
  subscriptionId: string;
  resourceGroup: string;
  deadlineSeconds: number;
  /** Only when configured: otherwise the VM's own IMDS (the probe's default) is used. */
  imdsEndpoint?: string;
  /** PROBE_EXPECT=denied: wait for ARM's refusal instead of access (absent: contract v1's behaviour). */
  expectDenied?: boolean;
  /** PROBE_MAX_TEXT_BYTES: what is carried of a body that is not JSON (absent: the probe's 4096). */
  maxTextBytes?: number;
}

/**
 * One run of the probe, as any transport sends it:
 * - granted: contract v1; exit 1 (not verified) fails the run, so the next `pulumi up` probes again.
 * - denied: contract v1 read quickly where nothing is propagating; a 403 (exit 1) is the proof.
 * - refusal: PROBE_EXPECT=denied; a read ARM still allows is asked again until the deadline.
 */
export interface ProbeInvocation {
  form: "granted" | "denied" | "refusal";
  settings: ProbeSettings;
}

/** The probe's deadline when nothing is propagating (grantAccess false): denial shows at once. */
export const NEGATIVE_CONTROL_DEADLINE_SECONDS = 10;

/** Quotes a value for a POSIX shell: single quotes, with embedded ones closed, escaped and reopened. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** The probe's variables, in the order they appear on the command line. */
export function probeEnvironment(settings: ProbeSettings): Array<[string, string]> {
  const vars: Array<[string, string]> = [];
  if (settings.imdsEndpoint !== undefined) vars.push(["AZURE_POD_IDENTITY_AUTHORITY_HOST", settings.imdsEndpoint]);
  vars.push(["ARM_ENDPOINT", settings.armEndpoint]);
  if (settings.clientId !== undefined) vars.push(["MI_CLIENT_ID", settings.clientId]);
  if (settings.objectId !== undefined) vars.push(["MI_OBJECT_ID", settings.objectId]);
  if (settings.resourceId !== undefined) vars.push(["MI_RESOURCE_ID", settings.resourceId]);
  vars.push(["SUBSCRIPTION_ID", settings.subscriptionId]);
  vars.push(["RESOURCE_GROUP", settings.resourceGroup]);
  vars.push(["PROBE_DEADLINE_SECONDS", String(settings.deadlineSeconds)]);
  if (settings.expectDenied) vars.push(["PROBE_EXPECT", "denied"]);
  if (settings.maxTextBytes !== undefined) vars.push(["PROBE_MAX_TEXT_BYTES", String(settings.maxTextBytes)]);
  return vars;
}

const inline = (settings: ProbeSettings) =>
  probeEnvironment(settings)
    .map(([name, value]) => `${name}=${shellQuote(value)}`)
    .join(" ");

/**
 * `VAR='…' … bash -s`. The probe's exit 1 means "not verified by the deadline", and what that does to
 * the command depends on what the check must prove:
 * - granted: exit 1 fails the command. The provider then reports the probe's evidence (its stdout and
 *   stderr) in the error, and the engine keeps the command with initialization errors, so the next
 *   `pulumi up` probes again instead of re-judging stale evidence: a check heals once RBAC propagates.
 * - denied: exit 1 (a 403 from ARM) is the proof, so it becomes exit 0 and the JSON reaches the judge.
 * Exit 2 (bad input) and anything else fail the command either way.
 */
export function probeCommandLine(settings: ProbeSettings, expectation: Expectation): string {
  const run = `${inline({ ...settings, expectDenied: false })} bash -s`;
  return expectation === "denied" ? `${run}; rc=$?; [ "$rc" -le 1 ] || exit "$rc"` : run;
}

/**
 * `VAR='…' … PROBE_EXPECT='denied' bash -s`: the probe waits for ARM's refusal (a read still allowed is
 * asked again until the deadline, as a revoked grant takes minutes to stop working) and exits 0 only once
 * the 403 proves it. Anything else fails the command, so the next `pulumi up` probes again.
 */
export function refusalCommandLine(settings: ProbeSettings): string {
  return `${inline({ ...settings, expectDenied: true })} bash -s`;
}

/** The probe's variables for one invocation: its settings, PROBE_EXPECT=denied for a refusal. */
export function invocationEnvironment(invocation: ProbeInvocation): Array<[string, string]> {
  return probeEnvironment({ ...invocation.settings, expectDenied: invocation.form === "refusal" });
}

/** The SSH command line of one invocation. */
export function invocationCommandLine(invocation: ProbeInvocation): string {
  return invocation.form === "refusal"
    ? refusalCommandLine(invocation.settings)
    : probeCommandLine(invocation.settings, invocation.form);
}

/**
 * What runs instead of the probe while this very update removes the grant (Pulumi deletes it only at the
 * end of the update, after the check): nothing is probed, and the line differs from every probe line, so
 * the next update runs the check again in place.
 */
export const REVOCATION_PENDING_OUTPUT =
  "revocation pending: this update removes the grant; the next pulumi up proves the denial";
export const REVOCATION_PENDING_COMMAND = `echo '${REVOCATION_PENDING_OUTPUT}'`;
