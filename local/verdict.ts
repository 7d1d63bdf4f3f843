import { REVOCATION_PENDING_CHECK } from "../components/checkNames";

/**
 * The one-line verdict `npm run local` ends with, from the accessCheck output (or the one a failed
 * check carried) and the deployment's error.
 */

interface AccessCheckLike {
  verified?: unknown;
  expectation?: unknown;
  results?: Array<{ vm?: unknown; verified?: unknown; checks?: unknown }>;
}

/** The pending revocation's detail, when this update only removes the grant (the next one proves the denial). */
export function revocationPending(accessCheck: unknown): string | undefined {
  for (const result of asAccessCheck(accessCheck)?.results ?? []) {
    const checks = Array.isArray(result.checks) ? (result.checks as Array<{ name?: unknown; detail?: unknown }>) : [];
    const pending = checks.find((check) => check.name === REVOCATION_PENDING_CHECK);
    if (pending) return String(pending.detail);
  }
  return undefined;
}

function asAccessCheck(value: unknown): AccessCheckLike | null {
  if (typeof value !== "object" || value === null) return null;
  const check = value as AccessCheckLike;
  return Array.isArray(check.results) ? check : null;
}

function summary(check: AccessCheckLike, identity: string): string {
  const results = check.results ?? [];
  const passed = results.filter((result) => result.verified === true).length;
  const vms = new Set(results.map((result) => String(result.vm))).size;
  const what = check.expectation === "denied" ? "denial" : "access";
  return `${passed} of ${results.length} check(s) proved ${what} for identity ${identity} on ${vms} VM${vms === 1 ? "" : "s"}`;
}

/** The error's first line; when it announces a list ("…:"), its first item too. */
export function firstLines(error: string): string {
  const lines = error
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "");
  const first = lines[0] ?? "";
  return first.endsWith(":") && lines[1] ? `${first} ${lines[1].replace(/^[-*]\s*/, "")}` : first;
}

/**
 * A remote command failed as the provider reports it (exit, command line, then its output): when the
 * output holds the probe's JSON, the probe's own error says why far better than the command line, e.g.
 * `vmia-check-0-user: the probe exited 1: arm 403 AuthorizationFailed: The client … does not have …`.
 */
export function failedProbeReason(error: string): string | undefined {
  const failed =
    /^command:remote:Command (\S+): Process exited with status (\d+): running "[\s\S]*?":\n([\s\S]*)$/.exec(error);
  if (!failed) return undefined;
  const [, name, status, output] = failed;
  for (const line of output.split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      const probe = JSON.parse(line) as { probeVersion?: unknown; error?: Record<string, unknown> | null };
      if (probe.probeVersion === undefined || !probe.error) continue;
      const { stage, status: httpStatus, code, message } = probe.error;
      const where = [stage, httpStatus, code].filter((part) => part !== null && part !== undefined).join(" ");
      return `${name}: the probe exited ${status}: ${where}: ${String(message ?? "")}`;
    } catch {}
  }
  return `${name}: the probe exited ${status} without its JSON evidence`;
}

/**
 * `VERIFIED: 1 of 1 check(s) proved access for identity user on 1 VM`, or `NOT VERIFIED: …` with the
 * first line of the error.
 */
export function verdictLine(opts: {
  ok: boolean;
  accessCheck: unknown;
  error: string | null;
  identity: string;
}): string {
  const check = asAccessCheck(opts.accessCheck);
  if (opts.ok && check) return `VERIFIED: ${summary(check, opts.identity)}`;
  const pending = opts.error === null ? revocationPending(check) : undefined;
  if (pending !== undefined) return `NOT VERIFIED YET: ${pending}`;
  const reason =
    (opts.error !== null ? failedProbeReason(opts.error) : undefined) ??
    firstLines(opts.error ?? "the access check did not verify the expected access");
  return check ? `NOT VERIFIED: ${summary(check, opts.identity)}: ${reason}` : `NOT VERIFIED: ${reason}`;
}
