/**
 * Role-based access control, as pure functions: built-in role definitions, assignments inherited
 * down the scope tree, a principal's effective permissions at a scope, and the allow/deny decision
 * for one action. IDs and paths compare case-insensitively, as in ARM.
 */

export interface RoleDefinition {
  /** The GUID. */
  name: string;
  roleName: string;
  actions: string[];
  notActions: string[];
}

export const ROLE_DEFINITIONS: RoleDefinition[] = [
  { name: "acdd72a7-3385-48ef-bd42-f606fba81ae7", roleName: "Reader", actions: ["*/read"], notActions: [] },
  {
    name: "b24988ac-6180-42a0-ab88-20f7382dd24c",
    roleName: "Contributor",
    actions: ["*"],
    notActions: [
      "Microsoft.Authorization/*/Delete",
      "Microsoft.Authorization/*/Write",
      "Microsoft.Authorization/elevateAccess/Action",
      "Microsoft.Blueprint/blueprintAssignments/write",
      "Microsoft.Blueprint/blueprintAssignments/delete",
    ],
  },
  { name: "8e3af657-a8ff-443c-a75c-2fe8c4bf8635", roleName: "Owner", actions: ["*"], notActions: [] },
];

export interface RoleAssignment {
  id: string;
  name: string;
  scope: string;
  /** Full ID: /subscriptions/{s}/providers/Microsoft.Authorization/roleDefinitions/{guid}. */
  roleDefinitionId: string;
  principalId: string;
  principalType: string;
  /** Epoch ms when it was created; it authorizes once the propagation delay has passed since then. */
  createdAt: number;
  /**
   * Epoch ms when it was deleted: gone from ARM's reads at once, but it keeps authorizing until the
   * propagation delay has passed since then, as a revoked grant keeps working for minutes on Azure.
   */
  deletedAt?: number;
}

export interface Permission {
  actions: string[];
  notActions: string[];
  dataActions: string[];
  notDataActions: string[];
}

const normalize = (path: string) => path.replace(/\/+$/, "").toLowerCase();

/** True when `scope` is `ancestor` or lies below it (on a segment boundary). */
export function isWithinScope(scope: string, ancestor: string): boolean {
  const inner = normalize(scope);
  const outer = normalize(ancestor);
  return outer === "" || inner === outer || inner.startsWith(`${outer}/`);
}

export function roleDefinitionByGuid(guid: string): RoleDefinition | undefined {
  return ROLE_DEFINITIONS.find((role) => role.name.toLowerCase() === guid.toLowerCase());
}

/** The role GUID of a full role definition ID, if it has the right shape. */
export function roleGuidOf(roleDefinitionId: string): string | undefined {
  return /^\/subscriptions\/[^/]+\/providers\/Microsoft\.Authorization\/roleDefinitions\/([^/]+)$/i.exec(
    roleDefinitionId,
  )?.[1];
}

/**
 * How long RBAC changes take to reach ARM: a new assignment authorizes `grantMs` after its creation, a
 * deleted one keeps authorizing for `revocationMs` after its deletion. A number is both.
 */
export type Propagation = number | { grantMs: number; revocationMs: number };

/** The propagation Local Azure's faults ask for: the revocation delay, unset, is the RBAC delay. */
export function rbacPropagation(faults: { rbacDelaySeconds: number; revocationDelaySeconds?: number }): Propagation {
  return {
    grantMs: faults.rbacDelaySeconds * 1000,
    revocationMs: (faults.revocationDelaySeconds ?? faults.rbacDelaySeconds) * 1000,
  };
}

/**
 * Whether an assignment authorizes at `now`: a live one once the grant's propagation has passed since
 * its creation, a deleted one until the revocation's has passed since its deletion. A deleted one counts
 * from its deletion only (whether its grant had finished propagating is not modelled), so a test can
 * open a revocation window on an assignment of any age.
 */
function inForce(assignment: RoleAssignment, now: number, propagation: Propagation): boolean {
  const { grantMs, revocationMs } =
    typeof propagation === "number" ? { grantMs: propagation, revocationMs: propagation } : propagation;
  return assignment.deletedAt === undefined
    ? assignment.createdAt + grantMs <= now
    : now < assignment.deletedAt + revocationMs;
}

/**
 * The permissions `principalId` holds at `scope` at `now`, from the assignments whose grant has
 * propagated and whose deletion has not yet (RBAC propagation both ways, read at each request, so a
 * test can stretch a window it is in).
 */
export function effectivePermissions(
  assignments: RoleAssignment[],
  principalId: string,
  scope: string,
  now: number,
  propagation: Propagation = 0,
): Permission[] {
  return assignments
    .filter(
      (a) =>
        a.principalId.toLowerCase() === principalId.toLowerCase() &&
        inForce(a, now, propagation) &&
        isWithinScope(scope, a.scope),
    )
    .flatMap((a) => {
      const role = roleDefinitionByGuid(roleGuidOf(a.roleDefinitionId) ?? "");
      return role
        ? [{ actions: [...role.actions], notActions: [...role.notActions], dataActions: [], notDataActions: [] }]
        : [];
    });
}

function matches(pattern: string, action: string): boolean {
  const regex = new RegExp(
    `^${pattern
      .split("*")
      .map((part) => part.replace(/[.+?^${}()|[\]\\/]/g, "\\$&"))
      .join(".*")}$`,
    "i",
  );
  return regex.test(action);
}

/** Allowed when some permission grants the action and does not exclude it. */
export function isAllowed(permissions: Permission[], action: string): boolean {
  return permissions.some(
    (p) => p.actions.some((a) => matches(a, action)) && !p.notActions.some((n) => matches(n, action)),
  );
}

/**
 * Whether `principalId` holds any role (past its propagation delay) at, above or below `scope`: how ARM
 * decides which subscriptions a caller sees (a Reader on one resource group sees its subscription).
 */
export function holdsRoleAround(
  assignments: RoleAssignment[],
  principalId: string,
  scope: string,
  now: number,
  propagation: Propagation = 0,
): boolean {
  return assignments.some(
    (a) =>
      a.principalId.toLowerCase() === principalId.toLowerCase() &&
      inForce(a, now, propagation) &&
      (isWithinScope(a.scope, scope) || isWithinScope(scope, a.scope)),
  );
}

/**
 * Whether a deleted assignment of `principalId` would still allow `action` at `scope`, however long ago
 * it was deleted: what a revocation that has not reached ARM yet keeps allowing.
 */
export function allowedByRevoked(
  assignments: RoleAssignment[],
  principalId: string,
  scope: string,
  action: string,
): boolean {
  const revoked = assignments.filter((a) => a.deletedAt !== undefined);
  return isAllowed(effectivePermissions(revoked, principalId, scope, 0, Number.POSITIVE_INFINITY), action);
}
