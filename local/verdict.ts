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
  const reason = (opts.error ?? "the access check did not verify the expected access").split("\n")[0];
  return check ? `NOT VERIFIED: ${summary(check, opts.identity)}: ${reason}` : `NOT VERIFIED: ${reason}`;
}
