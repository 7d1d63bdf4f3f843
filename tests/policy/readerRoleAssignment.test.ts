import { describe, expect, it } from "vitest";
import { roleDefinitionId } from "../../components/roleAssignment";
import { evaluateResource } from "../../local/policyCheck";
import {
  READER_ROLE_ID,
  type RoleAssignmentProps,
  readerAtResourceGroup,
  roleAssignmentViolations,
} from "../../policy/readerRoleAssignment";

const SUB = "11111111-1111-4111-8111-111111111111";
const READER = roleDefinitionId(SUB, READER_ROLE_ID);
const CONTRIBUTOR = `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/b24988ac-6180-42a0-ab88-20f7382dd24c`;
const RG = `/subscriptions/${SUB}/resourceGroups/vmia-rg1234`;
const ROLE_ALLOWED = `allowed: the built-in Reader role, /subscriptions/{subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${READER_ROLE_ID}`;
const SCOPE_ALLOWED = "allowed: a resource group, /subscriptions/{subscriptionId}/resourceGroups/{name}";

const stackAssignment: RoleAssignmentProps = {
  scope: RG,
  principalId: "33333333-3333-4333-8333-333333333333",
  principalType: "ServicePrincipal",
  roleDefinitionId: READER,
  roleAssignmentName: "44444444-4444-4444-8444-444444444444",
};

describe("role-assignment-reader-at-resource-group", () => {
  it("passes the stack's assignment: Reader at the resource group for a service principal", () => {
    expect(roleAssignmentViolations("vmia-user-reader", stackAssignment)).toEqual([]);
  });

  it("matches the Reader ID at the end of a full ID in any case, tenant-wide or under a subscription", () => {
    for (const role of [READER.toUpperCase(), `/providers/Microsoft.Authorization/roleDefinitions/${READER_ROLE_ID}`]) {
      expect(roleAssignmentViolations("a", { ...stackAssignment, roleDefinitionId: role })).toEqual([]);
    }
    expect(roleAssignmentViolations("a", { ...stackAssignment, scope: RG.toLowerCase() })).toEqual([]);
  });

  it("rejects Contributor, a bare GUID and a Reader GUID followed by more", () => {
    for (const role of [CONTRIBUTOR, READER_ROLE_ID, `${READER}/extra`, `${READER}x`]) {
      expect(roleAssignmentViolations("a", { ...stackAssignment, roleDefinitionId: role })).toEqual([
        `role assignment "a": roleDefinitionId is ${JSON.stringify(role)}; ${ROLE_ALLOWED}`,
      ]);
    }
  });

  it("rejects the subscription scope and a resource inside the group", () => {
    const resource = `${RG}/providers/Microsoft.Compute/virtualMachines/vm0`;
    for (const scope of [`/subscriptions/${SUB}`, resource, `${RG}/`, "/"]) {
      expect(roleAssignmentViolations("a", { ...stackAssignment, scope })).toEqual([
        `role assignment "a": scope is ${JSON.stringify(scope)}; ${SCOPE_ALLOWED}`,
      ]);
    }
  });

  it("rejects a User or Group principal and a missing principalType", () => {
    expect(roleAssignmentViolations("a", { ...stackAssignment, principalType: "User" })).toEqual([
      'role assignment "a": principalType is "User"; allowed: "ServicePrincipal"',
    ]);
    const { principalType: _dropped, ...untyped } = stackAssignment;
    expect(roleAssignmentViolations("a", untyped)).toEqual([
      'role assignment "a": principalType is not set; allowed: "ServicePrincipal"',
    ]);
  });

  it("the policy object reports each bad field, mandatory", async () => {
    const violations = await evaluateResource(
      {
        type: "azure-native:authorization:RoleAssignment",
        name: "wide",
        inputs: {
          ...stackAssignment,
          scope: `/subscriptions/${SUB}`,
          roleDefinitionId: CONTRIBUTOR,
          principalType: "Group",
        },
      },
      [readerAtResourceGroup],
    );
    expect(violations.map((v) => `${v.policy} ${v.enforcementLevel} ${v.resource}: ${v.message}`)).toEqual([
      `role-assignment-reader-at-resource-group mandatory wide: role assignment "wide": roleDefinitionId is ${JSON.stringify(CONTRIBUTOR)}; ${ROLE_ALLOWED}`,
      `role-assignment-reader-at-resource-group mandatory wide: role assignment "wide": scope is "/subscriptions/${SUB}"; ${SCOPE_ALLOWED}`,
      'role-assignment-reader-at-resource-group mandatory wide: role assignment "wide": principalType is "Group"; allowed: "ServicePrincipal"',
    ]);
  });
});
