import { request as httpsRequest } from "node:https";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ArmClient } from "../../local-azure/armClient";
import { LocalAzure, type SeededVm, seedVm } from "../../local-azure/index";
import { untilRefused } from "./runCommandSupport";

/**
 * Local Azure's ARM refusing what ARM refuses and deriving what ARM derives, over the wire, where no
 * Microsoft client surfaces it (tests/conformance/arm-fidelity.test.ts drives the SDKs): the missing
 * api-version, an action's version, writes to unknown namespaces, the request IDs on answers no SDK
 * parses, a delete's operation and the revocation of a deleted group's assignments, and references
 * sent back or left empty.
 */

let azure: LocalAzure;
let seeded: SeededVm;

beforeAll(async () => {
  azure = await LocalAzure.start({
    faults: { rbacDelaySeconds: 0, identityAttachDelaySeconds: 0, sshNotReadySeconds: 0, lroSeconds: 0 },
  });
  seeded = await seedVm(azure, { identity: "user", resourceGroup: "fidelity", vmName: "vm" });
});
afterAll(() => azure.stop());

/** A PUT whose body is sent as given (the ARM client sends JSON only). */
function rawPut(path: string, body: string, headers: Record<string, string>) {
  return new Promise<{ status: number; headers: Record<string, unknown> }>((resolve, reject) => {
    const req = httpsRequest(
      `${azure.armEndpoint}${path}`,
      { method: "PUT", ca: azure.caCertPem, headers: { "content-type": "application/json", ...headers } },
      (res) => {
        res.resume();
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

const net = () => `${seeded.resourceGroupId}/providers/Microsoft.Network`;
const error = (body: unknown) => (body as { error?: { code?: string; message?: string } }).error;

describe("api-versions and namespaces", () => {
  it("refuses a request without api-version with ARM's 400, before any type is looked at", async () => {
    const answer = await azure.arm.request("GET", `${net()}/networkInterfaces/vm-nic`);
    expect([answer.status, error(answer.body)]).toEqual([
      400,
      {
        code: "MissingApiVersionParameter",
        message: "The api-version query parameter (?api-version=) is required for all requests.",
      },
    ]);
  });

  it("stores nothing under a namespace ARM does not have (a PUT that used to be accepted with 201)", async () => {
    const path = `${seeded.resourceGroupId}/providers/Contoso.Widgets/widgets/one?api-version=2024-01-01`;
    const answer = await azure.arm.request("PUT", path, { location: azure.location });
    expect([answer.status, error(answer.body)?.code]).toEqual([404, "InvalidResourceNamespace"]);
    expect(
      (await azure.arm.request("GET", `${seeded.resourceGroupId}/resources?api-version=2021-04-01`)).body,
    ).not.toMatchObject({
      value: expect.arrayContaining([expect.objectContaining({ type: "Contoso.Widgets/widgets" })]),
    });
  });

  it("checks an action against its resource type's versions (POST {vm}/{action}), naming the VM's location", async () => {
    const answer = await azure.arm.request("POST", `${seeded.vmId}/restart?api-version=2015-06-15`);
    expect([answer.status, error(answer.body)]).toEqual([
      400,
      {
        code: "NoRegisteredProviderFound",
        message: `No registered resource provider found for location '${azure.location}' and API version '2015-06-15' for type 'virtualMachines'. The supported api-versions are '2022-11-01, 2024-11-01, 2025-11-01, 2026-03-01, 2026-04-01'. The supported locations are '${azure.location}'.`,
      },
    ]);
  });

  it("names the location a PUT asks for", async () => {
    const answer = await azure.arm.request("PUT", `${net()}/publicIPAddresses/far?api-version=2019-02-01`, {
      location: "West Europe",
    });
    expect(error(answer.body)?.message).toMatch(/^No registered resource provider found for location 'westeurope' /);
  });
});

describe("request IDs on answers no SDK parses", () => {
  it("an anonymous /metadata/endpoints, a 401 and an unreadable body carry x-ms-request-id and the correlation ID", async () => {
    const anonymous = new ArmClient(azure.armEndpoint, azure.caCertPem, async () => "");
    const answers = [
      await anonymous.request("GET", "/metadata/endpoints?api-version=2022-09-01"),
      await anonymous.request("GET", `${seeded.resourceGroupId}?api-version=2021-04-01`),
    ];
    expect(answers.map((a) => a.status)).toEqual([200, 401]);
    for (const answer of answers) {
      expect(answer.headers["x-ms-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
      expect(answer.headers["x-ms-correlation-request-id"]).toBe(answer.headers["x-ms-request-id"]);
    }
    // A body that is not JSON: ARM's 400 InvalidRequestContent, with the client's correlation ID kept.
    const unreadable = await rawPut(`${seeded.resourceGroupId}?api-version=2021-04-01`, "{not json", {
      "x-ms-correlation-request-id": "corr-unreadable",
    });
    expect(unreadable.status).toBe(400);
    expect(unreadable.headers["x-ms-correlation-request-id"]).toBe("corr-unreadable");
    expect(unreadable.headers["x-ms-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
  });
});

const armRequests = () => azure.requestLog.filter((entry) => entry.service === "arm").length;

describe("long-running deletes: the operation, and the group's role assignments", () => {
  it("a delete nobody polls ends on its own when its operation does: the VM's IMDS closes with no ARM request after the DELETE", async () => {
    const own = await seedVm(azure, { identity: "system", grant: false, resourceGroup: "unpolled", vmName: "quiet" });
    const imds = String(azure.vmRuntime(own.vmId)?.imdsEndpoint);
    azure.faults.lroSeconds = 0.05;
    try {
      expect((await azure.arm.request("DELETE", `${own.vmId}?api-version=2024-11-01`)).status).toBe(202);
      const asked = armRequests();
      await untilRefused(imds);
      expect(armRequests()).toBe(asked);
      expect(azure.vmIds().map((id) => id.toLowerCase())).not.toContain(own.vmId.toLowerCase());
      // The same for a resource group's delete, and what it holds.
      const other = await seedVm(azure, { identity: "user", resourceGroup: "unpolled-rg", vmName: "quiet-too" });
      const otherImds = String(azure.vmRuntime(other.vmId)?.imdsEndpoint);
      expect((await azure.arm.request("DELETE", `${other.resourceGroupId}?api-version=2021-04-01`)).status).toBe(202);
      const before = armRequests();
      await untilRefused(otherImds);
      expect(armRequests()).toBe(before);
    } finally {
      azure.faults.lroSeconds = 0;
    }
    expect((await azure.arm.request("GET", `${own.vmId}?api-version=2024-11-01`)).status).toBe(404);
  });

  it("a DELETE while one runs answers the same end; HEAD still finds the resource; the operation reads InProgress until then", async () => {
    await azure.arm.putAndWait(`${net()}/publicIPAddresses/doomed?api-version=2024-05-01`, {
      location: azure.location,
      sku: { name: "Standard" },
      properties: { publicIPAllocationMethod: "Static" },
    });
    azure.faults.lroSeconds = 3600;
    try {
      const first = await azure.arm.request("DELETE", `${net()}/publicIPAddresses/doomed?api-version=2024-05-01`);
      const again = await azure.arm.request("DELETE", `${net()}/publicIPAddresses/doomed?api-version=2024-05-01`);
      expect([first.status, again.status]).toEqual([202, 202]);
      expect(first.headers["retry-after"]).toBe("3600");
      const status = await azure.arm.request("GET", again.headers["azure-asyncoperation"]);
      expect((status.body as { status: string }).status).toBe("InProgress");
      expect((await azure.arm.request("HEAD", `${net()}/publicIPAddresses/doomed?api-version=2024-05-01`)).status).toBe(
        204,
      );
      azure.faults.lroSeconds = 0;
      const done = await azure.arm.request("GET", first.headers["azure-asyncoperation"]);
      expect((done.body as { status: string }).status).toBe("Succeeded");
    } finally {
      azure.faults.lroSeconds = 0;
    }
    expect((await azure.arm.request("HEAD", `${net()}/publicIPAddresses/doomed?api-version=2024-05-01`)).status).toBe(
      404,
    );
  });

  it("a role assignment into a group being deleted is refused with 409 ResourceGroupBeingDeleted", async () => {
    const group = await seedVm(azure, { identity: "user", grant: false, resourceGroup: "going", vmName: "going" });
    azure.faults.lroSeconds = 3600;
    try {
      expect((await azure.arm.request("DELETE", `${group.resourceGroupId}?api-version=2021-04-01`)).status).toBe(202);
      const assignment = await azure.arm.request(
        "PUT",
        `${group.resourceGroupId}/providers/Microsoft.Authorization/roleAssignments/7d0e0000-0000-4000-8000-000000000001?api-version=2022-04-01`,
        {
          properties: {
            roleDefinitionId: `/subscriptions/${azure.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7`,
            principalId: group.userIdentity?.principalId,
            principalType: "ServicePrincipal",
          },
        },
      );
      expect([assignment.status, error(assignment.body)?.code]).toEqual([409, "ResourceGroupBeingDeleted"]);
    } finally {
      azure.faults.lroSeconds = 0;
    }
    expect((await azure.arm.request("GET", `${group.resourceGroupId}?api-version=2021-04-01`)).status).toBe(404);
  });
});

describe("references: derived, never stored from what a client sends back", () => {
  it("a subnet PUT that sends back its read-only ipConfigurations changes nothing derived", async () => {
    const subnetPath = `${net()}/virtualNetworks/vm-vnet/subnets/default?api-version=2024-05-01`;
    const before = (await azure.arm.request("GET", subnetPath)).body as { properties: Record<string, unknown> };
    expect(before.properties.ipConfigurations).toEqual([
      { id: `${net()}/networkInterfaces/vm-nic/ipConfigurations/primary` },
    ]);
    await azure.arm.putAndWait(subnetPath, {
      properties: {
        ...before.properties,
        ipConfigurations: [{ id: `${net()}/networkInterfaces/ghost/ipConfigurations/x` }],
      },
    });
    const after = (await azure.arm.request("GET", subnetPath)).body as { properties: Record<string, unknown> };
    expect(after.properties.ipConfigurations).toEqual(before.properties.ipConfigurations);
  });

  it("a subnet's natGateway without an id is ARM's InvalidRequestFormat with MissingJsonReferenceId", async () => {
    const answer = await azure.arm.request(
      "PUT",
      `${net()}/virtualNetworks/vm-vnet/subnets/empty-ref?api-version=2024-05-01`,
      { properties: { addressPrefix: "10.0.9.0/24", natGateway: {} } },
    );
    expect([answer.status, answer.body]).toEqual([
      400,
      {
        error: {
          code: "InvalidRequestFormat",
          message: "Cannot parse the request.",
          details: [
            {
              code: "MissingJsonReferenceId",
              message: "Value for reference id is missing. Path properties.natGateway.",
            },
          ],
        },
      },
    ]);
  });
});
