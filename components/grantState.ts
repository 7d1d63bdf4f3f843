import * as authorization from "@pulumi/azure-native/authorization";
import * as pulumi from "@pulumi/pulumi";
import { READER_ROLE_ID, roleAssignmentName, roleDefinitionId } from "./roleAssignment";

/**
 * Whether the Reader assignment this program grants a principal is still in ARM. On a stack switched
 * from granted to denied it is, until the end of the update that drops it: Pulumi deletes a resource
 * that left the program only after everything else, the check included (pulumi/pulumi#14740). So the
 * check must know, and a pure program cannot see it: ARM is asked, for the assignment's deterministic
 * name at its scope.
 */

/** Whether an invoke's failure is ARM's 404 (the assignment, or its scope, is not there), as azure-native reports it. */
export function isNotFound(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error);
  return /\bStatus=404\b/.test(message);
}

/** The answer to "is it still there?": only a 404 means gone; any other failure stops the deployment. */
export async function assignmentRemains(lookup: () => Promise<unknown>, describe: string): Promise<boolean> {
  try {
    await lookup();
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    const message = error instanceof Error ? error.message : String(error);
    throw new pulumi.RunError(`Could not tell whether ${describe} still exists: ${message}`);
  }
}

export function readerGrantRemains(
  subscriptionId: pulumi.Input<string>,
  scope: pulumi.Input<string>,
  principalId: pulumi.Input<string>,
): pulumi.Output<boolean> {
  return pulumi.all([subscriptionId, scope, principalId]).apply(([subscription, at, principal]) => {
    const name = roleAssignmentName(at, principal, roleDefinitionId(subscription, READER_ROLE_ID));
    return assignmentRemains(
      () => authorization.getRoleAssignment({ scope: at, roleAssignmentName: name }),
      `the Reader assignment ${name} at ${at}`,
    );
  });
}
