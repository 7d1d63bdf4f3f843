import { randomUUID } from "node:crypto";
import { AuthorizationManagementClient } from "@azure/arm-authorization";
import { ComputeManagementClient } from "@azure/arm-compute-v25";
import { ManagedServiceIdentityClient } from "@azure/arm-msi";
import { NetworkManagementClient } from "@azure/arm-network-v39";
import { ResourceManagementClient } from "@azure/arm-resources-v8";
import type { AccessToken, GetTokenOptions, TokenCredential } from "@azure/core-auth";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalAzure, type SeededVm, seedVm } from "../../local-azure/index";
import { generatePrivateKey } from "../../local-azure/tlsKeys";
import { all, deployerCredential, FAST_FAULTS, failure, POLL } from "./support/arm";
import { claimsOf } from "./support/identity";

/**
 * The newest majors of Microsoft's management SDKs for JavaScript, generated from TypeSpec
 * (@azure/arm-resources 8, @azure/arm-network 39, @azure/arm-compute 25), as a user gets them from
 * today's `npm install` and uses them with nothing but `endpoint` and the CA: they ignore
 * `credentialScopes` and ask for https://management.azure.com/.default, which Local Azure's Entra and
 * IMDS issue and its ARM accepts (issue 19, point 2). @azure/arm-msi 2 and @azure/arm-authorization 9
 * are already their newest majors (classic clients, whose default scope is `{endpoint}/.default`).
 * The pinned majors are driven the same way by arm-deployer.test.ts and arm-reader.test.ts.
 */

const PUBLIC_ARM_SCOPE = "https://management.azure.com/.default";
const READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
const RG = "newest-rg";

let azure: LocalAzure;
let sibling: SeededVm;
const asked: string[] = [];

beforeAll(async () => {
  azure = await LocalAzure.start({ faults: FAST_FAULTS });
  sibling = await seedVm(azure, { identity: "user", grant: false, resourceGroup: "newest-sibling", vmName: "sibling" });
});
afterAll(() => azure.stop());

/** The deployer's ClientSecretCredential, noting each scope a client asks it for. */
function recordingDeployer(): TokenCredential {
  const inner = deployerCredential(azure);
  return {
    getToken(scopes: string | string[], options?: GetTokenOptions) {
      asked.push(...[scopes].flat());
      return inner.getToken(scopes, options);
    },
  };
}

/**
 * A VM identity's credential as @azure/identity's ManagedIdentityCredential builds it on a VM: the
 * scope without "/.default" is IMDS's `resource`.
 */
function imdsCredential(imdsEndpoint: string, clientId: string): TokenCredential {
  return {
    async getToken(scopes: string | string[]): Promise<AccessToken> {
      const resource = [scopes].flat()[0].replace(/\/\.default$/, "");
      const response = await fetch(
        `${imdsEndpoint}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=${encodeURIComponent(resource)}&client_id=${clientId}`,
        { headers: { Metadata: "true" } },
      );
      const body = (await response.json()) as { access_token: string; expires_on: string };
      return { token: body.access_token, expiresOnTimestamp: Number(body.expires_on) * 1000 };
    },
  };
}

/** The options a user passes: the endpoint and the CA, no scopes. */
const defaults = () => ({ endpoint: azure.armEndpoint, tlsOptions: { ca: azure.caCertPem } });

describe("the newest SDK majors with their default scopes (TypeSpec-generated clients)", () => {
  let vmId: string;
  let identity: { id: string; principalId: string; clientId: string };
  let imdsEndpoint: string;

  it("ask for https://management.azure.com/.default, and Local Azure's Entra and ARM take it", async () => {
    const credential = recordingDeployer();
    const resources = new ResourceManagementClient(credential, azure.subscriptionId, defaults());
    const group = await resources.resourceGroups.createOrUpdate(RG, { location: azure.location });
    expect(group).toMatchObject({ name: RG, location: azure.location });
    expect([...new Set(asked)]).toEqual([PUBLIC_ARM_SCOPE]);
    expect(claimsOf((await credential.getToken(PUBLIC_ARM_SCOPE))?.token ?? "").aud).toBe(
      "https://management.azure.com",
    );
  });

  it("deploy the stack's resource types: network, identity, a VM with it, and Reader on the group", async () => {
    const credential = recordingDeployer();
    const network = new NetworkManagementClient(credential, azure.subscriptionId, defaults());
    const compute = new ComputeManagementClient(credential, azure.subscriptionId, defaults());
    const msi = new ManagedServiceIdentityClient(credential, azure.subscriptionId, defaults());
    const authorization = new AuthorizationManagementClient(credential, azure.subscriptionId, defaults());

    const vnet = await network.virtualNetworks.createOrUpdate(
      RG,
      "vnet",
      {
        location: azure.location,
        addressSpace: { addressPrefixes: ["10.0.0.0/16"] },
        subnets: [{ name: "default", addressPrefix: "10.0.1.0/24" }],
      },
      POLL,
    );
    expect(vnet.subnets?.map((s) => s.name)).toEqual(["default"]);
    const nsg = await network.networkSecurityGroups.createOrUpdate(
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
    const ip = await network.publicIPAddresses.createOrUpdate(
      RG,
      "ip",
      { location: azure.location, sku: { name: "Standard" }, publicIPAllocationMethod: "Static" },
      POLL,
    );
    const nic = await network.networkInterfaces.createOrUpdate(
      RG,
      "nic",
      {
        location: azure.location,
        networkSecurityGroup: { id: nsg.id },
        ipConfigurations: [{ name: "primary", subnet: { id: vnet.subnets?.[0]?.id }, publicIPAddress: { id: ip.id } }],
      },
      POLL,
    );
    expect(nic.provisioningState).toBe("Succeeded");
    const created = await msi.userAssignedIdentities.createOrUpdate(RG, "id", { location: azure.location });
    identity = { id: String(created.id), principalId: String(created.principalId), clientId: String(created.clientId) };

    const sshKey = generatePrivateKey("ED25519").publicKeyOpenssh.trim();
    const vm = await compute.virtualMachines.createOrUpdate(
      RG,
      "vm",
      {
        location: azure.location,
        identity: { type: "UserAssigned", userAssignedIdentities: { [identity.id]: {} } },
        hardwareProfile: { vmSize: "Standard_B2s" },
        osProfile: {
          computerName: "vm",
          adminUsername: "azureuser",
          linuxConfiguration: {
            disablePasswordAuthentication: true,
            ssh: { publicKeys: [{ path: "/home/azureuser/.ssh/authorized_keys", keyData: sshKey }] },
          },
        },
        networkProfile: { networkInterfaces: [{ id: nic.id, primary: true }] },
      },
      POLL,
    );
    expect([vm.provisioningState, vm.identity?.userAssignedIdentities?.[identity.id]?.principalId]).toEqual([
      "Succeeded",
      identity.principalId,
    ]);
    vmId = String(vm.id);
    expect((await all(compute.virtualMachines.list(RG))).map((v) => v.name)).toEqual(["vm"]);

    const scope = `/subscriptions/${azure.subscriptionId}/resourceGroups/${RG}`;
    const assignment = await authorization.roleAssignments.create(scope, randomUUID(), {
      roleDefinitionId: `/subscriptions/${azure.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${READER}`,
      principalId: identity.principalId,
      principalType: "ServicePrincipal",
    });
    expect(assignment.scope).toBe(scope);
    // Each TypeSpec client asked for the public cloud's scope; the classic ones for {endpoint}/.default.
    expect([...new Set(asked)].sort()).toEqual([`${azure.armEndpoint}/.default`, PUBLIC_ARM_SCOPE]);
    imdsEndpoint = String(azure.vmRuntime(vmId)?.imdsEndpoint);
  });

  it("let the VM's identity, signed in through IMDS with the default scope, read its group and not the sibling's", async () => {
    const credential = imdsCredential(imdsEndpoint, identity.clientId);
    const resources = new ResourceManagementClient(credential, azure.subscriptionId, defaults());
    expect((await resources.resourceGroups.get(RG)).name).toBe(RG);
    expect((await all(resources.resources.listByResourceGroup(RG))).map((r) => r.name).sort()).toEqual([
      "id",
      "ip",
      "nic",
      "nsg",
      "vm",
      "vnet",
    ]);
    expect(await failure(resources.resourceGroups.get(sibling.resourceGroup))).toEqual([403, "AuthorizationFailed"]);
    const compute = new ComputeManagementClient(credential, azure.subscriptionId, defaults());
    expect(await failure(compute.virtualMachines.delete(RG, "vm", POLL))).toEqual([403, "AuthorizationFailed"]);
  });

  it("delete what they deployed, dependents first, through their pollers", async () => {
    const credential = recordingDeployer();
    const network = new NetworkManagementClient(credential, azure.subscriptionId, defaults());
    const compute = new ComputeManagementClient(credential, azure.subscriptionId, defaults());
    expect(await failure(network.networkInterfaces.delete(RG, "nic", POLL))).toEqual([400, "NicInUse"]);
    await compute.virtualMachines.delete(RG, "vm", POLL);
    for (const [operations, name] of [
      [network.networkInterfaces, "nic"],
      [network.publicIPAddresses, "ip"],
      [network.networkSecurityGroups, "nsg"],
      [network.virtualNetworks, "vnet"],
    ] as const) {
      await operations.delete(RG, name, POLL);
    }
    const resources = new ResourceManagementClient(credential, azure.subscriptionId, defaults());
    expect((await all(resources.resources.listByResourceGroup(RG))).map((r) => r.name)).toEqual(["id"]);
    expect(azure.vmRuntime(vmId)).toBeUndefined();
  });
});
