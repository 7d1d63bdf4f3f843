import { describe, expect, it } from "vitest";
import { evaluateResource } from "../../local/policyCheck";
import { type PublicIpProps, publicIpStandardStatic, publicIpViolations } from "../../policy/publicIp";

const stackIp: PublicIpProps = {
  resourceGroupName: "rg",
  sku: { name: "Standard", tier: "Regional" },
  publicIPAllocationMethod: "Static",
};

describe("public-ip-standard-static", () => {
  it("passes the stack's address: Standard, Static", () => {
    expect(publicIpViolations("vmia-ip0", stackIp)).toEqual([]);
  });

  it("rejects Basic and Dynamic", () => {
    expect(
      publicIpViolations("vmia-ip0", { ...stackIp, sku: { name: "Basic" }, publicIPAllocationMethod: "Dynamic" }),
    ).toEqual([
      'public IP address "vmia-ip0": sku.name is "Basic"; allowed: "Standard"',
      'public IP address "vmia-ip0": publicIPAllocationMethod is "Dynamic"; allowed: "Static"',
    ]);
  });

  it("rejects an address that leaves SKU and allocation to Azure's defaults", () => {
    expect(publicIpViolations("bare", { resourceGroupName: "rg" })).toEqual([
      'public IP address "bare": sku.name is not set; allowed: "Standard"',
      'public IP address "bare": publicIPAllocationMethod is not set; allowed: "Static"',
    ]);
  });

  it("the policy object is mandatory and reads azure-native:network:PublicIPAddress", async () => {
    expect(
      await evaluateResource(
        { type: "azure-native:network:PublicIPAddress", name: "ip", inputs: { ...stackIp, sku: { name: "Basic" } } },
        [publicIpStandardStatic],
      ),
    ).toEqual([
      {
        policy: "public-ip-standard-static",
        enforcementLevel: "mandatory",
        resource: "ip",
        message: 'public IP address "ip": sku.name is "Basic"; allowed: "Standard"',
      },
    ]);
  });
});
