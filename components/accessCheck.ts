import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import type { AccessCheck, AccessCheckResult, Expectation } from "../verify/contract";
import { describeFailures } from "../verify/judge";
import { pendingChecks } from "./accessCheckPlan";
import { REVOCATION_PENDING_CHECK } from "./checkNames";

/** The probe's source, sent to the VM on stdin. */
export const PROBE_SCRIPT_PATH = path.join(__dirname, "..", "verify", "probe.sh");

/** The deployment's failure when the evidence does not match the expectation. */
export class AccessCheckFailedError extends pulumi.RunError {
  constructor(
    readonly accessCheck: AccessCheck,
    heading = `The access check did not verify the expected access (${accessCheck.expectation})`,
  ) {
    super(`${heading}:\n${describeFailures(accessCheck)}`);
    this.name = "AccessCheckFailedError";
    // A user's failed check, not a bug: whoever prints the stack (a component provider host) shows the message.
    this.stack = `${this.name}: ${this.message}`;
  }
}

/** The one line an update that removes a grant says: the denial is proven by the next `pulumi up`. */
export function revocationPendingLine(scopes: string[]): string {
  const unique = [...new Set(scopes)];
  return `Access to ${unique.join(", ")} is revoked at the end of this update (Pulumi deletes removed role assignments last): run pulumi up again to prove the denial.`;
}

/** Whether a result only says that its revocation is pending (nothing was probed). */
export function isRevocationPending(result: AccessCheckResult): boolean {
  return result.checks.length === 1 && result.checks[0].name === REVOCATION_PENDING_CHECK;
}

/**
 * The lines an update whose revocations are pending says: one for the scopes whose grant this update
 * removes, and each pending check's own detail when a grant is still there after an update that should
 * have removed it.
 */
export function revocationWarnings(results: AccessCheckResult[]): string[] {
  const pending = results.filter(isRevocationPending);
  const first = pending.filter(
    (result) => result.checks[0].detail === pendingChecks(result.expected.resourceGroupId)[0].detail,
  );
  const again = [...new Set(pending.filter((result) => !first.includes(result)).map((r) => r.checks[0].detail))];
  const lines = first.length > 0 ? [revocationPendingLine(first.map((r) => r.expected.resourceGroupId))] : [];
  return [...lines, ...again.map((detail) => `Revocation: ${detail}.`)];
}

/**
 * The program's `accessCheck` output from its checks' results: verified when there is one and every
 * one is. When one does not match (and is not merely waiting for a revocation), the deployment fails
 * naming each failed check; the evidence stays in each command's stdout.
 */
export function programAccessCheck(expectation: Expectation, results: AccessCheckResult[]): AccessCheck {
  const accessCheck: AccessCheck = {
    verified: results.length > 0 && results.every((result) => result.verified),
    expectation,
    results,
  };
  if (results.length === 0 || results.some((result) => !result.verified && !isRevocationPending(result))) {
    throw new AccessCheckFailedError(accessCheck);
  }
  return accessCheck;
}

/**
 * Keeps a check's remote command the same resource on a stack deployed before the checks became
 * VmAccessCheck components: each command was then a child of one
 * `vm-identity-access:accessCheck:AccessCheckRun` named `formerParent`, and its URN said so. An alias to
 * that URN (Pulumi matches it against the stack's state) moves it under its component instead of
 * replacing it: no new check runs just because the program's structure changed.
 */
export function formerCommandAlias(formerParent: string): pulumi.ResourceTransformation {
  return (args) => {
    if (args.type !== "command:remote:Command") return undefined;
    const parent = pulumi.createUrn(formerParent, "vm-identity-access:accessCheck:AccessCheckRun");
    const alias = pulumi.createUrn(args.name, args.type, parent);
    return { props: args.props, opts: pulumi.mergeOptions(args.opts, { aliases: [alias] }) };
  };
}
