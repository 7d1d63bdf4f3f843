import { describe, expect, it } from "vitest";
import { evaluateResource, evaluateStack, type RegisteredResource } from "../../local/policyCheck";
import {
  isInternetSource,
  type NetworkSecurityGroupProps,
  networkSecurityGroupViolations,
  noSshFromInternet,
  portRangeIncludes,
  remoteSshPorts,
  type SecurityRuleProps,
  securityRuleViolations,
} from "../../policy/sshFromInternet";
import { UNKNOWN } from "../../policy/values";

const ALLOWED = 'allowed: a specific network such as "203.0.113.7/32", never *, Internet, Any or a /0 prefix';

/** The stack's own rule (components/network.ts), with one field changed. */
function sshRule(
  change: Partial<SecurityRuleProps> = {},
): NonNullable<NetworkSecurityGroupProps["securityRules"]>[number] {
  return {
    name: "allow-ssh-from-allowed-cidr",
    priority: 100,
    direction: "Inbound",
    access: "Allow",
    protocol: "Tcp",
    sourceAddressPrefix: "203.0.113.7/32",
    sourcePortRange: "*",
    destinationAddressPrefix: "*",
    destinationPortRange: "22",
    ...change,
  } as NonNullable<NetworkSecurityGroupProps["securityRules"]>[number];
}

function nsg(...rules: ReturnType<typeof sshRule>[]): NetworkSecurityGroupProps {
  return { resourceGroupName: "rg", location: "eastus", securityRules: rules };
}

describe("nsg-no-ssh-from-internet: inline rules", () => {
  it("passes the stack's rule: SSH from one CIDR", () => {
    expect(networkSecurityGroupViolations("vmia-nsg", nsg(sshRule()))).toEqual([]);
  });

  it.each(["*", "Internet", "internet", "INTERNET", "Any", "any", "0.0.0.0/0", "::/0", "10.0.0.0/0", " 0.0.0.0/0 "])(
    "rejects SSH from the Internet spelled %j in sourceAddressPrefix",
    (source) => {
      expect(networkSecurityGroupViolations("vmia-nsg", nsg(sshRule({ sourceAddressPrefix: source })))).toEqual([
        `network security group "vmia-nsg": securityRules[0] ("allow-ssh-from-allowed-cidr") allows inbound SSH (port 22, destinationPortRange "22") from the Internet: sourceAddressPrefix ${JSON.stringify(source)}; ${ALLOWED}`,
      ]);
    },
  );

  it.each(["*", "Internet", "Any", "0.0.0.0/0", "::/0"])(
    "rejects SSH from the Internet spelled %j in sourceAddressPrefixes",
    (source) => {
      const rule = sshRule({ sourceAddressPrefix: undefined, sourceAddressPrefixes: ["198.51.100.0/24", source] });
      expect(networkSecurityGroupViolations("vmia-nsg", nsg(rule))).toEqual([
        `network security group "vmia-nsg": securityRules[0] ("allow-ssh-from-allowed-cidr") allows inbound SSH (port 22, destinationPortRange "22") from the Internet: sourceAddressPrefixes[1] ${JSON.stringify(source)}; ${ALLOWED}`,
      ]);
    },
  );

  it("rejects a port range containing 22 (20-30) open to 0.0.0.0/0", () => {
    const rule = sshRule({ name: "admin-ports", destinationPortRange: "20-30", sourceAddressPrefix: "0.0.0.0/0" });
    expect(networkSecurityGroupViolations("web-nsg", nsg(sshRule(), rule))).toEqual([
      `network security group "web-nsg": securityRules[1] ("admin-ports") allows inbound SSH (port 22, destinationPortRange "20-30") from the Internet: sourceAddressPrefix "0.0.0.0/0"; ${ALLOWED}`,
    ]);
  });

  it("rejects destinationPortRange * and a destinationPortRanges entry that covers 22", () => {
    const any = sshRule({ destinationPortRange: "*", sourceAddressPrefix: "Internet" });
    const ranges = sshRule({
      name: "many",
      destinationPortRange: undefined,
      destinationPortRanges: ["80", "443", "20-25"],
      sourceAddressPrefix: "*",
      protocol: "*",
    });
    expect(networkSecurityGroupViolations("web-nsg", nsg(any, ranges))).toEqual([
      `network security group "web-nsg": securityRules[0] ("allow-ssh-from-allowed-cidr") allows inbound SSH (port 22, destinationPortRange "*") from the Internet: sourceAddressPrefix "Internet"; ${ALLOWED}`,
      `network security group "web-nsg": securityRules[1] ("many") allows inbound SSH (port 22, destinationPortRanges[2] "20-25") from the Internet: sourceAddressPrefix "*"; ${ALLOWED}`,
    ]);
  });

  it("passes rules that do not admit inbound SSH: Deny, Outbound, UDP, other ports, ranges beside 22", () => {
    const open = { sourceAddressPrefix: "0.0.0.0/0" };
    expect(
      networkSecurityGroupViolations(
        "web-nsg",
        nsg(
          sshRule({ ...open, access: "Deny" }),
          sshRule({ ...open, direction: "Outbound" }),
          sshRule({ ...open, protocol: "Udp" }),
          sshRule({ ...open, destinationPortRange: "443" }),
          sshRule({ ...open, destinationPortRange: "23-30" }),
          sshRule({ ...open, destinationPortRange: "2222" }),
          sshRule({ ...open, destinationPortRange: undefined, destinationPortRanges: ["80", "8022"] }),
        ),
      ),
    ).toEqual([]);
  });

  it("passes an NSG without inline rules", () => {
    expect(networkSecurityGroupViolations("empty", { resourceGroupName: "rg" })).toEqual([]);
  });
});

describe("nsg-no-ssh-from-internet: a separate SecurityRule", () => {
  const rule: SecurityRuleProps = {
    resourceGroupName: "rg",
    networkSecurityGroupName: "web-nsg",
    priority: 110,
    direction: "Inbound",
    access: "Allow",
    protocol: "Tcp",
    sourceAddressPrefix: "203.0.113.0/24",
    destinationPortRange: "22",
  };

  it("passes SSH from one network", () => {
    expect(securityRuleViolations("ssh-rule", rule)).toEqual([]);
  });

  it.each(["*", "Internet", "Any", "0.0.0.0/0", "::/0"])("rejects SSH from %j", (source) => {
    expect(securityRuleViolations("ssh-rule", { ...rule, sourceAddressPrefix: source })).toEqual([
      `security rule "ssh-rule" allows inbound SSH (port 22, destinationPortRange "22") from the Internet: sourceAddressPrefix ${JSON.stringify(source)}; ${ALLOWED}`,
    ]);
  });

  it("rejects a 20-30 range from Internet in sourceAddressPrefixes, in lower case", () => {
    const open = {
      ...rule,
      access: "allow",
      direction: "inbound",
      protocol: "tcp",
      destinationPortRange: "20-30",
      sourceAddressPrefix: undefined,
      sourceAddressPrefixes: ["internet"],
    };
    expect(securityRuleViolations("ssh-rule", open)).toEqual([
      `security rule "ssh-rule" allows inbound SSH (port 22, destinationPortRange "20-30") from the Internet: sourceAddressPrefixes[0] "internet"; ${ALLOWED}`,
    ]);
  });
});

describe("nsg-no-ssh-from-internet: the policy object", () => {
  it("reports on an NSG and on a SecurityRule, mandatory, and ignores other types", async () => {
    const bad = nsg(sshRule({ sourceAddressPrefix: "0.0.0.0/0" }));
    const onNsg = await evaluateResource(
      { type: "azure-native:network:NetworkSecurityGroup", name: "vmia-nsg", inputs: bad },
      [noSshFromInternet],
    );
    expect(onNsg).toEqual([
      {
        policy: "nsg-no-ssh-from-internet",
        enforcementLevel: "mandatory",
        resource: "vmia-nsg",
        message: `network security group "vmia-nsg": securityRules[0] ("allow-ssh-from-allowed-cidr") allows inbound SSH (port 22, destinationPortRange "22") from the Internet: sourceAddressPrefix "0.0.0.0/0"; ${ALLOWED}`,
      },
    ]);
    const onRule = await evaluateResource(
      {
        type: "azure-native:network:SecurityRule",
        name: "ssh-rule",
        inputs: {
          access: "Allow",
          direction: "Inbound",
          protocol: "*",
          sourceAddressPrefix: "Any",
          destinationPortRange: "22",
        },
      },
      [noSshFromInternet],
    );
    expect(onRule.map((violation) => violation.message)).toEqual([
      `security rule "ssh-rule" allows inbound SSH (port 22, destinationPortRange "22") from the Internet: sourceAddressPrefix "Any"; ${ALLOWED}`,
    ]);
    const other = await evaluateResource({ type: "azure-native:network:VirtualNetwork", name: "vnet", inputs: bad }, [
      noSshFromInternet,
    ]);
    expect(other).toEqual([]);
  });
});

describe("nsg-no-ssh-from-internet: SSH on the ports the stack's remote commands connect to", () => {
  const check = (name: string, port?: number): RegisteredResource => ({
    type: "command:remote:Command",
    name,
    inputs: { connection: { host: "203.0.113.10", user: "azureuser", ...(port === undefined ? {} : { port }) } },
  });
  const openNsg = (port: string): RegisteredResource => ({
    type: "azure-native:network:NetworkSecurityGroup",
    name: "vmia-nsg",
    inputs: nsg(sshRule({ destinationPortRange: port, sourceAddressPrefix: "*" })),
  });

  it("rejects the stack's SSH rule opened to * on the port its check connects to", async () => {
    const violations = await evaluateStack([openNsg("40022"), check("vmia-check-0-user", 40022)], [noSshFromInternet]);
    expect(violations).toEqual([
      {
        policy: "nsg-no-ssh-from-internet",
        enforcementLevel: "mandatory",
        resource: "(stack)",
        message: `network security group "vmia-nsg": securityRules[0] ("allow-ssh-from-allowed-cidr") allows inbound SSH (port 40022, where remote command "vmia-check-0-user" connects over SSH, destinationPortRange "40022") from the Internet: sourceAddressPrefix "*"; ${ALLOWED}`,
      },
    ]);
  });

  it("judges a separate SecurityRule too, and a range covering the port", async () => {
    const rule: RegisteredResource = {
      type: "azure-native:network:SecurityRule",
      name: "admin",
      inputs: { ...sshRule({ destinationPortRange: "2000-3000", sourceAddressPrefix: "Internet" }), name: undefined },
    };
    expect((await evaluateStack([rule, check("probe", 2222)], [noSshFromInternet])).map((v) => v.message)).toEqual([
      `security rule "admin" allows inbound SSH (port 2222, where remote command "probe" connects over SSH, destinationPortRange "2000-3000") from the Internet: sourceAddressPrefix "Internet"; ${ALLOWED}`,
    ]);
  });

  it("leaves port 22 to the per-resource check (no second report) and passes the stack as it is", async () => {
    expect(await evaluateStack([openNsg("22"), check("vmia-check-0-user")], [noSshFromInternet])).toEqual([]);
    const narrow: RegisteredResource = { ...openNsg("40022"), inputs: nsg(sshRule({ destinationPortRange: "40022" })) };
    expect(await evaluateStack([narrow, check("vmia-check-0-user", 40022)], [noSshFromInternet])).toEqual([]);
  });

  it("an open port no remote command uses for SSH is not SSH", async () => {
    expect(await evaluateStack([openNsg("8443"), check("vmia-check-0-user", 40022)], [noSshFromInternet])).toEqual([]);
  });

  it("remoteSshPorts: each port besides 22 once, with the first command using it; unknown ports skipped", () => {
    expect(
      remoteSshPorts([
        { name: "a", port: undefined },
        { name: "b", port: 2222 },
        { name: "c", port: 2222 },
        { name: "d", port: UNKNOWN },
        { name: "e", port: 22 },
        { name: "f", port: 40022 },
      ]),
    ).toEqual(
      new Map([
        [2222, "b"],
        [40022, "f"],
      ]),
    );
  });
});

describe("the pieces", () => {
  it("isInternetSource knows every spelling of the Internet and nothing narrower", () => {
    for (const source of ["*", "Internet", "INTERNET", "Any", "0.0.0.0/0", "::/0", "128.0.0.0/0"]) {
      expect(isInternetSource(source)).toBe(true);
    }
    for (const source of [
      "203.0.113.7/32",
      "0.0.0.0/1",
      "10.0.0.0/8",
      "VirtualNetwork",
      "AzureLoadBalancer",
      "2001:db8::/32",
    ]) {
      expect(isInternetSource(source)).toBe(false);
    }
  });

  it("portRangeIncludes reads *, single ports and inclusive ranges", () => {
    expect(portRangeIncludes("*", 22)).toBe(true);
    expect(portRangeIncludes("22", 22)).toBe(true);
    expect(portRangeIncludes("22-22", 22)).toBe(true);
    expect(portRangeIncludes("20-25", 22)).toBe(true);
    expect(portRangeIncludes("1-65535", 22)).toBe(true);
    expect(portRangeIncludes("23-25", 22)).toBe(false);
    expect(portRangeIncludes("222", 22)).toBe(false);
    expect(portRangeIncludes("2-2", 22)).toBe(false);
  });
});
