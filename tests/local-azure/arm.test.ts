import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ArmClient } from "../../local-azure/armClient";
import { LocalAzure, type SeededVm, seedVm } from "../../local-azure/index";

/** Local Azure's ARM as an authorization server and resource manager, over HTTPS with real tokens. */

let azure: LocalAzure;
let seeded: SeededVm;
let sibling: SeededVm;
const API = "?api-version=2022-04-01";
const READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
const CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c";

beforeAll(async () => {
  azure = await LocalAzure.start({
    faults: { rbacDelaySeconds: 0, identityAttachDelaySeconds: 0, sshNotReadySeconds: 0, lroSeconds: 0.02 },
  });
  seeded = await seedVm(azure, { identity: "user", resourceGroup: "rg-a", vmName: "vm-a" });
  sibling = await seedVm(azure, { identity: "user", grant: false, resourceGroup: "rg-b", vmName: "vm-b" });
});
afterAll(() => azure.stop());

/** A client holding a managed identity's token (as the VM would get from IMDS). */
async function asIdentity(principalId: string, resource = `${azure.armEndpoint}/`) {
  const token = await azure.issueToken({ principalId, resource });
  return new ArmClient(azure.armEndpoint, azure.caCertPem, async () => token);
}
const errorCode = (body: unknown) => (body as { error?: { code?: string } }).error?.code;

describe("authentication", () => {
  it.each([
    ["forged (signed by a key not in the JWKS)", { signWith: "foreign" as const }, "InvalidAuthenticationToken"],
    [
      "expired",
      { issuedAt: Math.floor(Date.now() / 1000) - 7200, lifetimeSeconds: 3600 },
      "ExpiredAuthenticationToken",
    ],
    ["for another audience", { resource: "https://graph.microsoft.com/" }, "InvalidAuthenticationTokenAudience"],
  ])("rejects a %s token with 401 %s", async (_label, options, code) => {
    const token = await azure.issueToken({
      principalId: String(seeded.userIdentity?.principalId),
      resource: `${azure.armEndpoint}/`,
      ...options,
    });
    const client = new ArmClient(azure.armEndpoint, azure.caCertPem, async () => token);
    const response = await client.request("GET", `${seeded.resourceGroupId}?api-version=2021-04-01`);
    expect([response.status, errorCode(response.body)]).toEqual([401, code]);
  });

  it("rejects a request without a token, and garbage", async () => {
    const garbage = new ArmClient(azure.armEndpoint, azure.caCertPem, async () => "not.a.jwt");
    expect((await garbage.request("GET", `${seeded.resourceGroupId}?api-version=2021-04-01`)).status).toBe(401);
  });
});

describe("authorization", () => {
  it("lets an identity with Reader read its resource group, and denies the sibling group with ARM's message", async () => {
    const client = await asIdentity(String(seeded.userIdentity?.principalId));
    expect((await client.request("GET", `${seeded.resourceGroupId}?api-version=2021-04-01`)).status).toBe(200);
    const denied = await client.request("GET", `${sibling.resourceGroupId}?api-version=2021-04-01`);
    expect(denied.status).toBe(403);
    expect(denied.body).toEqual({
      error: {
        code: "AuthorizationFailed",
        message: `The client '${seeded.userIdentity?.clientId}' with object id '${seeded.userIdentity?.principalId}' does not have authorization to perform action 'Microsoft.Resources/subscriptions/resourceGroups/read' over scope '${sibling.resourceGroupId}' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
      },
    });
  });

  it("does not let Reader write", async () => {
    const client = await asIdentity(String(seeded.userIdentity?.principalId));
    const write = await client.request("PATCH", `${seeded.resourceGroupId}?api-version=2021-04-01`, {
      tags: { x: "y" },
    });
    expect([write.status, errorCode(write.body)]).toEqual([403, "AuthorizationFailed"]);
  });

  it("reports effective permissions: Reader reads only, the deployer holds Owner", async () => {
    const reader = await asIdentity(String(seeded.userIdentity?.principalId));
    const path = `${seeded.resourceGroupId}/providers/Microsoft.Authorization/permissions${API}`;
    expect((await reader.request("GET", path)).body).toEqual({
      value: [{ actions: ["*/read"], notActions: [], dataActions: [], notDataActions: [] }],
    });
    expect((await azure.arm.request("GET", path)).body).toMatchObject({ value: [{ actions: ["*"], notActions: [] }] });
  });

  it("inherits down the scope tree: a subscription-scope assignment grants reads in every group", async () => {
    const principal = String(sibling.userIdentity?.principalId);
    const client = await asIdentity(principal);
    expect((await client.request("GET", `${sibling.resourceGroupId}?api-version=2021-04-01`)).status).toBe(403);
    const sub = `/subscriptions/${azure.subscriptionId}`;
    const put = await azure.arm.request(
      "PUT",
      `${sub}/providers/Microsoft.Authorization/roleAssignments/5c1b2d3e-0000-4000-8000-000000000001${API}`,
      {
        properties: {
          roleDefinitionId: `${sub}/providers/Microsoft.Authorization/roleDefinitions/${READER}`,
          principalId: principal,
          principalType: "ServicePrincipal",
        },
      },
    );
    expect(put.status).toBe(201);
    expect((await client.request("GET", `${sibling.resourceGroupId}?api-version=2021-04-01`)).status).toBe(200);
    await azure.arm.request(
      "DELETE",
      `${sub}/providers/Microsoft.Authorization/roleAssignments/5c1b2d3e-0000-4000-8000-000000000001${API}`,
    );
    expect((await client.request("GET", `${sibling.resourceGroupId}?api-version=2021-04-01`)).status).toBe(403);
  });

  it("keeps a deleted assignment authorizing for the propagation delay, while ARM's reads no longer show it", async () => {
    // An identity of its own: no other test's (deleted) assignment may authorize it when the delay changes.
    const own = await seedVm(azure, { identity: "user", grant: false, resourceGroup: "rg-c", vmName: "vm-c" });
    const principal = String(own.userIdentity?.principalId);
    const client = await asIdentity(principal);
    const read = async () => (await client.request("GET", `${own.resourceGroupId}?api-version=2021-04-01`)).status;
    const path = `${own.resourceGroupId}/providers/Microsoft.Authorization/roleAssignments/5c1b2d3e-0000-4000-8000-000000000009${API}`;
    // The delay is read at each request: an hour while the test looks inside the window (however long the
    // machine takes), none once it lets the change propagate. rbac.test.ts checks the window's edges.
    const HOUR = 3600;
    azure.faults.rbacDelaySeconds = HOUR;
    try {
      const put = await azure.arm.request("PUT", path, {
        properties: {
          roleDefinitionId: `/subscriptions/${azure.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${READER}`,
          principalId: principal,
          principalType: "ServicePrincipal",
        },
      });
      expect(put.status).toBe(201);
      expect(await read()).toBe(403); // granting propagates
      azure.faults.rbacDelaySeconds = 0;
      expect(await read()).toBe(200);
      azure.faults.rbacDelaySeconds = HOUR;
      expect((await azure.arm.request("DELETE", path)).status).toBe(200);
      expect((await azure.arm.request("GET", path)).status).toBe(404);
      expect(await read()).toBe(200); // revoking propagates too
      azure.faults.rbacDelaySeconds = 0;
      expect(await read()).toBe(403);
    } finally {
      azure.faults.rbacDelaySeconds = 0;
    }
  });

  it("keeps a deleted assignment authorizing its principal's next N requests while a revocation lags, then refuses", async () => {
    const own = await seedVm(azure, { identity: "user", resourceGroup: "rg-d", vmName: "vm-d" });
    const principal = String(own.userIdentity?.principalId);
    const client = await asIdentity(principal);
    const read = async () => (await client.request("GET", `${own.resourceGroupId}?api-version=2021-04-01`)).status;
    const assignments = await azure.arm.request(
      "GET",
      `${own.resourceGroupId}/providers/Microsoft.Authorization/roleAssignments${API}&$filter=${encodeURIComponent(`principalId eq '${principal}'`)}`,
    );
    const [grant] = (assignments.body as { value: Array<{ id: string }> }).value;
    expect((await azure.arm.request("DELETE", `${grant.id}${API}`)).status).toBe(200);
    // Deleted with no propagation delay: refused at once, until the test opens a lag of two requests.
    expect(await read()).toBe(403);
    azure.faults.revocationLag.count = 2;
    expect([await read(), await read(), await read()]).toEqual([200, 200, 403]);
    expect(azure.faults.revocationLag.count).toBe(0);
  });
});

describe("role assignments", () => {
  const assignment = (name: string, principalId: string, extra: Record<string, unknown> = {}) =>
    azure.arm.request(
      "PUT",
      `${seeded.resourceGroupId}/providers/Microsoft.Authorization/roleAssignments/${name}${API}`,
      {
        properties: {
          roleDefinitionId: `/subscriptions/${azure.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${READER}`,
          principalId,
          principalType: "ServicePrincipal",
          ...extra,
        },
      },
    );

  it("reports when an assignment was made (createdOn, updatedOn), the same on every read, another for one made again under its name", async () => {
    const name = "6d2c3e4f-0000-4000-8000-0000000000c0";
    const path = `${seeded.resourceGroupId}/providers/Microsoft.Authorization/roleAssignments/${name}${API}`;
    const principalId = String(seeded.userIdentity?.principalId);
    await azure.arm.request("DELETE", path);
    const before = Date.now();
    const created = await assignment(name, principalId, {
      roleDefinitionId: `/subscriptions/${azure.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${CONTRIBUTOR}`,
    });
    expect(created.status).toBe(201);
    const { createdOn, updatedOn } = (created.body as { properties: { createdOn: string; updatedOn: string } })
      .properties;
    expect(Date.parse(createdOn)).toBeGreaterThanOrEqual(before - 1);
    expect(updatedOn).toBe(createdOn);
    const read = await azure.arm.request("GET", path);
    expect((read.body as { properties: { createdOn: string } }).properties.createdOn).toBe(createdOn);
    await azure.arm.request("DELETE", path);
    await new Promise((resolve) => setTimeout(resolve, 5));
    const again = await assignment(name, principalId, {
      roleDefinitionId: `/subscriptions/${azure.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${CONTRIBUTOR}`,
    });
    expect((again.body as { properties: { createdOn: string } }).properties.createdOn).not.toBe(createdOn);
    await azure.arm.request("DELETE", path);
  });

  it("answers RoleAssignmentExists for the same scope, role and principal under another name", async () => {
    const response = await assignment("6d2c3e4f-0000-4000-8000-000000000002", String(seeded.userIdentity?.principalId));
    expect([response.status, errorCode(response.body)]).toEqual([409, "RoleAssignmentExists"]);
  });

  it("answers RoleAssignmentUpdateNotPermitted when a name is reused for another principal", async () => {
    const name = "7e3d4f50-0000-4000-8000-000000000003";
    expect((await assignment(name, String(sibling.userIdentity?.principalId))).status).toBe(201);
    const principalReused = await assignment(name, String(seeded.userIdentity?.principalId));
    expect([principalReused.status, errorCode(principalReused.body)]).toEqual([
      409,
      "RoleAssignmentUpdateNotPermitted",
    ]);
  });

  it("answers PrincipalNotFound for an unknown principal, and for a new one without principalType", async () => {
    const unknown = await assignment("8f4e5061-0000-4000-8000-000000000004", "00000000-0000-4000-8000-0000000000ff");
    expect([unknown.status, errorCode(unknown.body)]).toEqual([400, "PrincipalNotFound"]);
    const replicating = await LocalAzure.start({ faults: { directoryReplicationSeconds: 60, lroSeconds: 0 } });
    try {
      const vm = await seedVm(replicating, { identity: "user", grant: false, resourceGroup: "rg-r", vmName: "vm-r" });
      const path = `${vm.resourceGroupId}/providers/Microsoft.Authorization/roleAssignments/9a5f6172-0000-4000-8000-000000000005${API}`;
      const roleDefinitionId = `/subscriptions/${replicating.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${READER}`;
      const untyped = await replicating.arm.request("PUT", path, {
        properties: { roleDefinitionId, principalId: vm.userIdentity?.principalId },
      });
      expect([untyped.status, errorCode(untyped.body)]).toEqual([400, "PrincipalNotFound"]);
      const typed = await replicating.arm.request("PUT", path, {
        properties: { roleDefinitionId, principalId: vm.userIdentity?.principalId, principalType: "ServicePrincipal" },
      });
      expect(typed.status).toBe(201);
    } finally {
      await replicating.stop();
    }
  });

  it("answers RoleDefinitionDoesNotExist for a role that is not there", async () => {
    const response = await assignment(
      "0b6a7283-0000-4000-8000-000000000006",
      String(seeded.userIdentity?.principalId),
      {
        roleDefinitionId: `/subscriptions/${azure.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/00000000-0000-0000-0000-000000000000`,
      },
    );
    expect([response.status, errorCode(response.body)]).toEqual([400, "RoleDefinitionDoesNotExist"]);
  });

  it("finds role definitions by ID and by roleName filter", async () => {
    const byFilter = await azure.arm.request(
      "GET",
      `/subscriptions/${azure.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions?api-version=2022-04-01&$filter=roleName%20eq%20'Reader'`,
    );
    expect((byFilter.body as { value: Array<{ name: string }> }).value.map((r) => r.name)).toEqual([READER]);
  });
});

describe("resources", () => {
  it("refuses references to things that do not exist", async () => {
    const rg = seeded.resourceGroupId;
    const nic = await azure.arm.request(
      "PUT",
      `${rg}/providers/Microsoft.Network/networkInterfaces/bad-nic?api-version=2024-05-01`,
      {
        location: "eastus",
        properties: {
          ipConfigurations: [
            {
              name: "p",
              properties: { subnet: { id: `${rg}/providers/Microsoft.Network/virtualNetworks/nope/subnets/nope` } },
            },
          ],
        },
      },
    );
    expect([nic.status, errorCode(nic.body)]).toEqual([400, "InvalidResourceReference"]);
    const vm = await azure.arm.request(
      "PUT",
      `${rg}/providers/Microsoft.Compute/virtualMachines/bad-vm?api-version=2024-11-01`,
      {
        location: "eastus",
        identity: {
          type: "UserAssigned",
          userAssignedIdentities: { [`${rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/ghost`]: {} },
        },
        properties: {},
      },
    );
    expect([vm.status, errorCode(vm.body)]).toEqual([400, "FailedIdentityOperation"]);
    const missing = await azure.arm.request(
      "GET",
      `${rg}/providers/Microsoft.Network/virtualNetworks/none?api-version=2024-05-01`,
    );
    expect([missing.status, errorCode(missing.body)]).toEqual([404, "ResourceNotFound"]);
    const noGroup = await azure.arm.request(
      "GET",
      `/subscriptions/${azure.subscriptionId}/resourceGroups/none?api-version=2021-04-01`,
    );
    expect([noGroup.status, errorCode(noGroup.body)]).toEqual([404, "ResourceGroupNotFound"]);
  });

  it("runs PUTs of network resources as long-running operations and never returns customData", async () => {
    const rg = seeded.resourceGroupId;
    const put = await azure.arm.request(
      "PUT",
      `${rg}/providers/Microsoft.Network/networkSecurityGroups/lro-nsg?api-version=2024-05-01`,
      { location: "eastus", properties: {} },
    );
    expect(put.status).toBe(201);
    expect(put.headers["azure-asyncoperation"]).toMatch(/operationStatuses/);
    const vm = await azure.arm.request("GET", `${seeded.vmId}?api-version=2024-11-01`);
    expect(JSON.stringify(vm.body)).not.toContain("customData");
    expect(seeded.userIdentity?.id).toMatch(/\/resourcegroups\//);
  });

  it("paces the polls of a running operation with Retry-After, as ARM does, and stops once it is done", async () => {
    const rg = seeded.resourceGroupId;
    const nsg = (name: string) =>
      `${rg}/providers/Microsoft.Network/networkSecurityGroups/${name}?api-version=2024-05-01`;
    azure.faults.lroSeconds = 30;
    try {
      // Learn, "Track asynchronous Azure operations": the 201 and the status URL give Retry-After.
      const put = await azure.arm.request("PUT", nsg("paced-nsg"), { location: "eastus", properties: {} });
      expect([put.status, put.headers["retry-after"]]).toEqual([201, "30"]);
      const status = await azure.arm.request("GET", String(put.headers["azure-asyncoperation"]));
      expect((status.body as { status: string }).status).toBe("InProgress");
      expect(status.headers["retry-after"]).toMatch(/^([1-9]|[12][0-9]|30)$/);
      // A resource group's DELETE: 202 with Location and Retry-After, and again on each 202 poll.
      await azure.arm.request(
        "PUT",
        `/subscriptions/${azure.subscriptionId}/resourceGroups/paced-rg?api-version=2021-04-01`,
        {
          location: "eastus",
        },
      );
      const deleted = await azure.arm.request(
        "DELETE",
        `/subscriptions/${azure.subscriptionId}/resourceGroups/paced-rg?api-version=2021-04-01`,
      );
      expect([deleted.status, deleted.headers["retry-after"], deleted.headers["azure-asyncoperation"]]).toEqual([
        202,
        "30",
        undefined,
      ]);
      const result = await azure.arm.request("GET", String(deleted.headers.location));
      expect(result.status).toBe(202);
      expect(result.headers["retry-after"]).toMatch(/^([1-9]|[12][0-9]|30)$/);
    } finally {
      azure.faults.lroSeconds = 0.02;
    }
    azure.faults.lroSeconds = 0;
    try {
      // Finished at once: no Retry-After, on the first answer or on the status.
      const put = await azure.arm.request("PUT", nsg("done-nsg"), { location: "eastus", properties: {} });
      expect(put.headers["retry-after"]).toBeUndefined();
      const status = await azure.arm.request("GET", String(put.headers["azure-asyncoperation"]));
      expect([(status.body as { status: string }).status, status.headers["retry-after"]]).toEqual([
        "Succeeded",
        undefined,
      ]);
    } finally {
      azure.faults.lroSeconds = 0.02;
    }
  });

  it("requires api-version", async () => {
    const response = await azure.arm.request("GET", seeded.resourceGroupId);
    expect([response.status, errorCode(response.body)]).toEqual([400, "MissingApiVersionParameter"]);
  });
});
