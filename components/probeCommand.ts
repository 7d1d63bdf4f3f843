/**
 * The command line that runs verify/probe.sh on the VM. Settings go inline (`VAR='value' … bash -s`)
 * because sshd drops SSH environment requests its AcceptEnv does not list; the script itself arrives
 * on stdin, so nothing has to be copied to the VM first.
 */

export interface ProbeSettings {
  armEndpoint: string;
  /** The user-assigned identity's client ID; absent for the system-assigned identity. */
  clientId?: string;
  subscriptionId: string;
  resourceGroup: string;
  deadlineSeconds: number;
  /** Only when configured: otherwise the VM's own IMDS (the probe's default) is used. */
  imdsEndpoint?: string;
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
  vars.push(["SUBSCRIPTION_ID", settings.subscriptionId]);
  vars.push(["RESOURCE_GROUP", settings.resourceGroup]);
  vars.push(["PROBE_DEADLINE_SECONDS", String(settings.deadlineSeconds)]);
  return vars;
}

/**
 * `VAR='…' … bash -s`, then exit 0 for the probe's own 0 and 1: exit 1 means "not verified", and its
 * JSON must reach the program to be judged; a failing resource would lose it. Exit 2 (bad input) and
 * anything else still fail the command.
 */
export function probeCommandLine(settings: ProbeSettings): string {
  const assignments = probeEnvironment(settings).map(([name, value]) => `${name}=${shellQuote(value)}`);
  return `${assignments.join(" ")} bash -s; rc=$?; [ "$rc" -le 1 ] || exit "$rc"`;
}
