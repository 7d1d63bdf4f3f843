import { describe, expect, it } from "vitest";
import { READER_ROLE_ID, roleAssignmentName, roleDefinitionId } from "../components/roleAssignment";

const SCOPE = "/subscriptions/11111111-1111-4111-8111-111111111111/resourceGroups/vmia-rg0001";
const PRINCIPAL = "5e4c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b";
const READER = roleDefinitionId("11111111-1111-4111-8111-111111111111", READER_ROLE_ID);

describe("roleDefinitionId", () => {
  it("puts the role under the subscription, as ARM requires", () => {
    expect(READER).toBe(
      "/subscriptions/11111111-1111-4111-8111-111111111111/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7",
    );
  });
});

describe("roleAssignmentName", () => {
  it("is a stable version-5 GUID for the same scope, principal and role", () => {
    const name = roleAssignmentName(SCOPE, PRINCIPAL, READER);
    expect(name).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(roleAssignmentName(SCOPE, PRINCIPAL, READER)).toBe(name);
  });

  it("ignores case, as ARM compares IDs (identities come back with resourcegroups in lower case)", () => {
    expect(roleAssignmentName(SCOPE.toLowerCase(), PRINCIPAL.toUpperCase(), READER)).toBe(
      roleAssignmentName(SCOPE, PRINCIPAL, READER),
    );
  });

  it("differs when the principal, scope or role differs, so a re-created identity never reuses a name", () => {
    const names = new Set([
      roleAssignmentName(SCOPE, PRINCIPAL, READER),
      roleAssignmentName(SCOPE, "6e4c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b", READER),
      roleAssignmentName(`${SCOPE}2`, PRINCIPAL, READER),
      roleAssignmentName(SCOPE, PRINCIPAL, READER.replace("acdd72a7", "b24988ac")),
    ]);
    expect(names.size).toBe(4);
  });
});
