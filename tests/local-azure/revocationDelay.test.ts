import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { effectivePermissions, type RoleAssignment, rbacPropagation } from "../../local-azure/arm/rbac";
import { ArmClient } from "../../local-azure/armClient";
import { LocalAzure, seedVm } from "../../local-azure/index";

/**
 * The revocation delay (`Faults.revocationDelaySeconds`, `npm run local -- --revocation-delay <s>`): how
 * long a deleted role assignment keeps authorizing, apart from how long a new one takes to start.
 */

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
const actionsAt = (assignment: RoleAssignment, now: number, faults: Parameters<typeof rbacPropagation>[0]) =>
  effectivePermissions([assignment], "P", RG, now, rbacPropagation(faults)).flatMap((p) => p.actions);

describe("rbacPropagation", () => {
  it("times a grant by the RBAC delay and a revocation by the revocation delay", () => {
    const faults = { rbacDelaySeconds: 0.5, revocationDelaySeconds: 20 };
    expect(actionsAt(reader, 1_499, faults)).toEqual([]);
    expect(actionsAt(reader, 1_500, faults)).toEqual(["*/read"]);
    const revoked = { ...reader, deletedAt: 10_000 };
    expect(actionsAt(revoked, 29_999, faults)).toEqual(["*/read"]);
    expect(actionsAt(revoked, 30_000, faults)).toEqual([]);
  });

  it("without a revocation delay, revokes after the RBAC delay, as before", () => {
    const revoked = { ...reader, deletedAt: 10_000 };
    expect(actionsAt(revoked, 10_499, { rbacDelaySeconds: 0.5 })).toEqual(["*/read"]);
    expect(actionsAt(revoked, 10_500, { rbacDelaySeconds: 0.5 })).toEqual([]);
  });
});

describe("Local Azure's ARM with a revocation delay", () => {
  let azure: LocalAzure;
  beforeAll(async () => {
    azure = await LocalAzure.start({
      faults: { rbacDelaySeconds: 0, identityAttachDelaySeconds: 0, sshNotReadySeconds: 0, lroSeconds: 0.02 },
    });
  });
  afterAll(() => azure.stop());

  it("keeps a deleted assignment authorizing the identity for the revocation delay only, new grants at once", async () => {
    const vm = await seedVm(azure, { identity: "user", resourceGroup: "rg-rev", vmName: "vm-rev" });
    const principalId = String(vm.userIdentity?.principalId);
    const token = await azure.issueToken({ principalId, resource: `${azure.armEndpoint}/` });
    const client = new ArmClient(azure.armEndpoint, azure.caCertPem, async () => token);
    const read = async () => (await client.request("GET", `${vm.resourceGroupId}?api-version=2021-04-01`)).status;
    expect(await read()).toBe(200);
    const API = "?api-version=2022-04-01";
    const listed = await azure.arm.request(
      "GET",
      `${vm.resourceGroupId}/providers/Microsoft.Authorization/roleAssignments${API}&$filter=${encodeURIComponent(`principalId eq '${principalId}'`)}`,
    );
    const [grant] = (listed.body as { value: Array<{ id: string }> }).value;
    // Read at each request: an hour while the test looks inside the window, however long the machine takes.
    azure.faults.revocationDelaySeconds = 3600;
    expect((await azure.arm.request("DELETE", `${grant.id}${API}`)).status).toBe(200);
    expect((await azure.arm.request("GET", `${grant.id}${API}`)).status).toBe(404);
    expect(await read()).toBe(200);
    // The RBAC delay (0 here) does not shorten it: only the revocation delay ends it.
    expect(azure.faults.rbacDelaySeconds).toBe(0);
    azure.faults.revocationDelaySeconds = 0;
    expect(await read()).toBe(403);
  });
});
