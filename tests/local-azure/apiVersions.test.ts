import { describe, expect, it } from "vitest";
import { apiVersionRefusal, invalidApiVersion, MISSING_API_VERSION } from "../../local-azure/arm/apiVersions";
import type { ProviderDescription } from "../../local-azure/arm/context";
import { trackingHeaders } from "../../local-azure/arm/http";
import { firstFreeAddress } from "../../local-azure/arm/providers/privateIp";

/** ARM's routing refusals, request IDs and dynamic private addresses, as pure functions. */

const CATALOG: ProviderDescription[] = [
  {
    namespace: "Microsoft.Resources",
    resourceTypes: [{ resourceType: "resourceGroups", apiVersions: ["2024-03-01", "2021-04-01"], global: true }],
  },
  {
    namespace: "Microsoft.Authorization",
    resourceTypes: [
      { resourceType: "roleAssignments", apiVersions: ["2022-04-01", "2020-04-01-preview"], global: true },
    ],
  },
  {
    namespace: "Microsoft.Network",
    resourceTypes: [
      { resourceType: "networkInterfaces", apiVersions: ["2024-05-01", "2023-11-01"] },
      { resourceType: "virtualNetworks/subnets", apiVersions: ["2024-05-01"] },
    ],
  },
];
const at = (type: string, version: string) =>
  apiVersionRefusal(CATALOG, { type, version, location: "westeurope", locations: ["westeurope", "eastus"] });

describe("apiVersionRefusal", () => {
  it("serves a listed version, whatever the case of the namespace, type or version", () => {
    expect(at("microsoft.network/NETWORKINTERFACES", "2023-11-01")).toBeUndefined();
    expect(at("Microsoft.Authorization/roleAssignments", "2020-04-01-PREVIEW")).toBeUndefined();
  });

  it("an unknown namespace: 404 InvalidResourceNamespace", () => {
    expect(at("Contoso.Widgets/widgets", "2024-01-01")).toEqual({
      status: 404,
      body: {
        error: { code: "InvalidResourceNamespace", message: "The resource namespace 'Contoso.Widgets' is invalid." },
      },
    });
  });

  it("a type the namespace lacks: 404 InvalidResourceType, the namespace spelled as the provider spells it", () => {
    expect(at("microsoft.network/virtualNetworks/peerings", "2024-05-01")?.body).toEqual({
      error: {
        code: "InvalidResourceType",
        message:
          "The resource type 'virtualNetworks/peerings' could not be found in the namespace 'Microsoft.Network' for api version '2024-05-01'.",
      },
    });
  });

  it("a regional type at another version: 400 NoRegisteredProviderFound, versions oldest first and locations", () => {
    expect(at("Microsoft.Network/networkInterfaces", "2015-06-15")).toEqual({
      status: 400,
      body: {
        error: {
          code: "NoRegisteredProviderFound",
          message:
            "No registered resource provider found for location 'westeurope' and API version '2015-06-15' for type 'networkInterfaces'. The supported api-versions are '2023-11-01, 2024-05-01'. The supported locations are 'westeurope, eastus'.",
        },
      },
    });
  });

  it("a global type at another version: 404 InvalidResourceType with its versions oldest first", () => {
    expect(at("Microsoft.Authorization/roleAssignments", "2015-07-01")?.body).toEqual({
      error: {
        code: "InvalidResourceType",
        message:
          "The resource type 'roleAssignments' could not be found in the namespace 'Microsoft.Authorization' for api version '2015-07-01'. The supported api-versions are '2020-04-01-preview,2022-04-01'.",
      },
    });
  });

  it("ARM's own type at another version: 400 InvalidApiVersionParameter, its versions newest first", () => {
    expect(at("Microsoft.Resources/resourceGroups", "2016-09-01")).toEqual(
      invalidApiVersion("2016-09-01", ["2024-03-01", "2021-04-01"]),
    );
    expect(invalidApiVersion("2016-09-01", ["2024-03-01", "2021-04-01"]).body).toEqual({
      error: {
        code: "InvalidApiVersionParameter",
        message: "The api-version '2016-09-01' is invalid. The supported versions are '2024-03-01,2021-04-01'.",
      },
    });
  });

  it("no api-version at all: ARM's 400 MissingApiVersionParameter", () => {
    expect(MISSING_API_VERSION).toEqual({
      status: 400,
      body: {
        error: {
          code: "MissingApiVersionParameter",
          message: "The api-version query parameter (?api-version=) is required for all requests.",
        },
      },
    });
  });
});

describe("trackingHeaders", () => {
  const when = new Date("2026-05-04T03:02:01.123Z");

  it("a new request ID, the correlation ID the same, the routing ID from the region and the time", () => {
    const headers = trackingHeaders({}, "eastus", when);
    expect(headers["x-ms-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
    expect(headers).toEqual({
      "x-ms-request-id": headers["x-ms-request-id"],
      "x-ms-correlation-request-id": headers["x-ms-request-id"],
      "x-ms-routing-request-id": `EASTUS:20260504T030201Z:${headers["x-ms-request-id"]}`,
    });
    expect(trackingHeaders({}, "eastus", when)["x-ms-request-id"]).not.toBe(headers["x-ms-request-id"]);
  });

  it("keeps the client's correlation ID, and echoes its request ID only when asked", () => {
    const client = { "x-ms-correlation-request-id": "corr-1", "x-ms-client-request-id": "req-1" };
    expect(trackingHeaders(client, "eastus", when)).not.toHaveProperty("x-ms-client-request-id");
    const asked = trackingHeaders({ ...client, "x-ms-return-client-request-id": "True" }, "eastus", when);
    expect(asked["x-ms-correlation-request-id"]).toBe("corr-1");
    expect(asked["x-ms-routing-request-id"]).toBe("EASTUS:20260504T030201Z:corr-1");
    expect(asked["x-ms-client-request-id"]).toBe("req-1");
  });

  it("ignores a correlation ID it would not log as given (separators, or over 256 characters)", () => {
    for (const bad of ["a b", "a,b", "x".repeat(257)]) {
      const headers = trackingHeaders({ "x-ms-correlation-request-id": bad }, "eastus", when);
      expect(headers["x-ms-correlation-request-id"]).toBe(headers["x-ms-request-id"]);
    }
  });
});

describe("firstFreeAddress", () => {
  it("skips the five addresses Azure reserves and the ones in use", () => {
    expect(firstFreeAddress("10.0.1.0/24", new Set())).toBe("10.0.1.4");
    expect(firstFreeAddress("10.0.1.0/24", new Set(["10.0.1.4", "10.0.1.5"]))).toBe("10.0.1.6");
    // A prefix written with host bits still means its network.
    expect(firstFreeAddress("10.0.1.77/24", new Set())).toBe("10.0.1.4");
  });

  it("has nothing left in a full subnet, and nothing to give in one that is too small or not IPv4", () => {
    expect(firstFreeAddress("10.0.0.0/29", new Set(["10.0.0.4", "10.0.0.5", "10.0.0.6"]))).toBeUndefined();
    expect(firstFreeAddress("10.0.0.0/30", new Set())).toBeUndefined();
    expect(firstFreeAddress("fd00::/64", new Set())).toBeUndefined();
  });
});
