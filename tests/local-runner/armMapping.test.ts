import { describe, expect, it } from "vitest";
import { getterQuery } from "../../local/armGetter";
import { armRequest, autoname, azureNativeOutputs, mappingFor, resourceMappings } from "../../local/armMapping";
import { armIdentity } from "../../local/armMapping/virtualMachine";

const SUB = "00000000-0000-4000-8000-000000000001";
const RG = "vmia-rg1a2b3c4d";
const RG_ID = `/subscriptions/${SUB}/resourceGroups/${RG}`;
const context = { subscriptionId: SUB };

function table(type: string) {
  const mapping = mappingFor(type);
  if (!mapping) throw new Error(`no table for ${type}`);
  return mapping;
}

describe("ARM mapping tables: azure-native v3 inputs -> ARM PUT", () => {
  it("covers exactly the eleven types the program creates, each with azure-native v3's API version", () => {
    expect(Object.fromEntries(resourceMappings.map((m) => [m.type, m.apiVersion]))).toEqual({
      "azure-native:resources:ResourceGroup": "2024-03-01",
      "azure-native:network:VirtualNetwork": "2024-05-01",
      "azure-native:network:Subnet": "2024-05-01",
      "azure-native:network:NetworkSecurityGroup": "2024-05-01",
      "azure-native:network:PublicIPAddress": "2024-05-01",
      "azure-native:network:NetworkInterface": "2024-05-01",
      "azure-native:network:NatGateway": "2024-05-01",
      "azure-native:managedidentity:UserAssignedIdentity": "2023-01-31",
      "azure-native:compute:VirtualMachine": "2024-11-01",
      "azure-native:compute:VirtualMachineRunCommandByVirtualMachine": "2024-11-01",
      "azure-native:authorization:RoleAssignment": "2022-04-01",
    });
    expect(mappingFor("azure-native:storage:StorageAccount")).toBeUndefined();
  });

  it("ResourceGroup: name in the path, location and tags top level, no properties", () => {
    const request = armRequest(
      table("azure-native:resources:ResourceGroup"),
      { location: "eastus", tags: { app: "vmia" } },
      RG,
      context,
    );
    expect(request).toEqual({
      path: `/subscriptions/${SUB}/resourcegroups/${RG}?api-version=2024-03-01`,
      body: { location: "eastus", tags: { app: "vmia" } },
    });
  });

  it("VirtualNetwork: addressSpace under properties, resource group and name only in the path", () => {
    const request = armRequest(
      table("azure-native:network:VirtualNetwork"),
      {
        resourceGroupName: RG,
        location: "eastus",
        addressSpace: { addressPrefixes: ["10.42.0.0/16"] },
        enableDdosProtection: false,
        enableVmProtection: false,
      },
      "vmia-vnet0badcafe",
      context,
    );
    expect(request).toEqual({
      path: `${RG_ID}/providers/Microsoft.Network/virtualNetworks/vmia-vnet0badcafe?api-version=2024-05-01`,
      body: {
        location: "eastus",
        properties: {
          addressSpace: { addressPrefixes: ["10.42.0.0/16"] },
          enableDdosProtection: false,
          enableVmProtection: false,
        },
      },
    });
  });

  it("Subnet: child path under its VNet, addressPrefix and defaults under properties", () => {
    const request = armRequest(
      table("azure-native:network:Subnet"),
      {
        resourceGroupName: RG,
        virtualNetworkName: "vmia-vnet0badcafe",
        addressPrefix: "10.42.1.0/24",
        privateEndpointNetworkPolicies: "Disabled",
        privateLinkServiceNetworkPolicies: "Enabled",
      },
      "vmia-subnet12345678",
      context,
    );
    expect(request).toEqual({
      path: `${RG_ID}/providers/Microsoft.Network/virtualNetworks/vmia-vnet0badcafe/subnets/vmia-subnet12345678?api-version=2024-05-01`,
      body: {
        properties: {
          addressPrefix: "10.42.1.0/24",
          privateEndpointNetworkPolicies: "Disabled",
          privateLinkServiceNetworkPolicies: "Enabled",
        },
      },
    });
  });

  it("NetworkSecurityGroup: each inline security rule becomes {name, properties}", () => {
    const request = armRequest(
      table("azure-native:network:NetworkSecurityGroup"),
      {
        resourceGroupName: RG,
        location: "eastus",
        securityRules: [
          {
            name: "allow-ssh-from-allowed-cidr",
            priority: 100,
            direction: "Inbound",
            access: "Allow",
            protocol: "Tcp",
            sourceAddressPrefix: "127.0.0.1/32",
            sourcePortRange: "*",
            destinationAddressPrefix: "*",
            destinationPortRange: "2222",
          },
        ],
      },
      "vmia-nsg00000001",
      context,
    );
    expect(request).toEqual({
      path: `${RG_ID}/providers/Microsoft.Network/networkSecurityGroups/vmia-nsg00000001?api-version=2024-05-01`,
      body: {
        location: "eastus",
        properties: {
          securityRules: [
            {
              name: "allow-ssh-from-allowed-cidr",
              properties: {
                priority: 100,
                direction: "Inbound",
                access: "Allow",
                protocol: "Tcp",
                sourceAddressPrefix: "127.0.0.1/32",
                sourcePortRange: "*",
                destinationAddressPrefix: "*",
                destinationPortRange: "2222",
              },
            },
          ],
        },
      },
    });
  });

  it("PublicIPAddress: sku top level, allocation method under properties", () => {
    const request = armRequest(
      table("azure-native:network:PublicIPAddress"),
      {
        resourceGroupName: RG,
        location: "eastus",
        sku: { name: "Standard", tier: "Regional" },
        publicIPAllocationMethod: "Static",
      },
      "vmia-ip0abcdef01",
      context,
    );
    expect(request).toEqual({
      path: `${RG_ID}/providers/Microsoft.Network/publicIPAddresses/vmia-ip0abcdef01?api-version=2024-05-01`,
      body: {
        location: "eastus",
        sku: { name: "Standard", tier: "Regional" },
        properties: { publicIPAllocationMethod: "Static" },
      },
    });
  });

  it("NetworkInterface: ipConfigurations items split, references kept as {id}", () => {
    const subnetId = `${RG_ID}/providers/Microsoft.Network/virtualNetworks/v/subnets/s`;
    const ipId = `${RG_ID}/providers/Microsoft.Network/publicIPAddresses/ip`;
    const nsgId = `${RG_ID}/providers/Microsoft.Network/networkSecurityGroups/nsg`;
    const request = armRequest(
      table("azure-native:network:NetworkInterface"),
      {
        resourceGroupName: RG,
        location: "eastus",
        networkSecurityGroup: { id: nsgId },
        ipConfigurations: [
          {
            name: "primary",
            primary: true,
            privateIPAllocationMethod: "Dynamic",
            subnet: { id: subnetId },
            publicIPAddress: { id: ipId },
          },
        ],
      },
      "vmia-nic0deadbeef",
      context,
    );
    expect(request).toEqual({
      path: `${RG_ID}/providers/Microsoft.Network/networkInterfaces/vmia-nic0deadbeef?api-version=2024-05-01`,
      body: {
        location: "eastus",
        properties: {
          networkSecurityGroup: { id: nsgId },
          ipConfigurations: [
            {
              name: "primary",
              properties: {
                primary: true,
                privateIPAllocationMethod: "Dynamic",
                subnet: { id: subnetId },
                publicIPAddress: { id: ipId },
              },
            },
          ],
        },
      },
    });
  });

  it("UserAssignedIdentity: resourceName in the path, only location in the body", () => {
    const request = armRequest(
      table("azure-native:managedidentity:UserAssignedIdentity"),
      { resourceGroupName: RG, location: "eastus" },
      "vmia-uami5e5e5e5e",
      context,
    );
    expect(request).toEqual({
      path: `${RG_ID}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/vmia-uami5e5e5e5e?api-version=2023-01-31`,
      body: { location: "eastus" },
    });
  });

  it("VirtualMachine: identity top level with ARM's map form, profiles under properties", () => {
    const uamiId = `/subscriptions/${SUB}/resourcegroups/${RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/u`;
    const nicId = `${RG_ID}/providers/Microsoft.Network/networkInterfaces/nic`;
    const osProfile = {
      computerName: "vmia-vm0",
      adminUsername: "azureuser",
      customData: "I2Nsb3VkLWNvbmZpZw==",
      linuxConfiguration: {
        disablePasswordAuthentication: true,
        ssh: { publicKeys: [{ path: "/home/azureuser/.ssh/authorized_keys", keyData: "ssh-ed25519 AAAA" }] },
      },
    };
    const request = armRequest(
      table("azure-native:compute:VirtualMachine"),
      {
        resourceGroupName: RG,
        location: "eastus",
        hardwareProfile: { vmSize: "Standard_B2s" },
        identity: { type: "SystemAssigned, UserAssigned", userAssignedIdentities: [uamiId] },
        osProfile,
        networkProfile: { networkInterfaces: [{ id: nicId, primary: true }] },
        securityProfile: {
          securityType: "TrustedLaunch",
          uefiSettings: { secureBootEnabled: true, vTpmEnabled: true },
        },
      },
      "vmia-vm0c0ffee00",
      context,
    );
    expect(request).toEqual({
      path: `${RG_ID}/providers/Microsoft.Compute/virtualMachines/vmia-vm0c0ffee00?api-version=2024-11-01`,
      body: {
        location: "eastus",
        identity: { type: "SystemAssigned, UserAssigned", userAssignedIdentities: { [uamiId]: {} } },
        properties: {
          hardwareProfile: { vmSize: "Standard_B2s" },
          osProfile,
          networkProfile: { networkInterfaces: [{ id: nicId, primary: true }] },
          securityProfile: {
            securityType: "TrustedLaunch",
            uefiSettings: { secureBootEnabled: true, vTpmEnabled: true },
          },
        },
      },
    });
  });

  it("VirtualMachine identity: system only has no map; a non-list is refused naming the field", () => {
    expect(armIdentity({ type: "SystemAssigned" })).toEqual({ type: "SystemAssigned" });
    expect(() => armIdentity({ type: "UserAssigned", userAssignedIdentities: "id" })).toThrow(
      'identity.userAssignedIdentities must be a list of identity resource IDs, got "id"',
    );
  });

  it("RoleAssignment: at the scope given, properties carry principal, type and role", () => {
    const roleDefinitionId = `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7`;
    const request = armRequest(
      table("azure-native:authorization:RoleAssignment"),
      {
        scope: RG_ID,
        principalId: "p-1",
        principalType: "ServicePrincipal",
        roleDefinitionId,
        roleAssignmentName: "7f3c9a2e-0000-5000-8000-000000000000",
      },
      "7f3c9a2e-0000-5000-8000-000000000000",
      context,
    );
    expect(request).toEqual({
      path: `${RG_ID}/providers/Microsoft.Authorization/roleAssignments/7f3c9a2e-0000-5000-8000-000000000000?api-version=2022-04-01`,
      body: { properties: { principalId: "p-1", principalType: "ServicePrincipal", roleDefinitionId } },
    });
  });

  it("a missing path parameter is an error naming the input", () => {
    expect(() => armRequest(table("azure-native:network:Subnet"), { resourceGroupName: RG }, "s", context)).toThrow(
      "input virtualNetworkName must be a non-empty string to build the ARM path, got undefined",
    );
    expect(() => armRequest(table("azure-native:authorization:RoleAssignment"), {}, "n", context)).toThrow(
      "input scope must be a resource ID",
    );
  });
});

describe("ARM mapping tables: ARM's answer -> azure-native outputs", () => {
  it("flattens properties to the top level and adds azureApiVersion", () => {
    const outputs = azureNativeOutputs(table("azure-native:managedidentity:UserAssignedIdentity"), {
      id: `/subscriptions/${SUB}/resourcegroups/${RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/u`,
      name: "u",
      type: "Microsoft.ManagedIdentity/userAssignedIdentities",
      location: "eastus",
      properties: { clientId: "c-1", principalId: "p-1", tenantId: "t-1" },
    });
    expect(outputs).toEqual({
      id: `/subscriptions/${SUB}/resourcegroups/${RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/u`,
      name: "u",
      type: "Microsoft.ManagedIdentity/userAssignedIdentities",
      location: "eastus",
      clientId: "c-1",
      principalId: "p-1",
      tenantId: "t-1",
      azureApiVersion: "2023-01-31",
    });
  });

  it("keeps the VM's identity (principalId, tenantId, identity map) and flattens its profiles", () => {
    const identity = {
      type: "SystemAssigned",
      principalId: "sp-1",
      tenantId: "t-1",
    };
    const outputs = azureNativeOutputs(table("azure-native:compute:VirtualMachine"), {
      id: `${RG_ID}/providers/Microsoft.Compute/virtualMachines/vm`,
      name: "vm",
      type: "Microsoft.Compute/virtualMachines",
      location: "eastus",
      identity,
      properties: { vmId: "v-1", provisioningState: "Succeeded", hardwareProfile: { vmSize: "Standard_B2s" } },
    });
    expect(outputs).toEqual({
      id: `${RG_ID}/providers/Microsoft.Compute/virtualMachines/vm`,
      name: "vm",
      type: "Microsoft.Compute/virtualMachines",
      location: "eastus",
      identity,
      vmId: "v-1",
      provisioningState: "Succeeded",
      hardwareProfile: { vmSize: "Standard_B2s" },
      azureApiVersion: "2024-11-01",
    });
  });

  it("flattens inline security rules too; the resource group keeps `properties` nested", () => {
    const nsg = azureNativeOutputs(table("azure-native:network:NetworkSecurityGroup"), {
      id: "nsg-id",
      name: "nsg",
      properties: { securityRules: [{ id: "rule-id", name: "r", properties: { priority: 100 } }] },
    });
    expect(nsg).toEqual({
      id: "nsg-id",
      name: "nsg",
      securityRules: [{ id: "rule-id", name: "r", priority: 100 }],
      azureApiVersion: "2024-05-01",
    });
    const rg = azureNativeOutputs(table("azure-native:resources:ResourceGroup"), {
      id: RG_ID,
      name: RG,
      location: "eastus",
      properties: { provisioningState: "Succeeded" },
    });
    expect(rg).toEqual({
      id: RG_ID,
      name: RG,
      location: "eastus",
      properties: { provisioningState: "Succeeded" },
      azureApiVersion: "2024-03-01",
    });
    expect(() => azureNativeOutputs(table("azure-native:resources:ResourceGroup"), "oops")).toThrow(
      'ARM\'s answer to the azure-native:resources:ResourceGroup PUT is "oops", not a resource object',
    );
  });

  it("autonames like azure-native: logical name + 8 hex characters; role assignments get a GUID", () => {
    const guid = () => "0f1e2d3c-4b5a-4697-8877-665544332211";
    expect(autoname(table("azure-native:resources:ResourceGroup"), "vmia-rg", guid)).toBe("vmia-rg0f1e2d3c");
    expect(autoname(table("azure-native:authorization:RoleAssignment"), "x", guid)).toBe(guid());
    // A run command is a child of a named VM: azure-native copies the logical name.
    expect(autoname(table("azure-native:compute:VirtualMachineRunCommandByVirtualMachine"), "probe-0", guid)).toBe(
      "probe-0",
    );
  });

  it("a subnet with a NAT gateway, and a NIC with no public IP, go to ARM as references under properties", () => {
    const context = { subscriptionId: "s" };
    const natId = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/natGateways/nat";
    expect(
      armRequest(
        table("azure-native:network:Subnet"),
        {
          resourceGroupName: "rg",
          virtualNetworkName: "vnet",
          addressPrefix: "10.0.1.0/24",
          natGateway: { id: natId },
        },
        "default",
        context,
      ).body,
    ).toEqual({ properties: { addressPrefix: "10.0.1.0/24", natGateway: { id: natId } } });
    const subnetId =
      "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet/subnets/default";
    expect(
      armRequest(
        table("azure-native:network:NetworkInterface"),
        {
          resourceGroupName: "rg",
          location: "eastus",
          ipConfigurations: [{ name: "ipconfig1", subnet: { id: subnetId }, privateIPAllocationMethod: "Dynamic" }],
        },
        "nic0",
        context,
      ).body,
    ).toEqual({
      location: "eastus",
      properties: {
        ipConfigurations: [
          { name: "ipconfig1", properties: { subnet: { id: subnetId }, privateIPAllocationMethod: "Dynamic" } },
        ],
      },
    });
  });

  it("a run command's and a VM's getter send expand as $expand; the others only the api-version", () => {
    const runCommand = table("azure-native:compute:VirtualMachineRunCommandByVirtualMachine");
    expect(getterQuery(runCommand, { expand: "instanceView" })).toBe("api-version=2024-11-01&$expand=instanceView");
    expect(getterQuery(runCommand, {})).toBe("api-version=2024-11-01");
    expect(getterQuery(table("azure-native:compute:VirtualMachine"), { expand: "userData" })).toBe(
      "api-version=2024-11-01&$expand=userData",
    );
    expect(getterQuery(table("azure-native:resources:ResourceGroup"), { expand: "x" })).toBe("api-version=2024-03-01");
  });
});
