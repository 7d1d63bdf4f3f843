import type { AuthorizationManagementClient } from "@azure/arm-authorization";
import type { ComputeManagementClient } from "@azure/arm-compute";
import type { ManagedServiceIdentityClient } from "@azure/arm-msi";
import { NetworkManagementClient } from "@azure/arm-network";
import { ResourceManagementClient } from "@azure/arm-resources";
import { isRestError } from "@azure/core-rest-pipeline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalAzure, type SeededVm, seedVm } from "../../local-azure/index";
import {
  all,
  clientOptions,
  deployerCredential,
  FAST_FAULTS,
  failure,
  identityCredential,
  managementClients,
  POLL,
} from "./support/arm";

/**
 * Local Azure's ARM driven by Microsoft's management clients as a user-assigned identity that holds
 * Reader on its resource group: every read there is allowed (GET, HEAD, lists), every write is
 * refused with 403 AuthorizationFailed, which the SDK surfaces as RestError.code. HEAD is a read: it
 * changes nothing, so Reader's `*\/read` covers it (Learn, "Azure built-in roles": Reader, "View all
 * resources, but does not allow you to make any changes"; Learn, "Resource Groups - Check Existence":
 * HEAD answers 204 or 404). Local Azure used to refuse a Reader's HEAD as a write.
 *
 * A list at subscription scope answers only what the caller may read, where Local Azure used to
 * answer 404 "No route". That filtering is how ARM behaves for a caller with a role on one group (it
 * sees that group in `az group list`), not a documented rule this suite could cite.
 */

const READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7";

let azure: LocalAzure;
let seeded: SeededVm;
let sibling: SeededVm;
let principalId: string;
let clientId: string;
let resources: ResourceManagementClient;
let network: NetworkManagementClient;
let compute: ComputeManagementClient;
let msi: ManagedServiceIdentityClient;
let authorization: AuthorizationManagementClient;
let assignmentName: string;
const RG = "reader-rg";
const VM = "reader-vm";

beforeAll(async () => {
  azure = await LocalAzure.start({ faults: FAST_FAULTS });
  seeded = await seedVm(azure, { identity: "user", resourceGroup: RG, vmName: VM });
  sibling = await seedVm(azure, { identity: "user", grant: false, resourceGroup: "other-rg", vmName: "other-vm" });
  principalId = String(seeded.userIdentity?.principalId);
  clientId = String(seeded.userIdentity?.clientId);
  // The stack also has an NSG; seedVm does not make one.
  const deployerNetwork = new NetworkManagementClient(
    deployerCredential(azure),
    azure.subscriptionId,
    clientOptions(azure),
  );
  await deployerNetwork.networkSecurityGroups.beginCreateOrUpdateAndWait(
    RG,
    `${VM}-nsg`,
    { location: azure.location },
    POLL,
  );
  ({ resources, network, compute, msi, authorization } = managementClients(
    azure,
    identityCredential(azure, principalId),
  ));
  const assignments = await all(authorization.roleAssignments.listForScope(seeded.resourceGroupId));
  assignmentName = String(assignments.find((a) => a.principalId === principalId)?.name);
});
afterAll(() => azure.stop());

/** An API version each provider serves, for getById/checkExistenceById. */
const API_VERSIONS: Record<string, string> = {
  "Microsoft.Compute": "2024-11-01",
  "Microsoft.ManagedIdentity": "2023-01-31",
  "Microsoft.Network": "2024-05-01",
};

const names = (items: Array<{ name?: string }>) => items.map((i) => i.name).sort();

describe("reads allowed for Reader on the resource group", () => {
  it("reads the group: GET, HEAD (checkExistence), and the subscription's group list filtered to it", async () => {
    expect((await resources.resourceGroups.get(RG)).id).toBe(seeded.resourceGroupId);
    expect((await resources.resourceGroups.checkExistence(RG)).body).toBe(true);
    expect(names(await all(resources.resourceGroups.list()))).toEqual([RG]);
  });

  it("lists the group's resources and reads each by ID (GET and HEAD)", async () => {
    const listed = await all(resources.resources.listByResourceGroup(RG));
    expect(names(listed)).toEqual([`${VM}`, `${VM}-id`, `${VM}-ip`, `${VM}-nic`, `${VM}-nsg`, `${VM}-vnet`]);
    // The subscription-wide list answers only what the caller may read.
    expect(names(await all(resources.resources.list()))).toEqual(names(listed));
    for (const resource of listed) {
      const apiVersion = API_VERSIONS[String(resource.type?.split("/")[0])];
      expect((await resources.resources.getById(String(resource.id), apiVersion)).id).toBe(resource.id);
      expect((await resources.resources.checkExistenceById(String(resource.id), apiVersion)).body).toBe(true);
    }
  });

  it("gets and lists every network type, by group and by subscription", async () => {
    expect((await network.virtualNetworks.get(RG, `${VM}-vnet`)).subnets?.map((s) => s.name)).toEqual(["default"]);
    expect((await network.subnets.get(RG, `${VM}-vnet`, "default")).addressPrefix).toBe("10.0.1.0/24");
    expect(names(await all(network.subnets.list(RG, `${VM}-vnet`)))).toEqual(["default"]);
    for (const [operations, name] of [
      [network.virtualNetworks, `${VM}-vnet`],
      [network.networkSecurityGroups, `${VM}-nsg`],
      [network.publicIPAddresses, `${VM}-ip`],
      [network.networkInterfaces, `${VM}-nic`],
    ] as const) {
      expect((await operations.get(RG, name)).name).toBe(name);
      expect(names(await all(operations.list(RG)))).toEqual([name]);
      expect(names(await all(operations.listAll()))).toEqual([name]);
    }
  });

  it("gets and lists the identity and the VM", async () => {
    expect((await msi.userAssignedIdentities.get(RG, `${VM}-id`)).clientId).toBe(clientId);
    expect(names(await all(msi.userAssignedIdentities.listByResourceGroup(RG)))).toEqual([`${VM}-id`]);
    expect(names(await all(msi.userAssignedIdentities.listBySubscription()))).toEqual([`${VM}-id`]);
    const vm = await compute.virtualMachines.get(RG, VM);
    expect(Object.keys(vm.identity?.userAssignedIdentities ?? {})).toEqual([seeded.userIdentity?.id]);
    expect(names(await all(compute.virtualMachines.list(RG)))).toEqual([VM]);
    expect(names(await all(compute.virtualMachines.listAll()))).toEqual([VM]);
  });

  it("reads role assignments, role definitions and its own permissions: */read only", async () => {
    const assignment = await authorization.roleAssignments.get(seeded.resourceGroupId, assignmentName);
    expect([assignment.principalId, assignment.roleDefinitionId?.split("/").pop()]).toEqual([principalId, READER]);
    expect(
      (await all(authorization.roleAssignments.listForResourceGroup(RG))).some((a) => a.name === assignmentName),
    ).toBe(true);
    expect((await authorization.roleDefinitions.get(seeded.resourceGroupId, READER)).roleName).toBe("Reader");
    const readers = await all(
      authorization.roleDefinitions.list(seeded.resourceGroupId, { filter: "roleName eq 'Reader'" }),
    );
    expect(readers.map((r) => r.name)).toEqual([READER]);
    expect(await all(authorization.permissions.listForResourceGroup(RG))).toEqual([
      { actions: ["*/read"], notActions: [], dataActions: [], notDataActions: [] },
    ]);
  });

  it("reads nothing in a group where it holds no role: 403 AuthorizationFailed, and HEAD 403 without a body", async () => {
    expect(await failure(resources.resourceGroups.get(sibling.resourceGroup))).toEqual([403, "AuthorizationFailed"]);
    expect(await failure(all(network.networkInterfaces.list(sibling.resourceGroup)))).toEqual([
      403,
      "AuthorizationFailed",
    ]);
    expect(await failure(compute.virtualMachines.get(sibling.resourceGroup, "other-vm"))).toEqual([
      403,
      "AuthorizationFailed",
    ]);
    // A HEAD answer has no body, so the SDK has a status and no code.
    expect(await failure(resources.resourceGroups.checkExistence(sibling.resourceGroup))).toEqual([403, undefined]);
  });
});

describe("throttling", () => {
  it("429 with Retry-After, as ARM throttles: the SDK's own retry policy waits it out and the read succeeds", async () => {
    // Learn, "Understand how Azure Resource Manager throttles requests": 429 and a Retry-After in seconds.
    azure.faults.armThrottle = { count: 2, retryAfterSeconds: 0 };
    const before = azure.requestLog.length;
    expect((await resources.resourceGroups.get(RG)).name).toBe(RG);
    expect(azure.requestLog.slice(before).map((entry) => entry.status)).toEqual([429, 429, 200]);
  });
});

describe("writes refused for Reader", () => {
  const rgId = () => seeded.resourceGroupId;
  const location = () => azure.location;
  const writes: Array<[string, string, string, () => Promise<unknown>]> = [
    [
      "resourceGroups.createOrUpdate",
      "Microsoft.Resources/subscriptions/resourceGroups/write",
      "",
      () => resources.resourceGroups.createOrUpdate(RG, { location: location() }),
    ],
    [
      "resourceGroups.update",
      "Microsoft.Resources/subscriptions/resourceGroups/write",
      "",
      () => resources.resourceGroups.update(RG, { tags: { x: "y" } }),
    ],
    [
      "resourceGroups.beginDeleteAndWait",
      "Microsoft.Resources/subscriptions/resourceGroups/delete",
      "",
      () => resources.resourceGroups.beginDeleteAndWait(RG, POLL),
    ],
    [
      "virtualNetworks.beginCreateOrUpdateAndWait",
      "Microsoft.Network/virtualNetworks/write",
      `/providers/Microsoft.Network/virtualNetworks/${VM}-vnet`,
      () => network.virtualNetworks.beginCreateOrUpdateAndWait(RG, `${VM}-vnet`, { location: location() }, POLL),
    ],
    [
      "virtualNetworks.updateTags",
      "Microsoft.Network/virtualNetworks/write",
      `/providers/Microsoft.Network/virtualNetworks/${VM}-vnet`,
      () => network.virtualNetworks.updateTags(RG, `${VM}-vnet`, { tags: { x: "y" } }),
    ],
    [
      "virtualNetworks.beginDeleteAndWait",
      "Microsoft.Network/virtualNetworks/delete",
      `/providers/Microsoft.Network/virtualNetworks/${VM}-vnet`,
      () => network.virtualNetworks.beginDeleteAndWait(RG, `${VM}-vnet`, POLL),
    ],
    [
      "subnets.beginCreateOrUpdateAndWait",
      "Microsoft.Network/virtualNetworks/subnets/write",
      `/providers/Microsoft.Network/virtualNetworks/${VM}-vnet/subnets/extra`,
      () =>
        network.subnets.beginCreateOrUpdateAndWait(RG, `${VM}-vnet`, "extra", { addressPrefix: "10.0.2.0/24" }, POLL),
    ],
    [
      "subnets.beginDeleteAndWait",
      "Microsoft.Network/virtualNetworks/subnets/delete",
      `/providers/Microsoft.Network/virtualNetworks/${VM}-vnet/subnets/default`,
      () => network.subnets.beginDeleteAndWait(RG, `${VM}-vnet`, "default", POLL),
    ],
    [
      "networkSecurityGroups.beginCreateOrUpdateAndWait",
      "Microsoft.Network/networkSecurityGroups/write",
      `/providers/Microsoft.Network/networkSecurityGroups/${VM}-nsg`,
      () => network.networkSecurityGroups.beginCreateOrUpdateAndWait(RG, `${VM}-nsg`, { location: location() }, POLL),
    ],
    [
      "networkSecurityGroups.beginDeleteAndWait",
      "Microsoft.Network/networkSecurityGroups/delete",
      `/providers/Microsoft.Network/networkSecurityGroups/${VM}-nsg`,
      () => network.networkSecurityGroups.beginDeleteAndWait(RG, `${VM}-nsg`, POLL),
    ],
    [
      "publicIPAddresses.beginCreateOrUpdateAndWait",
      "Microsoft.Network/publicIPAddresses/write",
      `/providers/Microsoft.Network/publicIPAddresses/${VM}-ip`,
      () => network.publicIPAddresses.beginCreateOrUpdateAndWait(RG, `${VM}-ip`, { location: location() }, POLL),
    ],
    [
      "publicIPAddresses.updateTags",
      "Microsoft.Network/publicIPAddresses/write",
      `/providers/Microsoft.Network/publicIPAddresses/${VM}-ip`,
      () => network.publicIPAddresses.updateTags(RG, `${VM}-ip`, { tags: { x: "y" } }),
    ],
    [
      "networkInterfaces.beginCreateOrUpdateAndWait",
      "Microsoft.Network/networkInterfaces/write",
      `/providers/Microsoft.Network/networkInterfaces/${VM}-nic`,
      () => network.networkInterfaces.beginCreateOrUpdateAndWait(RG, `${VM}-nic`, { location: location() }, POLL),
    ],
    [
      "networkInterfaces.beginDeleteAndWait",
      "Microsoft.Network/networkInterfaces/delete",
      `/providers/Microsoft.Network/networkInterfaces/${VM}-nic`,
      () => network.networkInterfaces.beginDeleteAndWait(RG, `${VM}-nic`, POLL),
    ],
    [
      "userAssignedIdentities.createOrUpdate",
      "Microsoft.ManagedIdentity/userAssignedIdentities/write",
      `/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${VM}-id2`,
      () => msi.userAssignedIdentities.createOrUpdate(RG, `${VM}-id2`, { location: location() }),
    ],
    [
      "userAssignedIdentities.update",
      "Microsoft.ManagedIdentity/userAssignedIdentities/write",
      `/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${VM}-id`,
      () => msi.userAssignedIdentities.update(RG, `${VM}-id`, { tags: { x: "y" } }),
    ],
    [
      "userAssignedIdentities.delete",
      "Microsoft.ManagedIdentity/userAssignedIdentities/delete",
      `/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${VM}-id`,
      () => msi.userAssignedIdentities.delete(RG, `${VM}-id`),
    ],
    [
      "virtualMachines.beginCreateOrUpdateAndWait",
      "Microsoft.Compute/virtualMachines/write",
      `/providers/Microsoft.Compute/virtualMachines/${VM}`,
      () => compute.virtualMachines.beginCreateOrUpdateAndWait(RG, VM, { location: location() }, POLL),
    ],
    [
      "virtualMachines.beginUpdateAndWait",
      "Microsoft.Compute/virtualMachines/write",
      `/providers/Microsoft.Compute/virtualMachines/${VM}`,
      () => compute.virtualMachines.beginUpdateAndWait(RG, VM, { tags: { x: "y" } }, POLL),
    ],
    [
      "virtualMachines.beginDeleteAndWait",
      "Microsoft.Compute/virtualMachines/delete",
      `/providers/Microsoft.Compute/virtualMachines/${VM}`,
      () => compute.virtualMachines.beginDeleteAndWait(RG, VM, POLL),
    ],
    [
      "roleAssignments.create",
      "Microsoft.Authorization/roleAssignments/write",
      "/providers/Microsoft.Authorization/roleAssignments/6b0e8f1c-2d3a-4b5c-8d9e-0f1a2b3c4d5e",
      () =>
        authorization.roleAssignments.create(rgId(), "6b0e8f1c-2d3a-4b5c-8d9e-0f1a2b3c4d5e", {
          roleDefinitionId: `/subscriptions/${azure.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${READER}`,
          principalId,
          principalType: "ServicePrincipal",
        }),
    ],
    [
      "roleAssignments.delete",
      "Microsoft.Authorization/roleAssignments/delete",
      "",
      () => authorization.roleAssignments.delete(rgId(), assignmentName),
    ],
  ];

  it.each(writes)("%s: 403 AuthorizationFailed for %s", async (_operation, action, below, call) => {
    // ARM names the path the client sent: @azure/arm-resources spells it "resourcegroups".
    const group =
      below === "" && action.startsWith("Microsoft.Resources")
        ? rgId().replace("/resourceGroups/", "/resourcegroups/")
        : rgId();
    const scope =
      action === "Microsoft.Authorization/roleAssignments/delete"
        ? `${rgId()}/providers/Microsoft.Authorization/roleAssignments/${assignmentName}`
        : `${group}${below}`;
    let thrown: unknown;
    try {
      await call();
    } catch (error) {
      thrown = error;
    }
    if (!isRestError(thrown)) throw new Error(`expected a RestError, got ${String(thrown)}`);
    expect([thrown.statusCode, thrown.code]).toEqual([403, "AuthorizationFailed"]);
    expect(thrown.message).toBe(
      `The client '${clientId}' with object id '${principalId}' does not have authorization to perform action '${action}' over scope '${scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
    );
  });

  it("changed nothing: the deployer still sees every resource, untagged, and the assignment", async () => {
    const deployer = new ResourceManagementClient(
      deployerCredential(azure),
      azure.subscriptionId,
      clientOptions(azure),
    );
    const listed = await all(deployer.resources.listByResourceGroup(RG));
    expect(listed.length).toBe(6);
    expect(listed.filter((r) => r.tags !== undefined)).toEqual([]);
    expect((await deployer.resourceGroups.get(RG)).tags).toBeUndefined();
    expect((await authorization.roleAssignments.get(seeded.resourceGroupId, assignmentName)).name).toBe(assignmentName);
  });
});
