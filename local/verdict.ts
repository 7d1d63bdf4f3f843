/**
 * The one-line verdict `npm run local` ends with, from the accessCheck output (or the one a failed
 * check carried) and the deployment's error.
 */

interface AccessCheckLike {
  verified?: unknown;
  expectation?: unknown;
  results?: Array<{ vm?: unknown; verified?: unknown }>;
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
  const reason = firstLines(opts.error ?? "the access check did not verify the expected access");
  return check ? `NOT VERIFIED: ${summary(check, opts.identity)}: ${reason}` : `NOT VERIFIED: ${reason}`;
}
