import { ConcurrentUpdateError } from "@pulumi/pulumi/automation";
import type { StackDriver } from "./harness";

/** What the sweeper needs of a stack: destroy it, cancel the update holding its lock, remove it. */
export type SweepableStack = Pick<StackDriver, "stackName" | "destroy" | "remove"> & { cancel(): Promise<void> };

/**
 * Destroys and removes one stale stack. A stack the sweeper picked was last updated longer ago than
 * --older-than, longer than any run may live (the workflow's job times out long before), so a lock
 * still on it is a killed run's: a SIGKILLed CLI releases nothing. The sweeper then cancels that
 * update, as an operator would with `pulumi cancel`, and destroys again; any other failure stands.
 */
export async function sweepStack(stack: SweepableStack, log: (line: string) => void): Promise<void> {
  try {
    await stack.destroy(log);
  } catch (error) {
    if (!(error instanceof ConcurrentUpdateError)) throw error;
    log(`${stack.stackName} is locked by an update older than the sweep age: cancelling it (pulumi cancel)`);
    await stack.cancel();
    await stack.destroy(log);
  }
  await stack.remove();
}
