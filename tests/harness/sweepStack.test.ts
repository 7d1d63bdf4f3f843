import { CommandError, ConcurrentUpdateError } from "@pulumi/pulumi/automation";
import { describe, expect, it } from "vitest";
import { type SweepableStack, sweepStack } from "../e2e/sweepStack";

/** A stack whose destroys fail with the given errors, in order, then succeed; it records each call. */
function stack(destroyFailures: Error[]): SweepableStack & { calls: string[] } {
  const calls: string[] = [];
  return {
    stackName: "e2e-123-user-abc",
    calls,
    async destroy() {
      calls.push("destroy");
      const failure = destroyFailures.shift();
      if (failure) throw failure;
    },
    async cancel() {
      calls.push("cancel");
    },
    async remove() {
      calls.push("remove");
    },
  };
}

// The texts the Automation API classifies as ConcurrentUpdateError: the file backends' lock and Pulumi Cloud's 409.
const LOCKED = "error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end";
const CONFLICT = "error: [409] Conflict: Another update is currently in progress.";

describe("sweepStack", () => {
  it("destroys and removes a stack nothing holds, without cancelling anything", async () => {
    const target = stack([]);
    const log: string[] = [];
    await sweepStack(target, (line) => log.push(line));
    expect(target.calls).toEqual(["destroy", "remove"]);
    expect(log).toEqual([]);
  });

  it.each([LOCKED, CONFLICT])(
    "cancels the killed run's update holding the lock (%s), then destroys and removes",
    async (text) => {
      const target = stack([new ConcurrentUpdateError(text)]);
      const log: string[] = [];
      await sweepStack(target, (line) => log.push(line));
      expect(target.calls).toEqual(["destroy", "cancel", "destroy", "remove"]);
      expect(log).toEqual([
        "e2e-123-user-abc is locked by an update older than the sweep age: cancelling it (pulumi cancel)",
      ]);
    },
  );

  it("lets any other failure stand: no cancel, and the stack is not removed with its resources still there", async () => {
    const target = stack([new CommandError("error: deleting resource group: ResourceGroupBeingDeleted")]);
    await expect(sweepStack(target, () => undefined)).rejects.toThrow("ResourceGroupBeingDeleted");
    expect(target.calls).toEqual(["destroy"]);
  });

  it("cancels once: a lock that is back on the retry fails the sweep of that stack", async () => {
    const target = stack([new ConcurrentUpdateError(LOCKED), new ConcurrentUpdateError(LOCKED)]);
    await expect(sweepStack(target, () => undefined)).rejects.toBeInstanceOf(ConcurrentUpdateError);
    expect(target.calls).toEqual(["destroy", "cancel", "destroy"]);
  });
});
