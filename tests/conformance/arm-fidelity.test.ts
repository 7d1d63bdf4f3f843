import { ComputeManagementClient } from "@azure/arm-compute";
import { NetworkManagementClient as Network36 } from "@azure/arm-network";
import { NetworkManagementClient as Network39 } from "@azure/arm-network-v39";
import { ResourceManagementClient as Resources7 } from "@azure/arm-resources";
import { ResourceManagementClient as Resources8 } from "@azure/arm-resources-v8";
import type { PipelineResponse } from "@azure/core-rest-pipeline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MICROSOFT_RESOURCES_API_VERSIONS } from "../../local-azure/arm/apiVersions";
import { LocalAzure, type SeededVm, seedVm } from "../../local-azure/index";
import { clientOptions, deployerCredential, FAST_FAULTS, identityCredential, POLL, refusal } from "./support/arm";

/**
 * Local Azure refuses what ARM refuses and answers with what ARM derives, as Microsoft's management
 * SDKs meet it, the pinned majors (@azure/arm-resources 7, @azure/arm-network 36) and the newest
 * (8, 39): the RestError's status, code and message for an unknown namespace, type or api-version; a
 * long-running delete that reads Deleting while the SDK's poller runs, then 404; the request IDs on
 * every answer; the read-only back-references a network resource carries; NAT gateways.
 * Sources are in local-azure/arm/apiVersions.ts, http.ts, providers/network.ts and docs/local-azure.md.
 */

let azure: LocalAzure;
let seeded: SeededVm;
const RG = "fidelity-rg";

beforeAll(async () => {
  azure = await LocalAzure.start({ faults: FAST_FAULTS });
  seeded = await seedVm(azure, { identity: "user", resourceGroup: RG, vmName: "fid" });
});
afterAll(() => azure.stop());

const ids = () => {
  const net = `${seeded.resourceGroupId}/providers/Microsoft.Network`;
  return {
    net,
    nic: `${net}/networkInterfaces/fid-nic`,
    pip: `${net}/publicIPAddresses/fid-ip`,
    subnet: `${net}/virtualNetworks/fid-vnet/subnets/default`,
    ipConfiguration: `${net}/networkInterfaces/fid-nic/ipConfigurations/primary`,
  };
};

/** Both generations of the resources client, as the deployer, pointed at Local Azure. */
const resourceClients = () =>
  [
    ["@azure/arm-resources 7", new Resources7(deployerCredential(azure), azure.subscriptionId, clientOptions(azure))],
    ["@azure/arm-resources 8", new Resources8(deployerCredential(azure), azure.subscriptionId, clientOptions(azure))],
  ] as const;

describe("unknown namespaces, types and api-versions: ARM's refusals (resources.getById)", () => {
  it.each([0, 1])(
    "client %#: a regional type without that version: 400 NoRegisteredProviderFound, its versions and locations",
    async (index) => {
      const [, client] = resourceClients()[index];
      const refused = await refusal(client.resources.getById(ids().nic, "2015-06-15"));
      expect([refused.statusCode, refused.code, refused.message]).toEqual([
        400,
        "NoRegisteredProviderFound",
        `No registered resource provider found for location '${azure.location}' and API version '2015-06-15' for type 'networkInterfaces'. The supported api-versions are '2022-01-01, 2023-11-01, 2024-05-01, 2025-05-01, 2026-01-01'. The supported locations are '${azure.location}'.`,
      ]);
    },
  );

  it.each([0, 1])("client %#: a namespace ARM does not have: 404 InvalidResourceNamespace", async (index) => {
    const [, client] = resourceClients()[index];
    const refused = await refusal(
      client.resources.getById(`${seeded.resourceGroupId}/providers/Microsoft.Nothing/things/one`, "2024-01-01"),
    );
    expect([refused.statusCode, refused.code, refused.message]).toEqual([
      404,
      "InvalidResourceNamespace",
      "The resource namespace 'Microsoft.Nothing' is invalid.",
    ]);
  });

  it.each([0, 1])("client %#: a type the namespace does not have: 404 InvalidResourceType", async (index) => {
    const [, client] = resourceClients()[index];
    const refused = await refusal(client.resources.getById(`${ids().net}/wormholes/one`, "2024-05-01"));
    expect([refused.statusCode, refused.code, refused.message]).toEqual([
      404,
      "InvalidResourceType",
      "The resource type 'wormholes' could not be found in the namespace 'Microsoft.Network' for api version '2024-05-01'.",
    ]);
  });

  it.each([0, 1])(
    "client %#: a global type without that version: 404 InvalidResourceType with its versions",
    async (index) => {
      const [, client] = resourceClients()[index];
      const assignment = `${seeded.resourceGroupId}/providers/Microsoft.Authorization/roleAssignments/00000000-0000-4000-8000-000000000001`;
      const refused = await refusal(client.resources.getById(assignment, "2015-07-01"));
      expect([refused.statusCode, refused.code, refused.message]).toEqual([
        404,
        "InvalidResourceType",
        "The resource type 'roleAssignments' could not be found in the namespace 'Microsoft.Authorization' for api version '2015-07-01'. The supported api-versions are '2022-04-01'.",
      ]);
    },
  );

  it.each([0, 1])(
    "client %#: ARM's own types at another version: 400 InvalidApiVersionParameter, ARM's versions newest first",
    async (index) => {
      const [, client] = resourceClients()[index];
      const refused = await refusal(client.resources.getById(seeded.resourceGroupId, "2099-01-01"));
      expect([refused.statusCode, refused.code, refused.message]).toEqual([
        400,
        "InvalidApiVersionParameter",
        `The api-version '2099-01-01' is invalid. The supported versions are '${MICROSOFT_RESOURCES_API_VERSIONS.join(",")}'.`,
      ]);
    },
  );

  it.each([0, 1])(
    "client %#: the versions listed are the ones served: each of networkInterfaces' reads the NIC",
    async (index) => {
      const [, client] = resourceClients()[index];
      const provider = await client.providers.get("Microsoft.Network");
      const versions = provider.resourceTypes?.find((t) => t.resourceType === "networkInterfaces")?.apiVersions ?? [];
      expect(versions).toEqual(["2026-01-01", "2025-05-01", "2024-05-01", "2023-11-01", "2022-01-01"]);
      for (const version of versions) expect((await client.resources.getById(ids().nic, version)).id).toBe(ids().nic);
    },
  );
});

describe("the request IDs on every answer (x-ms-request-id, x-ms-correlation-request-id)", () => {
  const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

  it.each([0, 1])(
    "client %#: a new request ID each time, the correlation ID the same unless the client sends one",
    async (index) => {
      const [, client] = resourceClients()[index];
      const seen: PipelineResponse[] = [];
      const onResponse = (raw: { headers: PipelineResponse["headers"] }) => seen.push(raw as PipelineResponse);
      await client.resourceGroups.get(RG, { onResponse });
      // The classic clients take extra headers as customHeaders, the TypeSpec ones as headers.
      const correlation = { "x-ms-correlation-request-id": "0f0f0f0f-1111-4222-8333-444455556666" };
      await client.resourceGroups.get(RG, {
        onResponse,
        requestOptions: index === 0 ? { customHeaders: correlation } : { headers: correlation },
      } as object);
      const [first, second] = seen.map((raw) => ({
        request: raw.headers.get("x-ms-request-id"),
        correlation: raw.headers.get("x-ms-correlation-request-id"),
        routing: raw.headers.get("x-ms-routing-request-id"),
        client: raw.headers.get("x-ms-client-request-id"),
      }));
      expect(first.request).toMatch(GUID);
      expect(first.correlation).toBe(first.request);
      expect(first.routing).toMatch(new RegExp(`^${azure.location.toUpperCase()}:\\d{8}T\\d{6}Z:${first.request}$`));
      // The SDK sends x-ms-client-request-id without x-ms-return-client-request-id: ARM does not echo it.
      expect(first.client).toBeUndefined();
      expect(second.request).toMatch(GUID);
      expect(second.request).not.toBe(first.request);
      expect(second.correlation).toBe("0f0f0f0f-1111-4222-8333-444455556666");
    },
  );

  it("echoes the client's x-ms-client-request-id when asked to (x-ms-return-client-request-id: true)", async () => {
    const [, client] = resourceClients()[0];
    let raw: PipelineResponse | undefined;
    await client.resourceGroups.get(RG, {
      onResponse: (response) => {
        raw = response as PipelineResponse;
      },
      requestOptions: { customHeaders: { "x-ms-return-client-request-id": "true" } },
    });
    expect(raw?.headers.get("x-ms-client-request-id")).toBe(raw?.request.requestId);
  });

  it("a refusal carries them too: RestError.response.headers", async () => {
    const refused = await refusal(resourceClients()[1][1].resourceGroups.get("no-such-group"));
    expect(refused.statusCode).toBe(404);
    expect(refused.response?.headers.get("x-ms-request-id")).toMatch(GUID);
    expect(refused.response?.headers.get("x-ms-correlation-request-id")).toBe(
      refused.response?.headers.get("x-ms-request-id"),
    );
  });
});

/** Both generations of the network client, as the deployer. */
const networkClients = () =>
  [
    ["@azure/arm-network 36", new Network36(deployerCredential(azure), azure.subscriptionId, clientOptions(azure))],
    ["@azure/arm-network 39", new Network39(deployerCredential(azure), azure.subscriptionId, clientOptions(azure))],
  ] as const;

describe("long-running deletes go through Deleting (the SDK's poller, then 404)", () => {
  /** A NIC of its own in the seeded subnet, to delete. */
  async function spareNic(client: Network36 | Network39, name: string) {
    const created = await (client as Network36).networkInterfaces.beginCreateOrUpdateAndWait(
      RG,
      name,
      { location: azure.location, ipConfigurations: [{ name: "primary", subnet: { id: ids().subnet } }] },
      POLL,
    );
    return String(created.id);
  }

  it.each([0, 1])(
    "network client %#: the NIC reads Deleting while the delete runs, then ResourceNotFound",
    async (index) => {
      const [, client] = networkClients()[index];
      await spareNic(client, `spare-${index}`);
      // The operation runs as long as lroSeconds says when asked: long now, so the poller sees it running.
      azure.faults.lroSeconds = 3600;
      try {
        const poller = await (client as Network36).networkInterfaces.beginDelete(RG, `spare-${index}`, POLL);
        expect(poller.isDone()).toBe(false);
        expect((await client.networkInterfaces.get(RG, `spare-${index}`)).provisioningState).toBe("Deleting");
        await poller.poll();
        expect(poller.isDone()).toBe(false);
        azure.faults.lroSeconds = 0;
        await poller.poll();
        expect(poller.isDone()).toBe(true);
      } finally {
        azure.faults.lroSeconds = 0;
      }
      const gone = await refusal(client.networkInterfaces.get(RG, `spare-${index}`));
      expect([gone.statusCode, gone.code]).toEqual([404, "ResourceNotFound"]);
    },
  );

  it("a resource group reads Deleting with what it holds, refuses writes (409 ResourceGroupBeingDeleted), then is gone", async () => {
    const group = await seedVm(azure, { identity: "user", resourceGroup: "doomed-rg", vmName: "doomed" });
    const resources = resourceClients()[0][1] as Resources7;
    const net = networkClients()[0][1] as Network36;
    azure.faults.lroSeconds = 3600;
    try {
      const poller = await resources.resourceGroups.beginDelete("doomed-rg", POLL);
      expect((await resources.resourceGroups.get("doomed-rg")).properties?.provisioningState).toBe("Deleting");
      expect((await net.networkInterfaces.get("doomed-rg", "doomed-nic")).provisioningState).toBe("Deleting");
      const refused = await refusal(
        net.publicIPAddresses.beginCreateOrUpdateAndWait("doomed-rg", "late-ip", { location: azure.location }, POLL),
      );
      expect([refused.statusCode, refused.code, refused.message]).toEqual([
        409,
        "ResourceGroupBeingDeleted",
        "The resource group 'doomed-rg' is in deprovisioning state and cannot perform this operation.",
      ]);
      azure.faults.lroSeconds = 0;
      await poller.pollUntilDone();
    } finally {
      azure.faults.lroSeconds = 0;
    }
    expect(await refusal(resources.resourceGroups.get("doomed-rg"))).toMatchObject({
      statusCode: 404,
      code: "ResourceGroupNotFound",
    });
    expect(azure.vmIds().map((id) => id.toLowerCase())).not.toContain(group.vmId.toLowerCase());
  });

  it("a deleted group's role assignments are revoked as any deleted assignment: they lag as the revocation fault says", async () => {
    const group = await seedVm(azure, { identity: "user", resourceGroup: "revoked-rg", vmName: "revoked" });
    const asIdentity = new Resources7(
      identityCredential(azure, String(group.userIdentity?.principalId)),
      azure.subscriptionId,
      clientOptions(azure),
    );
    expect((await asIdentity.resourceGroups.get("revoked-rg")).name).toBe("revoked-rg");
    await (resourceClients()[0][1] as Resources7).resourceGroups.beginDeleteAndWait("revoked-rg", POLL);
    // The next request only the deleted Reader assignment authorizes still passes: the group is gone (404).
    azure.faults.revocationLag.count = 1;
    expect(await refusal(asIdentity.resourceGroups.get("revoked-rg"))).toMatchObject({
      statusCode: 404,
      code: "ResourceGroupNotFound",
    });
    // Then the revocation has reached ARM: the same read is refused.
    expect(await refusal(asIdentity.resourceGroups.get("revoked-rg"))).toMatchObject({
      statusCode: 403,
      code: "AuthorizationFailed",
    });
  });
});

describe("the read-only back-references ARM derives, as they are made and removed", () => {
  it.each([0, 1])(
    "network client %#: a NIC names its VM, its public IP names the ipConfiguration, the subnet lists it",
    async (index) => {
      const [, client] = networkClients()[index];
      const nic = await client.networkInterfaces.get(RG, "fid-nic");
      expect(nic.virtualMachine?.id).toBe(seeded.vmId);
      expect(nic.ipConfigurations?.[0]).toMatchObject({
        id: ids().ipConfiguration,
        privateIPAddress: "10.0.1.4",
        privateIPAllocationMethod: "Dynamic",
        primary: true,
      });
      expect((await client.publicIPAddresses.get(RG, "fid-ip")).ipConfiguration?.id).toBe(ids().ipConfiguration);
      const subnet = await client.subnets.get(RG, "fid-vnet", "default");
      expect(subnet.ipConfigurations?.map((config) => config.id)).toEqual([ids().ipConfiguration]);
    },
  );

  it("an NSG lists the NICs and subnets it is on; detaching the public IP and deleting the VM drop theirs", async () => {
    const net = networkClients()[0][1] as Network36;
    const newest = networkClients()[1][1] as Network39;
    const nsg = await net.networkSecurityGroups.beginCreateOrUpdateAndWait(
      RG,
      "fid-nsg",
      { location: azure.location },
      POLL,
    );
    const second = await net.subnets.beginCreateOrUpdateAndWait(
      RG,
      "fid-vnet",
      "second",
      { addressPrefix: "10.0.2.0/24", networkSecurityGroup: { id: nsg.id } },
      POLL,
    );
    const nic = await net.networkInterfaces.get(RG, "fid-nic");
    await net.networkInterfaces.beginCreateOrUpdateAndWait(
      RG,
      "fid-nic",
      {
        location: azure.location,
        networkSecurityGroup: { id: nsg.id },
        ipConfigurations: [{ name: "primary", subnet: { id: ids().subnet } }],
      },
      POLL,
    );
    const attached = await newest.networkSecurityGroups.get(RG, "fid-nsg");
    expect(attached.networkInterfaces?.map((n) => n.id)).toEqual([ids().nic]);
    expect(attached.subnets?.map((s) => s.id)).toEqual([second.id]);
    // The public IP left the NIC: it names no ipConfiguration any more; the NIC kept its address.
    expect((await newest.publicIPAddresses.get(RG, "fid-ip")).ipConfiguration).toBeUndefined();
    expect((await newest.networkInterfaces.get(RG, "fid-nic")).ipConfigurations?.[0].privateIPAddress).toBe(
      nic.ipConfigurations?.[0].privateIPAddress,
    );
    const compute = new ComputeManagementClient(deployerCredential(azure), azure.subscriptionId, clientOptions(azure));
    await compute.virtualMachines.beginDeleteAndWait(RG, "fid", POLL);
    expect((await newest.networkInterfaces.get(RG, "fid-nic")).virtualMachine).toBeUndefined();
  });
});

describe("NAT gateways (Microsoft.Network/natGateways) and a subnet's natGateway", () => {
  const standardIp = (client: Network36, name: string) =>
    client.publicIPAddresses.beginCreateOrUpdateAndWait(
      RG,
      name,
      { location: azure.location, sku: { name: "Standard" }, publicIPAllocationMethod: "Static" },
      POLL,
    );

  it("a NAT gateway with its own Standard static IP, on a subnet whose NIC has no public IP: each names the other", async () => {
    const net = networkClients()[0][1] as Network36;
    const newest = networkClients()[1][1] as Network39;
    const ip = await standardIp(net, "nat-ip");
    const nat = await newest.natGateways.createOrUpdate(
      RG,
      "fid-nat",
      { location: azure.location, sku: { name: "Standard" }, publicIpAddresses: [{ id: ip.id }] },
      POLL,
    );
    expect(nat).toMatchObject({ sku: { name: "Standard" }, idleTimeoutInMinutes: 4, provisioningState: "Succeeded" });
    const subnet = await net.subnets.beginCreateOrUpdateAndWait(
      RG,
      "fid-vnet",
      "private",
      { addressPrefix: "10.0.3.0/24", natGateway: { id: nat.id } },
      POLL,
    );
    const nic = await newest.networkInterfaces.createOrUpdate(
      RG,
      "private-nic",
      { location: azure.location, ipConfigurations: [{ name: "primary", subnet: { id: subnet.id } }] },
      POLL,
    );
    expect(nic.ipConfigurations?.[0]).toMatchObject({ privateIPAddress: "10.0.3.4" });
    expect(nic.ipConfigurations?.[0].publicIPAddress).toBeUndefined();
    expect((await net.natGateways.get(RG, "fid-nat")).subnets?.map((s) => s.id)).toEqual([subnet.id]);
    expect((await net.publicIPAddresses.get(RG, "nat-ip")).natGateway?.id).toBe(nat.id);
    expect((await newest.subnets.get(RG, "fid-vnet", "private")).natGateway?.id).toBe(nat.id);
  });

  it.each([0, 1])(
    "network client %#: deleting a NAT gateway a subnet still uses is refused as ARM refuses it",
    async (index) => {
      const [, client] = networkClients()[index];
      const nat = await client.natGateways.get(RG, "fid-nat");
      const refused = await refusal((client as Network36).natGateways.beginDeleteAndWait(RG, "fid-nat", POLL));
      expect([refused.statusCode, refused.code, refused.message]).toEqual([
        400,
        "CannotDeleteNatGatewayAssociatedToSubnet",
        `NAT Gateway ${nat.id} is still configured on 1 subnets. Remove NAT Gateway from all referenced subnets and then delete NAT Gateway.`,
      ]);
    },
  );

  it("a public IP a NIC holds cannot also be a NAT gateway's: 400 PublicIPAddressInUse", async () => {
    const net = networkClients()[0][1] as Network36;
    const held = await standardIp(net, "held-ip");
    await net.networkInterfaces.beginCreateOrUpdateAndWait(
      RG,
      "holder-nic",
      {
        location: azure.location,
        ipConfigurations: [{ name: "primary", subnet: { id: ids().subnet }, publicIPAddress: { id: held.id } }],
      },
      POLL,
    );
    const natId = `${ids().net}/natGateways/greedy-nat`;
    const refused = await refusal(
      net.natGateways.beginCreateOrUpdateAndWait(
        RG,
        "greedy-nat",
        { location: azure.location, sku: { name: "Standard" }, publicIpAddresses: [{ id: held.id }] },
        POLL,
      ),
    );
    expect([refused.statusCode, refused.code, refused.message]).toEqual([
      400,
      "PublicIPAddressInUse",
      `Resource ${natId} is referencing public IP address ${held.id} that is already allocated to resource ${ids().net}/networkInterfaces/holder-nic/ipConfigurations/primary.`,
    ]);
  });

  it("a NAT gateway takes Standard static public IPs only, and a subnet's natGateway must name one", async () => {
    const net = networkClients()[0][1] as Network36;
    const basic = await net.publicIPAddresses.beginCreateOrUpdateAndWait(
      RG,
      "basic-ip",
      { location: azure.location, sku: { name: "Basic" }, publicIPAllocationMethod: "Dynamic" },
      POLL,
    );
    const refused = await refusal(
      net.natGateways.beginCreateOrUpdateAndWait(
        RG,
        "basic-nat",
        { location: azure.location, publicIpAddresses: [{ id: basic.id }] },
        POLL,
      ),
    );
    expect([refused.statusCode, refused.code]).toEqual([400, "PublicIpAddressNotCompatibleWithNatGateway"]);
    const missing = `${ids().net}/natGateways/no-such-nat`;
    const dangling = await refusal(
      net.subnets.beginCreateOrUpdateAndWait(
        RG,
        "fid-vnet",
        "dangling",
        { addressPrefix: "10.0.4.0/24", natGateway: { id: missing } },
        POLL,
      ),
    );
    expect([dangling.statusCode, dangling.code, dangling.message]).toEqual([
      400,
      "InvalidResourceReference",
      `Resource ${missing} referenced by resource ${ids().net}/virtualNetworks/fid-vnet/subnets/dangling was not found. Please make sure that the referenced resource exists, and that both resources are in the same region.`,
    ]);
  });
});
