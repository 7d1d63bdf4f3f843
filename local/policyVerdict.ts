/**
 * The policy pack's verdicts in words: what the runner prints and fails a run with. Apart from the
 * evaluation (./policyCheck.ts, which loads Pulumi and the policy SDK), so that the runner's own
 * process, which only words them, starts without loading either.
 */

export interface PolicyViolation {
  policy: string;
  enforcementLevel: "advisory" | "mandatory";
  /** The resource's logical name, or "(stack)" for a stack-wide violation. */
  resource: string;
  message: string;
}

export function hasMandatory(violations: PolicyViolation[]): boolean {
  return violations.some((violation) => violation.enforcementLevel === "mandatory");
}

/** One line per violation: policy name, enforcement level, resource, message. */
export function violationLine(violation: PolicyViolation): string {
  return `${violation.policy} (${violation.enforcementLevel}) ${violation.resource}: ${violation.message}`;
}

/** The run's one-line verdict when a mandatory policy rejected it: no resource was created for it. */
export function policyVerdict(violations: PolicyViolation[]): string {
  const mandatory = violations.filter((violation) => violation.enforcementLevel === "mandatory");
  const policies = [...new Set(mandatory.map((violation) => violation.policy))].join(", ");
  return `REJECTED BY POLICY: ${mandatory.length} mandatory violation${mandatory.length === 1 ? "" : "s"} (${policies})`;
}

/** The deployment's error for mandatory violations: one line, naming the first and counting the rest. */
export function policyError(violations: PolicyViolation[]): string {
  const mandatory = violations.filter((violation) => violation.enforcementLevel === "mandatory");
  const others = mandatory.length - 1;
  const more = others > 0 ? ` (and ${others} more mandatory violation${others === 1 ? "" : "s"})` : "";
  return `policy violation: ${mandatory[0] ? violationLine(mandatory[0]) : "none"}${more}`;
}
