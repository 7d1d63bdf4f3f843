import { createHash, randomUUID } from "node:crypto";
import * as authorization from "@pulumi/azure-native/authorization";
import * as pulumi from "@pulumi/pulumi";
import * as resproto from "@pulumi/pulumi/proto/resource_pb";
import { AccessCheckArgsError, type GrantFate } from "./accessCheckPlan";
import { roleAssignmentName } from "./roleAssignment";

/**
 * Whether the grant a check's refused scopes wait for is going away, asked of ARM and remembered in the
 * stack's state by VmAccessCheck itself, so that any consumer (index.ts, a TypeScript or YAML program,
 * examples/existing-vm) converges on its own.
 *
 * Pulumi deletes a resource that left the program only at the end of an update, after everything else
 * (pulumi/pulumi#14740): the update that drops a role assignment still runs with it in force, and a
 * refusal probed then could only fail, and fail again in every later update, which never reaches its
 * deletes. A program cannot read its stack's previous state, so it cannot see "this update deletes the
 * grant". What it can see: ARM's answer now, and Pulumi's builtin Stash (pulumi:index:Stash), which
 * keeps the value it was created with while later inputs change. So:
 *
 * - ARM answers 404 (only a 404 counts as gone): nothing is registered, the refusal is probed, and
 *   Pulumi deletes the stashes of an earlier revocation at the end of the update.
 * - The grant is there and the stash `<check>-grant-seen` is created by this update (its output is this
 *   update's own marker): the first update to see it, which removes it at its end as far as anything
 *   can tell. Nothing is probed; the update succeeds and says the next one proves the denial.
 * - The grant is still there in a later update: either it is not going away (retainOnDelete, made
 *   outside the stack, dropped from its state), or the update that removed it from the program failed
 *   before Pulumi's deletes, and then this update deletes it. Failing now would leave that stack stuck
 *   for good (every later update would fail before its deletes too), so the second update to see it,
 *   the one that creates `<check>-grant-seen-again`, is given the benefit of the doubt once more.
 * - The third update to see it fails, naming the grant: it is not going away.
 *
 * The limit accepted (docs/access-check-component.md): two updates in a row that remove the grant and
 * fail for other reasons make the third fail too, naming the grant, until it is deleted by hand (it was
 * meant to go anyway) or the scope is no longer refused. A grant that is not going away costs two
 * `pulumi up` that say "not verified yet" before the one that fails.
 *
 * The stashes belong to one instance of the grant: their names carry a digest of the assignment's
 * createdOn (as ARM reports it). Stashes are deleted only by a successful update that does not register
 * them, so after a revocation whose later updates all failed, an earlier instance's stashes can still
 * hold old markers when the grant is made again (under its same GUID name) and revoked again; named for
 * their instance, they are not this one's, and the new revocation starts over at pending. (Where ARM
 * reports no createdOn, the names carry nothing, as before.)
 */

/** Whether an invoke's failure is ARM's 404 (the assignment, or its scope, is not there), as azure-native reports it. */
export function isNotFound(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error);
  return /\bStatus=404\b/.test(message);
}

/** The role assignment ARM still holds, as far as the check needs it: when it was made. */
export interface GrantInstance {
  createdOn?: string;
}

/**
 * The answer to "is it still there?": the assignment ARM holds, or undefined on a 404 (only a 404 means
 * gone); any other failure stops the deployment.
 */
export async function grantInstance(
  lookup: () => Promise<{ createdOn?: unknown }>,
  describe: string,
): Promise<GrantInstance | undefined> {
  try {
    const found = await lookup();
    return typeof found?.createdOn === "string" && found.createdOn !== "" ? { createdOn: found.createdOn } : {};
  } catch (error) {
    if (isNotFound(error)) return undefined;
    const message = error instanceof Error ? error.message : String(error);
    throw new pulumi.RunError(`Could not tell whether ${describe} still exists: ${message}`);
  }
}

/** The stashes' names for one instance of the grant (see the top of this file). */
export function stashNames(check: string, instance: GrantInstance): { seen: string; again: string } {
  const suffix =
    instance.createdOn !== undefined
      ? `-${createHash("sha256").update(instance.createdOn).digest("hex").slice(0, 8)}`
      : "";
  return { seen: `${check}-grant-seen${suffix}`, again: `${check}-grant-seen-again${suffix}` };
}

/** The grant as given (every Input resolved). */
export interface WatchedGrantValues {
  roleAssignmentId?: unknown;
  scope?: unknown;
  roleDefinitionId?: unknown;
  principalId?: unknown;
}

/** A role assignment ARM can be asked about: its ID, its scope and its name. */
export interface GrantReference {
  id: string;
  scope: string;
  name: string;
}

const ASSIGNMENT_ID = /^(.+)\/providers\/Microsoft\.Authorization\/roleAssignments\/([^/]+)$/i;
const ROLE_DEFINITION_ID = /^(\/subscriptions\/[^/]+)?\/providers\/Microsoft\.Authorization\/roleDefinitions\/[^/]+$/i;
const text = (value: unknown): value is string => typeof value === "string" && value.trim() !== "";
const present = (value: unknown) => value !== undefined && value !== null && value !== "";

/**
 * The role assignment `grant` names: by its ARM ID, or by scope and role definition (and principal,
 * the check's identity unless given) for an assignment named as this project names them, with the GUID
 * derived from scope, principal and role (components/roleAssignment.ts). Throws AccessCheckArgsError.
 */
export function grantReference(
  component: string,
  values: WatchedGrantValues,
  identityPrincipalId: unknown,
): GrantReference {
  const byId = present(values.roleAssignmentId);
  const byParts = present(values.scope) || present(values.roleDefinitionId) || present(values.principalId);
  if (byId && byParts) {
    throw new AccessCheckArgsError(component, [
      "grant names a role assignment either by roleAssignmentId or by scope and roleDefinitionId (and principalId), not both",
    ]);
  }
  if (byId) {
    const match = text(values.roleAssignmentId) ? ASSIGNMENT_ID.exec(values.roleAssignmentId.trim()) : null;
    if (!match) {
      throw new AccessCheckArgsError(component, [
        `grant.roleAssignmentId = ${JSON.stringify(values.roleAssignmentId)} must be a role assignment's ARM ID: <scope>/providers/Microsoft.Authorization/roleAssignments/<name>`,
      ]);
    }
    return { id: match[0], scope: match[1], name: match[2] };
  }
  const problems: string[] = [];
  if (!text(values.scope) || !values.scope.startsWith("/")) {
    problems.push(
      `grant.scope = ${JSON.stringify(values.scope ?? null)} must be the assignment's scope, an ARM ID such as /subscriptions/<id>/resourceGroups/<name> (or give grant.roleAssignmentId)`,
    );
  }
  if (!text(values.roleDefinitionId) || !ROLE_DEFINITION_ID.test(values.roleDefinitionId.trim())) {
    problems.push(
      `grant.roleDefinitionId = ${JSON.stringify(values.roleDefinitionId ?? null)} must be a role definition's ID: /subscriptions/<id>/providers/Microsoft.Authorization/roleDefinitions/<role GUID>`,
    );
  }
  const principal = present(values.principalId) ? values.principalId : identityPrincipalId;
  if (!text(principal)) problems.push("grant.principalId is required when the identity's principalId is not known");
  if (problems.length > 0) throw new AccessCheckArgsError(component, problems);
  const scope = (values.scope as string).trim().replace(/\/+$/, "");
  const name = roleAssignmentName(scope, principal as string, (values.roleDefinitionId as string).trim());
  return { id: `${scope}/providers/Microsoft.Authorization/roleAssignments/${name}`, scope, name };
}

/** The first Pulumi CLI whose engine has the builtin pulumi:index:Stash (pulumi/pulumi#20819; its CHANGELOG, 3.208.0). */
export const STASH_MINIMUM_CLI = "3.208.0";

/**
 * Whether the engine running this program has the builtin pulumi:index:Stash. No engine feature names
 * it; the release that brought it (3.208.0) also brought the resource option replacementTrigger, which
 * the engine does answer for (ResourceMonitor.SupportsFeature; an older engine answers no to a feature
 * it does not know). Without a monitor to ask (none is connected), it is taken as there.
 */
export async function engineHasStash(): Promise<boolean> {
  const monitor = pulumi.runtime.getMonitor();
  if (monitor === undefined) return true;
  const request = new resproto.SupportsFeatureRequest();
  request.setId("replacementTrigger");
  return new Promise((resolve) => {
    monitor.supportsFeature(request, (error, answer) => resolve(error === null && answer?.getHassupport() === true));
  });
}

/** The error for an engine without Stash: the revoking update would fail before Pulumi's deletes, every time. */
export function stashMissingError(check: string, grant: string): pulumi.RunError {
  return new pulumi.RunError(
    `VmAccessCheck ${check}: the role assignment ${grant} is still there, and proving its revocation needs ` +
      `Pulumi's builtin Stash resource (pulumi:index:Stash), which the Pulumi CLI has from v${STASH_MINIMUM_CLI} on; ` +
      `the engine running this update has not (it would fail with "unrecognized resource type 'pulumi:index:Stash'" ` +
      "before Pulumi's deletes, in every update): upgrade the Pulumi CLI (pulumi version shows yours)",
  );
}

/** One update's own marker: when it ran, and a random part that no other update shares. */
export function updateMarker(now = new Date()): string {
  return `${now.toISOString()} ${randomUUID()}`;
}

/** When the update that wrote `marker` ran. */
function markedTime(marker: unknown): string {
  return typeof marker === "string" ? marker.split(" ")[0] : "an earlier update";
}

/**
 * What became of the grant, for this update (see the top of this file). The stashes are children of
 * `parent`, registered only while ARM still holds the grant: that is the point, so they are registered
 * once ARM has answered (inside an apply; the answer is known in previews too, invokes run there).
 */
export function watchGrant(
  parent: pulumi.Resource,
  name: string,
  grant: pulumi.Output<GrantReference>,
  marker: string,
): pulumi.Output<GrantFate> {
  const remains = grant.apply((ref) =>
    grantInstance(
      () => authorization.getRoleAssignment({ scope: ref.scope, roleAssignmentName: ref.name }, { parent }),
      `the role assignment ${ref.id}`,
    ),
  );
  // Asked only where a stash is needed, and before one is registered: an engine without Stash would fail
  // its registration with a message that names no version.
  const hasStash = remains.apply((instance) => (instance === undefined ? true : engineHasStash()));
  return pulumi.all([grant, remains, hasStash]).apply(([ref, instance, stashes]): pulumi.Output<GrantFate> => {
    if (instance === undefined) return pulumi.output<GrantFate>({ state: "absent" });
    if (!stashes) throw stashMissingError(name, ref.id);
    const names = stashNames(name, instance);
    const fate = (state: "pending" | "pending-again" | "stays", first: unknown): GrantFate => ({
      state,
      grant: ref.id,
      grantScope: ref.scope,
      firstSeen: markedTime(first),
    });
    const seen = new pulumi.Stash(names.seen, { input: marker }, { parent });
    return seen.output.apply((first): pulumi.Output<GrantFate> => {
      if (first === marker) return pulumi.output(fate("pending", first));
      const again = new pulumi.Stash(names.again, { input: marker }, { parent });
      return again.output.apply((second) => fate(second === marker ? "pending-again" : "stays", first));
    });
  });
}
