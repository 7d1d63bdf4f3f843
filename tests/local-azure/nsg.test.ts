import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runRemoteCommand } from "../../local/sshExec";
import { startGuest } from "../../local-azure/guest";
import { nsgAdmits, prefixContains } from "../../local-azure/nsg";
import { Store } from "../../local-azure/store";
import { generatePrivateKey } from "../../local-azure/tlsKeys";

const NSG_ID = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg";

function storeWithRules(rules: Array<Record<string, unknown>>): Store {
  const store = new Store();
  store.resources.set(NSG_ID.toLowerCase(), {
    id: NSG_ID,
    type: "Microsoft.Network/networkSecurityGroups",
    body: { properties: { securityRules: rules.map((properties, i) => ({ name: `r${i}`, properties })) } },
    readyAt: 0,
    created: true,
  });
  return store;
}
const allowSsh = (source: string, priority = 100, access = "Allow") => ({
  priority,
  direction: "Inbound",
  access,
  protocol: "Tcp",
  sourceAddressPrefix: source,
  sourcePortRange: "*",
  destinationAddressPrefix: "*",
  destinationPortRange: "22",
});

describe("nsgAdmits", () => {
  it("admits SSH from the allowed CIDR only; everything else meets DenyAllInBound", () => {
    const store = storeWithRules([allowSsh("203.0.113.7/32")]);
    expect(nsgAdmits(store, NSG_ID, "203.0.113.7", 22)).toBe(true);
    expect(nsgAdmits(store, NSG_ID, "203.0.113.8", 22)).toBe(false);
    expect(nsgAdmits(store, NSG_ID, "203.0.113.7", 2222)).toBe(false);
  });

  it("lets the first matching rule by priority decide", () => {
    const store = storeWithRules([allowSsh("10.0.0.0/8", 200), allowSsh("10.1.0.0/16", 100, "Deny")]);
    expect(nsgAdmits(store, NSG_ID, "10.1.2.3", 22)).toBe(false);
    expect(nsgAdmits(store, NSG_ID, "10.2.2.3", 22)).toBe(true);
  });

  it("admits everything without an NSG, and nothing when the referenced NSG is gone", () => {
    expect(nsgAdmits(new Store(), undefined, "198.51.100.1", 22)).toBe(true);
    expect(nsgAdmits(new Store(), NSG_ID, "198.51.100.1", 22)).toBe(false);
  });

  it.each([
    ["127.0.0.1/32", "127.0.0.1", true],
    ["127.0.0.0/8", "127.9.9.9", true],
    ["10.0.0.0/8", "127.0.0.1", false],
    ["*", "127.0.0.1", true],
  ])("prefix %s contains %s: %s", (prefix, address, expected) => {
    expect(prefixContains(prefix, address)).toBe(expected);
  });
});

describe("a guest behind an NSG", () => {
  it.each([
    ["admits a source inside the allowed prefix", "127.0.0.0/8", true],
    ["drops a source outside it, so the check cannot reach the VM", "10.0.0.0/8", false],
  ])("%s", async (_label, allowed, reaches) => {
    const key = generatePrivateKey("ED25519");
    const guest = await startGuest({
      host: "127.77.250.9",
      port: 0,
      adminUsername: "azureuser",
      authorizedKeys: [key.publicKeyOpenssh.trim()],
      env: {},
      workDir: mkdtempSync(join(tmpdir(), "nsg-guest-")),
      admits: (sourceIp) => prefixContains(allowed, sourceIp),
    });
    try {
      const run = runRemoteCommand({
        connection: {
          host: guest.host,
          port: guest.port,
          user: "azureuser",
          privateKey: key.privateKeyOpenssh,
          dialErrorLimit: 0,
          perDialTimeout: 2,
        },
        command: "echo reached",
      });
      if (reaches) expect((await run).stdout).toBe("reached");
      else await expect(run).rejects.toThrow();
    } finally {
      await guest.close();
    }
  });
});
