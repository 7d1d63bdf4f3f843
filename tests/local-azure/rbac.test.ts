import { describe, expect, it } from "vitest";
import { allowedByRevoked, effectivePermissions, type RoleAssignment } from "../../local-azure/arm/rbac";

/** RBAC propagation as pure functions: a grant starts working, and a revoked one stops, after the delay. */

const SUB = "/subscriptions/11111111-1111-4111-8111-111111111111";
const RG = `${SUB}/resourceGroups/rg`;
const reader: RoleAssignment = {
  id: `${RG}/providers/Microsoft.Authorization/roleAssignments/a`,
  name: "a",
  scope: RG,
  roleDefinitionId: `${SUB}/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7`,
  principalId: "p",
  principalType: "ServicePrincipal",
  createdAt: 1_000,
};
const actionsAt = (assignment: RoleAssignment, now: number) =>
  effectivePermissions([assignment], "P", `${RG}/providers/x/y`, now, 500).flatMap((p) => p.actions);

describe("effectivePermissions", () => {
  it("grants once the propagation delay has passed since the assignment was created", () => {
    expect(actionsAt(reader, 1_499)).toEqual([]);
    expect(actionsAt(reader, 1_500)).toEqual(["*/read"]);
  });

  it("keeps granting a deleted assignment until the delay has passed since it was deleted", () => {
    const revoked = { ...reader, deletedAt: 10_000 };
    expect(actionsAt(revoked, 10_499)).toEqual(["*/read"]);
    expect(actionsAt(revoked, 10_500)).toEqual([]);
  });
});

describe("allowedByRevoked", () => {
  it("is what a deleted assignment granted, however long ago it was deleted; a live one does not count", () => {
    const revoked = { ...reader, deletedAt: 10_000 };
    expect(
      allowedByRevoked([revoked], "P", `${RG}/providers/x/y`, "Microsoft.Resources/subscriptions/resourceGroups/read"),
    ).toBe(true);
    expect(allowedByRevoked([revoked], "P", RG, "Microsoft.Resources/subscriptions/resourceGroups/write")).toBe(false);
    expect(
      allowedByRevoked([revoked], "someone-else", RG, "Microsoft.Resources/subscriptions/resourceGroups/read"),
    ).toBe(false);
    expect(allowedByRevoked([reader], "P", RG, "Microsoft.Resources/subscriptions/resourceGroups/read")).toBe(false);
  });
});
