import type { AuthorizationManagementClient } from "@azure/arm-authorization";
import type { ComputeManagementClient } from "@azure/arm-compute";
import type { ManagedServiceIdentityClient } from "@azure/arm-msi";
import type { NetworkManagementClient } from "@azure/arm-network";
import type { ResourceManagementClient } from "@azure/arm-resources";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalAzure, seedVm } from "../../local-azure/index";
import { generatePrivateKey } from "../../local-azure/tlsKeys";
import { all, deployerCredential, FAST_FAULTS, failure, managementClients, POLL, refusal } from "./support/arm";

/**
 * Local Azure's ARM driven by Microsoft's management clients as the deployer (Owner on the
 * subscription): the full life of every resource type the stack creates, through the SDKs' own
 * pollers, paging and error parsing. Where Local Azure once differed from Azure, the test names the
 * documented behaviour it now follows.
 *
 * The lists Local Azure used to answer 404 "No route" are operations of the REST specs
 * (azure-rest-api-specs, specification/…/stable/…): network/…/2024-05-01/virtualNetwork.json,
 * networkSecurityGroup.json, publicIpAddress.json, networkInterface.json (…_List by group, …_ListAll
 * by subscription; Subnets_List), compute/…/ComputeRP/stable/2024-11-01/virtualMachine.json
 * (VirtualMachines_List, VirtualMachines_ListAll), msi/…/2023-01-31/ManagedIdentity.json
 * (UserAssignedIdentities_ListByResourceGroup, _ListBySubscription), resources/…/2021-04-01/resources.json
 * (Resources_ListByResourceGroup, ResourceGroups_List), authorization/…/2022-04-01/
 * authorization-RoleAssignmentsCalls.json (RoleAssignments_ListForScope) and
 * authorization-RoleDefinitionsCalls.json (RoleDefinitions_List with $filter).
 */

const READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
const OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bf8635";
const RG = "conformance-rg";
const SSH_KEY = generatePrivateKey("ED25519").publicKeyOpenssh.trim();

let azure: LocalAzure;
let resources: ResourceManagementClient;
let network: NetworkManagementClient;
let compute: ComputeManagementClient;
let msi: ManagedServiceIdentityClient;
let authorization: AuthorizationManagementClient;
let sub: string;
let rgId: string;

beforeAll(async () => {
  azure = await LocalAzure.start({ faults: FAST_FAULTS });
  ({ resources, network, compute, msi, authorization } = managementClients(azure, deployerCredential(azure)));
  sub = `/subscriptions/${azure.subscriptionId}`;
  rgId = `${sub}/resourceGroups/${RG}`;
});
afterAll(() => azure.stop());

const net = (type: string, name: string) => `${rgId}/providers/Microsoft.Network/${type}/${name}`;
const names = (items: Array<{ name?: string }>) => items.map((i) => i.name).sort();

describe("resource groups (@azure/arm-resources)", () => {
  it("creates, gets, updates and lists a resource group", async () => {
    const created = await resources.resourceGroups.createOrUpdate(RG, { location: azure.location });
    expect(created).toMatchObject({ id: rgId, name: RG, location: azure.location });
    expect(created.properties?.provisioningState).toBe("Succeeded");
    expect((await resources.resourceGroups.get(RG)).id).toBe(rgId);
    const updated = await resources.resourceGroups.update(RG, { tags: { owner: "conformance" } });
    expect(updated.tags).toEqual({ owner: "conformance" });
    expect(names(await all(resources.resourceGroups.list()))).toContain(RG);
  });

  it("checkExistence (HEAD) answers 204 for a group and 404 for none, which the SDK reads as true/false", async () => {
    // specification/resources/resource-manager/Microsoft.Resources/stable/2021-04-01/resources.json: ResourceGroups_CheckExistence.
    expect((await resources.resourceGroups.checkExistence(RG)).body).toBe(true);
    expect((await resources.resourceGroups.checkExistence("no-such-rg")).body).toBe(false);
  });

  it("refuses a missing group with 404 ResourceGroupNotFound and a move to another location with 409", async () => {
    expect(await failure(resources.resourceGroups.get("no-such-rg"))).toEqual([404, "ResourceGroupNotFound"]);
    expect(await failure(resources.resourceGroups.createOrUpdate(RG, { location: "westeurope" }))).toEqual([
      409,
      "InvalidResourceGroupLocation",
    ]);
  });
});

describe("network (@azure/arm-network)", () => {
  // azure-rest-api-specs specification/network/resource-manager/Microsoft.Network/stable/2024-05-01/virtualNetwork.json:
  // a VNet's subnets are Subnet objects, each with its id.
  it("gives inline subnets their IDs, so a NIC can reference one", async () => {
    const vnet = await network.virtualNetworks.beginCreateOrUpdateAndWait(
      RG,
      "inline-vnet",
      {
        location: azure.location,
        addressSpace: { addressPrefixes: ["10.1.0.0/16"] },
        subnets: [{ name: "inline", addressPrefix: "10.1.1.0/24" }],
      },
      POLL,
    );
    expect(vnet.provisioningState).toBe("Succeeded");
    expect(vnet.subnets?.map((s) => [s.name, s.id, s.addressPrefix])).toEqual([
      ["inline", `${net("virtualNetworks", "inline-vnet")}/subnets/inline`, "10.1.1.0/24"],
    ]);
    const subnet = await network.subnets.get(RG, "inline-vnet", "inline");
    expect(subnet.id).toBe(vnet.subnets?.[0].id);
    const nic = await network.networkInterfaces.beginCreateOrUpdateAndWait(
      RG,
      "inline-nic",
      { location: azure.location, ipConfigurations: [{ name: "primary", subnet: { id: subnet.id } }] },
      POLL,
    );
    expect(nic.ipConfigurations?.[0].subnet?.id).toBe(subnet.id);
  });

  it("refuses to drop an inline subnet a NIC still uses, then drops it once the NIC is gone", async () => {
    const without = { location: azure.location, addressSpace: { addressPrefixes: ["10.1.0.0/16"] }, subnets: [] };
    // hashicorp/terraform-provider-azurerm#334: the error names the NIC's ipConfiguration that holds the subnet.
    const refused = await refusal(network.virtualNetworks.beginCreateOrUpdateAndWait(RG, "inline-vnet", without, POLL));
    expect([refused.statusCode, refused.code, refused.message]).toEqual([
      400,
      "InUseSubnetCannotBeDeleted",
      `Subnet inline is in use by ${net("networkInterfaces", "inline-nic")}/ipConfigurations/primary and cannot be deleted. In order to delete the subnet, delete all the resources within the subnet. See aka.ms/deletesubnet.`,
    ]);
    await network.networkInterfaces.beginDeleteAndWait(RG, "inline-nic", POLL);
    const vnet = await network.virtualNetworks.beginCreateOrUpdateAndWait(RG, "inline-vnet", without, POLL);
    expect(vnet.subnets).toEqual([]);
    expect(await failure(network.subnets.get(RG, "inline-vnet", "inline"))).toEqual([404, "ResourceNotFound"]);
    await network.virtualNetworks.beginDeleteAndWait(RG, "inline-vnet", POLL);
  });

  it("creates the stack's network: VNet, subnet, NSG, Standard static public IP, NIC", async () => {
    const vnet = await network.virtualNetworks.beginCreateOrUpdateAndWait(
      RG,
      "vnet",
      { location: azure.location, addressSpace: { addressPrefixes: ["10.42.0.0/16"] } },
      POLL,
    );
    expect(vnet).toMatchObject({ id: net("virtualNetworks", "vnet"), provisioningState: "Succeeded", subnets: [] });
    const subnet = await network.subnets.beginCreateOrUpdateAndWait(
      RG,
      "vnet",
      "default",
      { addressPrefix: "10.42.1.0/24" },
      POLL,
    );
    expect(subnet).toMatchObject({ id: `${vnet.id}/subnets/default`, provisioningState: "Succeeded" });
    // A subnet created on its own shows in its VNet, as in Azure.
    expect((await network.virtualNetworks.get(RG, "vnet")).subnets?.map((s) => s.id)).toEqual([subnet.id]);
    // A VNet PUT that omits subnets leaves them alone (API 2023-11-01 and later; Learn, "Create virtual network
    // resources by using Bicep"), where an explicit empty list removes them (the inline test above).
    const again = await network.virtualNetworks.beginCreateOrUpdateAndWait(
      RG,
      "vnet",
      { location: azure.location, addressSpace: { addressPrefixes: ["10.42.0.0/16"] }, tags: { again: "yes" } },
      POLL,
    );
    expect([again.tags, again.subnets?.map((s) => s.id)]).toEqual([{ again: "yes" }, [subnet.id]]);
    const nsg = await network.networkSecurityGroups.beginCreateOrUpdateAndWait(
      RG,
      "nsg",
      {
        location: azure.location,
        securityRules: [
          {
            name: "allow-ssh",
            priority: 100,
            direction: "Inbound",
            access: "Allow",
            protocol: "Tcp",
            sourceAddressPrefix: "203.0.113.0/24",
            sourcePortRange: "*",
            destinationAddressPrefix: "*",
            destinationPortRange: "22",
          },
        ],
      },
      POLL,
    );
    expect(nsg.securityRules?.map((r) => [r.name, r.sourceAddressPrefix])).toEqual([["allow-ssh", "203.0.113.0/24"]]);
    const ip = await network.publicIPAddresses.beginCreateOrUpdateAndWait(
      RG,
      "ip",
      { location: azure.location, sku: { name: "Standard" }, publicIPAllocationMethod: "Static" },
      POLL,
    );
    expect(ip.sku?.name).toBe("Standard");
    expect(ip.ipAddress).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    const nic = await network.networkInterfaces.beginCreateOrUpdateAndWait(
      RG,
      "nic",
      {
        location: azure.location,
        networkSecurityGroup: { id: nsg.id },
        ipConfigurations: [{ name: "primary", subnet: { id: subnet.id }, publicIPAddress: { id: ip.id } }],
      },
      POLL,
    );
    expect(nic).toMatchObject({ id: net("networkInterfaces", "nic"), provisioningState: "Succeeded" });
    // Named sub-resources carry their own IDs, as in Azure's answers.
    expect(nic.ipConfigurations?.map((c) => c.id)).toEqual([`${nic.id}/ipConfigurations/primary`]);
    expect(nsg.securityRules?.map((r) => r.id)).toEqual([`${nsg.id}/securityRules/allow-ssh`]);
  });

  it("gets, updates tags and lists each network type by resource group and by subscription", async () => {
    const kinds = [
      ["virtualNetworks", network.virtualNetworks, "vnet"],
      ["networkSecurityGroups", network.networkSecurityGroups, "nsg"],
      ["publicIPAddresses", network.publicIPAddresses, "ip"],
      ["networkInterfaces", network.networkInterfaces, "nic"],
    ] as const;
    for (const [type, operations, name] of kinds) {
      expect((await operations.get(RG, name)).id).toBe(net(type, name));
      expect((await operations.updateTags(RG, name, { tags: { kind: type } })).tags).toEqual({ kind: type });
      expect((await operations.get(RG, name)).tags).toEqual({ kind: type });
      expect(names(await all(operations.list(RG)))).toEqual([name]);
      expect(names(await all(operations.listAll()))).toEqual([name]);
    }
    expect(names(await all(network.subnets.list(RG, "vnet")))).toEqual(["default"]);
    expect(await failure(all(network.subnets.list(RG, "no-vnet")))).toEqual([404, "ResourceNotFound"]);
    expect(await failure(network.networkInterfaces.get(RG, "no-nic"))).toEqual([404, "ResourceNotFound"]);
  });

  it("waits as ARM's Retry-After says while an operation runs: one poll finds it running, the next one done", async () => {
    // Learn, "Track asynchronous Azure operations": Retry-After is "the number of seconds to wait before
    // checking the status". @azure/core-lro lets it override updateIntervalInMs (POLL's 10 ms): were it
    // not sent, or not read, the SDK would poll every 10 ms for the operation's 2 s.
    azure.faults.lroSeconds = 2;
    const before = azure.requestLog.length;
    try {
      const nsg = await network.networkSecurityGroups.beginCreateOrUpdateAndWait(
        RG,
        "paced-nsg",
        { location: azure.location },
        POLL,
      );
      expect(nsg.provisioningState).toBe("Succeeded");
    } finally {
      azure.faults.lroSeconds = FAST_FAULTS?.lroSeconds ?? 0;
    }
    const polls = azure.requestLog.slice(before).filter((entry) => /\/operationStatuses\//.test(entry.path));
    // core-lro 2 polls twice at once (beginCreateOrUpdate's own poll, then pollUntilDone's), finds the
    // operation running, and polls again only the Retry-After later: three polls, not one per 10 ms.
    expect(polls.map((entry) => entry.status)).toEqual([200, 200, 200]);
    expect(polls[2].at - polls[1].at).toBeGreaterThanOrEqual(1000);
    await network.networkSecurityGroups.beginDeleteAndWait(RG, "paced-nsg", POLL);
  });
});

let identity: { id: string; principalId: string; clientId: string };

describe("user-assigned identity (@azure/arm-msi)", () => {
  it("creates, gets, updates and lists an identity", async () => {
    const created = await msi.userAssignedIdentities.createOrUpdate(RG, "id", { location: azure.location });
    identity = { id: String(created.id), principalId: String(created.principalId), clientId: String(created.clientId) };
    // Azure spells the identity's ID with "resourcegroups" in lower case: compare IDs case-insensitively.
    expect(created.id?.toLowerCase()).toBe(
      `${rgId}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id`.toLowerCase(),
    );
    expect(created.tenantId).toBe(azure.tenantId);
    expect(created.principalId).toMatch(/^[0-9a-f-]{36}$/);
    expect((await msi.userAssignedIdentities.get(RG, "id")).clientId).toBe(identity.clientId);
    const updated = await msi.userAssignedIdentities.update(RG, "id", { tags: { role: "reader" } });
    expect([updated.tags, updated.principalId]).toEqual([{ role: "reader" }, identity.principalId]);
    expect(names(await all(msi.userAssignedIdentities.listByResourceGroup(RG)))).toEqual(["id"]);
    expect(names(await all(msi.userAssignedIdentities.listBySubscription()))).toEqual(["id"]);
  });
});

let systemPrincipalId: string;

describe("virtual machine with identities (@azure/arm-compute)", () => {
  it("creates a VM with system- and user-assigned identities, gets, updates and lists it", async () => {
    const vm = await compute.virtualMachines.beginCreateOrUpdateAndWait(
      RG,
      "vm",
      {
        location: azure.location,
        identity: { type: "SystemAssigned, UserAssigned", userAssignedIdentities: { [identity.id]: {} } },
        hardwareProfile: { vmSize: "Standard_B2s" },
        osProfile: {
          computerName: "vm",
          adminUsername: "azureuser",
          linuxConfiguration: {
            disablePasswordAuthentication: true,
            ssh: { publicKeys: [{ path: "/home/azureuser/.ssh/authorized_keys", keyData: SSH_KEY }] },
          },
        },
        networkProfile: { networkInterfaces: [{ id: net("networkInterfaces", "nic"), primary: true }] },
      },
      POLL,
    );
    expect(vm.provisioningState).toBe("Succeeded");
    expect(vm.identity?.type).toBe("SystemAssigned, UserAssigned");
    expect(vm.identity?.tenantId).toBe(azure.tenantId);
    expect(vm.identity?.userAssignedIdentities?.[identity.id]).toEqual({
      principalId: identity.principalId,
      clientId: identity.clientId,
    });
    systemPrincipalId = String(vm.identity?.principalId);
    const updated = await compute.virtualMachines.beginUpdateAndWait(RG, "vm", { tags: { tier: "test" } }, POLL);
    expect([updated.tags, updated.identity?.principalId]).toEqual([{ tier: "test" }, systemPrincipalId]);
    expect((await compute.virtualMachines.get(RG, "vm")).tags).toEqual({ tier: "test" });
    expect(names(await all(compute.virtualMachines.list(RG)))).toEqual(["vm"]);
    expect(names(await all(compute.virtualMachines.listAll()))).toEqual(["vm"]);
  });

  // Compute's InvalidParameter (target linuxConfiguration), as terraform-provider-azurerm quotes it.
  it("refuses a Linux VM with neither a password nor an SSH key", async () => {
    const osProfile = {
      computerName: "keyless",
      adminUsername: "azureuser",
      linuxConfiguration: { disablePasswordAuthentication: true },
    };
    expect(
      await failure(
        compute.virtualMachines.beginCreateOrUpdateAndWait(
          RG,
          "keyless",
          { location: azure.location, osProfile },
          POLL,
        ),
      ),
    ).toEqual([400, "InvalidParameter"]);
  });

  it("refuses a user-assigned identity that does not exist", async () => {
    const ghost = `${rgId}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/ghost`;
    expect(
      await failure(
        compute.virtualMachines.beginCreateOrUpdateAndWait(
          RG,
          "ghost-vm",
          { location: azure.location, identity: { type: "UserAssigned", userAssignedIdentities: { [ghost]: {} } } },
          POLL,
        ),
      ),
    ).toEqual([400, "FailedIdentityOperation"]);
  });
});

describe("resources of a group (@azure/arm-resources)", () => {
  it("lists the group's top-level resources, without nested subnets", async () => {
    const listed = await all(resources.resources.listByResourceGroup(RG));
    expect(listed.map((r) => r.type).sort()).toEqual([
      "Microsoft.Compute/virtualMachines",
      "Microsoft.ManagedIdentity/userAssignedIdentities",
      "Microsoft.Network/networkInterfaces",
      "Microsoft.Network/networkSecurityGroups",
      "Microsoft.Network/publicIPAddresses",
      "Microsoft.Network/virtualNetworks",
    ]);
    expect(listed.find((r) => r.name === "vm")?.location).toBe(azure.location);
    expect((await all(resources.resources.list())).length).toBe(6);
  });

  it("gets a resource by ID and checks its existence (HEAD 204/404)", async () => {
    const vmId = `${rgId}/providers/Microsoft.Compute/virtualMachines/vm`;
    expect((await resources.resources.getById(vmId, "2024-11-01")).name).toBe("vm");
    expect((await resources.resources.checkExistenceById(vmId, "2024-11-01")).body).toBe(true);
    expect((await resources.resources.checkExistenceById(`${vmId}-none`, "2024-11-01")).body).toBe(false);
  });
});

const ASSIGNMENT = "3f1b6e2a-8c4d-4e5f-9a0b-1c2d3e4f5a6b";

describe("role definitions, assignments and permissions (@azure/arm-authorization)", () => {
  it("finds Reader by $filter=roleName eq 'Reader' and by ID", async () => {
    const byName = await all(authorization.roleDefinitions.list(sub, { filter: "roleName eq 'Reader'" }));
    expect(byName.map((r) => [r.name, r.roleName, r.roleType])).toEqual([[READER, "Reader", "BuiltInRole"]]);
    expect(byName[0].permissions).toEqual([
      { actions: ["*/read"], notActions: [], dataActions: [], notDataActions: [] },
    ]);
    const byId = await authorization.roleDefinitions.get(rgId, READER);
    expect([byId.id, byId.roleName]).toEqual([
      `${sub}/providers/Microsoft.Authorization/roleDefinitions/${READER}`,
      "Reader",
    ]);
    expect(await failure(authorization.roleDefinitions.get(sub, "00000000-0000-0000-0000-000000000000"))).toEqual([
      404,
      "RoleDefinitionDoesNotExist",
    ]);
  });

  it("creates, gets, lists at a scope and deletes a role assignment", async () => {
    const roleDefinitionId = `${sub}/providers/Microsoft.Authorization/roleDefinitions/${READER}`;
    const created = await authorization.roleAssignments.create(rgId, ASSIGNMENT, {
      roleDefinitionId,
      principalId: identity.principalId,
      principalType: "ServicePrincipal",
    });
    expect(created).toMatchObject({
      id: `${rgId}/providers/Microsoft.Authorization/roleAssignments/${ASSIGNMENT}`,
      name: ASSIGNMENT,
      scope: rgId,
      roleDefinitionId,
      principalId: identity.principalId,
      principalType: "ServicePrincipal",
    });
    expect((await authorization.roleAssignments.get(rgId, ASSIGNMENT)).principalId).toBe(identity.principalId);
    // Learn, "Role Assignments - List For Scope": atScope() gives those at or above the scope.
    const atScope = await all(authorization.roleAssignments.listForScope(rgId, { filter: "atScope()" }));
    expect(atScope.map((a) => a.roleDefinitionId?.split("/").pop()).sort()).toEqual([OWNER, READER].sort());
    const forPrincipal = await all(
      authorization.roleAssignments.listForScope(sub, { filter: `principalId eq '${identity.principalId}'` }),
    );
    expect(forPrincipal.map((a) => a.name)).toEqual([ASSIGNMENT]);
    expect((await all(authorization.roleAssignments.listForResourceGroup(RG))).map((a) => a.name)).toContain(
      ASSIGNMENT,
    );
    expect(
      await failure(
        authorization.roleAssignments.create(rgId, "9c8b7a65-4321-4fed-8cba-987654321000", {
          roleDefinitionId,
          principalId: identity.principalId,
          principalType: "ServicePrincipal",
        }),
      ),
    ).toEqual([409, "RoleAssignmentExists"]);
    const deleted = await authorization.roleAssignments.delete(rgId, ASSIGNMENT);
    expect(deleted.name).toBe(ASSIGNMENT);
    expect(await failure(authorization.roleAssignments.get(rgId, ASSIGNMENT))).toEqual([404, "RoleAssignmentNotFound"]);
  });

  it("reports the deployer's effective permissions on the group: Owner's *", async () => {
    const permissions = await all(authorization.permissions.listForResourceGroup(RG));
    expect(permissions).toEqual([{ actions: ["*"], notActions: [], dataActions: [], notDataActions: [] }]);
  });
});

describe("deletes through the SDK pollers", () => {
  it("refuses to delete what is still in use, then deletes VM, NIC, IP, NSG, subnet, VNet and identity", async () => {
    expect(await failure(network.networkInterfaces.beginDeleteAndWait(RG, "nic", POLL))).toEqual([400, "NicInUse"]);
    await compute.virtualMachines.beginDeleteAndWait(RG, "vm", POLL);
    expect(await failure(compute.virtualMachines.get(RG, "vm"))).toEqual([404, "ResourceNotFound"]);
    expect(await failure(network.subnets.beginDeleteAndWait(RG, "vnet", "default", POLL))).toEqual([
      400,
      "InUseSubnetCannotBeDeleted",
    ]);
    await network.networkInterfaces.beginDeleteAndWait(RG, "nic", POLL);
    await network.publicIPAddresses.beginDeleteAndWait(RG, "ip", POLL);
    await network.networkSecurityGroups.beginDeleteAndWait(RG, "nsg", POLL);
    await network.subnets.beginDeleteAndWait(RG, "vnet", "default", POLL);
    await network.virtualNetworks.beginDeleteAndWait(RG, "vnet", POLL);
    await msi.userAssignedIdentities.delete(RG, "id");
    expect(await all(resources.resources.listByResourceGroup(RG))).toEqual([]);
    // Deleting what is already gone succeeds (204), as ARM's deletes are idempotent.
    await network.virtualNetworks.beginDeleteAndWait(RG, "vnet", POLL);
  });

  it("deletes a resource group with everything in it, the identities' role assignments included", async () => {
    const seeded = await seedVm(azure, { identity: "both", resourceGroup: "doomed-rg", vmName: "doomed" });
    const principals = [seeded.userIdentity?.principalId, seeded.systemIdentity?.principalId];
    const assigned = async () =>
      (await all(authorization.roleAssignments.listForScope(sub))).filter((a) => principals.includes(a.principalId));
    expect((await assigned()).length).toBe(2);
    expect((await all(resources.resources.listByResourceGroup("doomed-rg"))).length).toBe(5);
    // Location polling: 202 while the delete runs, then 200 (Learn, "Track asynchronous Azure operations").
    await resources.resourceGroups.beginDeleteAndWait("doomed-rg", POLL);
    expect((await resources.resourceGroups.checkExistence("doomed-rg")).body).toBe(false);
    expect(await assigned()).toEqual([]);
    expect((await all(resources.resources.list())).filter((r) => r.id?.includes("doomed-rg"))).toEqual([]);
    expect(await failure(all(compute.virtualMachines.list("doomed-rg")))).toEqual([404, "ResourceGroupNotFound"]);
    await resources.resourceGroups.beginDeleteAndWait(RG, POLL);
    expect(names(await all(resources.resourceGroups.list()))).toEqual([]);
  });
});
