import { mappingFor } from "./armMapping";
import { armFailure } from "./armResource";
import type { StateEntry } from "./mocks";

/**
 * The local stack's resources in their cloud, as `pulumi up` and `pulumi destroy` treat them: whether
 * the cloud still holds the previous run's resources, what a run deletes at its end (what left the
 * program), and the deletions themselves, dependents first. Used by the runner's worker after a run
 * (local/worker.ts: a process of its own, so its connections never outlive a Local Azure) and by
 * `destroy` (local/deploy.ts).
 */

/** The ARM calls these steps make: Local Azure's ArmClient, as the deployer, satisfies it. */
export interface CloudArm {
  request(method: "GET", path: string): Promise<{ status: number }>;
  deleteAndWait(path: string): Promise<unknown>;
}

/**
 * Whether the cloud behind `arm` holds the previous run's resources: their first ARM resource (the
 * resource group, whose name carries a random suffix) is there. A fresh cloud (the kept one emptied, or
 * another) holds none of them, and the run then creates everything, as it would into a new cloud.
 */
export async function heldInCloud(
  arm: Pick<CloudArm, "request">,
  resources: Record<string, StateEntry>,
): Promise<boolean> {
  const first = Object.values(resources).find((entry) => mappingFor(entry.type) !== undefined);
  const mapping = first ? mappingFor(first.type) : undefined;
  if (!first || !mapping) return true;
  const answer = await arm.request("GET", `${first.id}?api-version=${mapping.apiVersion}`);
  return answer.status !== 404;
}

/** ARM DELETE order: dependents first (the reverse of creation), resources outside ARM skipped. */
export function deletionOrder(resources: StateEntry[]): StateEntry[] {
  return resources.filter((entry) => mappingFor(entry.type) !== undefined).reverse();
}

/** Deletes the resources through ARM, dependents first (the reverse of creation), saying each. */
export async function deleteResources(
  arm: Pick<CloudArm, "deleteAndWait">,
  resources: StateEntry[],
  say: (line: string) => void,
): Promise<void> {
  for (const entry of deletionOrder(resources)) {
    const started = Date.now();
    try {
      await arm.deleteAndWait(`${entry.id}?api-version=${mappingFor(entry.type)?.apiVersion}`);
    } catch (error) {
      // Already gone (a resource group delete takes its children with it): nothing left to do.
      if ((error as { status?: number }).status !== 404) throw error;
    }
    say(`  - ${entry.type}  ${entry.name}  ${((Date.now() - started) / 1000).toFixed(2)}s`);
  }
}

/** What the stack holds after a run (the state to write), and the error its deletions ended with, if any. */
export interface Settled {
  held: StateEntry[];
  error: string | null;
}

/** The resources of a previous run that this one does not hold (by ID): what a successful run deletes. */
function leftBehind(previous: Record<string, StateEntry>, resources: StateEntry[]): StateEntry[] {
  // By ID: a replacement under a new ID leaves its predecessor behind, while an ID still held is never deleted.
  const currentIds = new Set(resources.map((entry) => entry.id.toLowerCase()));
  return Object.values(previous).filter((entry) => !currentIds.has(entry.id.toLowerCase()));
}

/**
 * What the stack holds after a run that failed, or that ended before its deletions: both runs'
 * resources (a failed `pulumi up` deletes nothing, pulumi/pulumi#14740), so that `destroy` finds
 * everything and the next run reuses every autoname.
 */
export function heldAfterFailure(previous: Record<string, StateEntry>, resources: StateEntry[]): StateEntry[] {
  return [...leftBehind(previous, resources), ...resources];
}

/**
 * After a run, what the stack holds in its cloud (the state to write). A run that succeeded deletes what
 * the previous run held and this one does not (a resource that left the program, or the one a
 * replacement superseded), dependents first, as `pulumi up` deletes at its end; after a failed run
 * both runs' resources stay listed (heldAfterFailure). A deletion that fails ends the deletions there,
 * as it fails `pulumi up`, whose checkpoint still holds what the update created and updated and every
 * resource it did not delete: so does the state, and the error is the run's.
 */
export async function settle(
  arm: Pick<CloudArm, "deleteAndWait">,
  previous: Record<string, StateEntry>,
  resources: StateEntry[],
  succeeded: boolean,
  say: (line: string) => void,
): Promise<Settled> {
  if (!succeeded) return { held: heldAfterFailure(previous, resources), error: null };
  const doomed = deletionOrder(leftBehind(previous, resources));
  if (doomed.length > 0) say("Deleting what the previous run created and this one did not:");
  for (const [index, entry] of doomed.entries()) {
    try {
      await deleteResources(arm, [entry], say);
    } catch (error) {
      // This one and those after it stay, in the order they were created.
      const undeleted = doomed.slice(index).reverse();
      return {
        held: [...undeleted, ...resources],
        error: armFailure("deleting", entry.type, entry.name, error).message,
      };
    }
  }
  return { held: resources, error: null };
}

/**
 * The state a run leaves: what it holds; or null (the state file stays as it was) when it holds
 * nothing and the previous run's resources are not in this cloud either (it was emptied): a run that
 * failed before creating anything keeps the autonames and key pairs the state remembers.
 */
export function stateToWrite(held: StateEntry[], previousLive: boolean): StateEntry[] | null {
  return held.length === 0 && !previousLive ? null : held;
}
