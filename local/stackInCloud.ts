import { mappingFor } from "./armMapping";
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

/**
 * After a run, what the stack holds in its cloud (the state to write). A run that succeeded deletes what
 * the previous run held and this one does not (a resource that left the program, or the one a
 * replacement superseded), dependents first, as `pulumi up` deletes at its end; after a failed run
 * (which deletes nothing, pulumi/pulumi#14740) both runs' resources stay listed, so that `destroy` finds
 * everything.
 */
export async function settle(
  arm: Pick<CloudArm, "deleteAndWait">,
  previous: Record<string, StateEntry>,
  resources: StateEntry[],
  succeeded: boolean,
  say: (line: string) => void,
): Promise<StateEntry[]> {
  // By ID: a replacement under a new ID leaves its predecessor behind, while an ID still held is never deleted.
  const currentIds = new Set(resources.map((entry) => entry.id.toLowerCase()));
  const left = Object.values(previous).filter((entry) => !currentIds.has(entry.id.toLowerCase()));
  if (!succeeded) return [...left, ...resources];
  if (deletionOrder(left).length > 0) {
    say("Deleting what the previous run created and this one did not:");
    await deleteResources(arm, left, say);
  }
  return resources;
}
