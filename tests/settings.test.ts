import { readFileSync } from "node:fs";
import Ajv2020 from "ajv/dist/2020";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { cidrProblem, DEFAULTS, parseSettings, SETTING_KEYS, SettingsError } from "../components/settings";

const BASE = { sshAllowedCidr: "198.51.100.7/32" };

function errorOf(raw: Record<string, string>, environment?: string): SettingsError {
  try {
    parseSettings(raw, environment);
  } catch (error) {
    if (error instanceof SettingsError) return error;
    throw error;
  }
  throw new Error("expected a SettingsError");
}

describe("parseSettings", () => {
  it("applies the design's defaults", () => {
    expect(parseSettings(BASE)).toEqual({
      identity: "user",
      accessCheckVia: "ssh",
      sshAllowedCidr: "198.51.100.7/32",
      sshPublicKey: undefined,
      adminUsername: "azureuser",
      vmSize: "Standard_B2s",
      vmCount: 1,
      grantAccess: true,
      accessCheckTimeoutSeconds: 600,
      armEndpoint: "https://management.azure.com",
      imdsEndpoint: undefined,
      sshPort: 22,
    });
  });

  it("passes no IMDS endpoint for Azure's own (the real CLI hands the program Pulumi.yaml's default)", () => {
    expect(parseSettings({ ...BASE, imdsEndpoint: "http://169.254.169.254" }).imdsEndpoint).toBeUndefined();
    expect(parseSettings({ ...BASE, imdsEndpoint: "http://169.254.169.254:80/" }).imdsEndpoint).toBeUndefined();
    expect(parseSettings({ ...BASE, imdsEndpoint: "http://127.0.0.9:8080/" }).imdsEndpoint).toBe(
      "http://127.0.0.9:8080",
    );
  });

  it("reads false and 0-like values without turning them into defaults", () => {
    const settings = parseSettings({ ...BASE, grantAccess: "false", vmCount: "10", accessCheckTimeoutSeconds: "30" });
    expect([settings.grantAccess, settings.vmCount, settings.accessCheckTimeoutSeconds]).toEqual([false, 10, 30]);
  });

  it.each([
    ["public", "https://management.azure.com"],
    ["usgovernment", "https://management.usgovcloudapi.net"],
    ["china", "https://management.chinacloudapi.cn"],
  ])("takes the ARM endpoint of azure-native:environment %s", (environment, endpoint) => {
    expect(parseSettings(BASE, environment).armEndpoint).toBe(endpoint);
  });

  it("lets armEndpoint win over the environment and drops its trailing slash", () => {
    expect(parseSettings({ ...BASE, armEndpoint: "https://127.0.0.1:8443/" }, "china").armEndpoint).toBe(
      "https://127.0.0.1:8443",
    );
  });

  it.each([
    [{ identity: "User" }, 'vm-identity-access:identity = "User" must be one of user, system, both'],
    [{ vmCount: "0" }, 'vm-identity-access:vmCount = "0" must be a whole number from 1 to 10'],
    [{ vmCount: "2.5" }, 'vm-identity-access:vmCount = "2.5" must be a whole number from 1 to 10'],
    [{ grantAccess: "yes" }, 'vm-identity-access:grantAccess = "yes" must be true or false'],
    [
      { accessCheckTimeoutSeconds: "3601" },
      'vm-identity-access:accessCheckTimeoutSeconds = "3601" must be a whole number from 30 to 3600',
    ],
    [{ sshPort: "65536" }, 'vm-identity-access:sshPort = "65536" must be a whole number from 1 to 65535'],
    [
      { armEndpoint: "http://management.azure.com" },
      'vm-identity-access:armEndpoint = "http://management.azure.com" must use https (the access token must not travel in clear)',
    ],
    [
      { armEndpoint: "https://x/y" },
      "must be a base URL: scheme, host and optional port, without path, query or credentials",
    ],
    [
      { imdsEndpoint: "ftp://169.254.169.254" },
      'vm-identity-access:imdsEndpoint = "ftp://169.254.169.254" must use http or https',
    ],
    [{ adminUsername: "root" }, 'vm-identity-access:adminUsername = "root" is a name Azure reserves'],
    [{ adminUsername: "Bad User" }, "must be 1 to 32 characters of lower-case letters"],
    [{ vmSize: "B2s" }, 'vm-identity-access:vmSize = "B2s" must be an Azure VM size name such as Standard_B2s'],
    [{ sshPublicKey: "ssh-dss AAAAB3NzaC1kc3MAAACBAP" }, "must be one OpenSSH public key line: ssh-ed25519 or ssh-rsa"],
    ...["-2", "1001", "1.5", "sixty"].map((value) => [
      { sshDialErrorLimit: value },
      `vm-identity-access:sshDialErrorLimit = ${JSON.stringify(value)} must be -1 (no limit) or a whole number from 0 to 1000`,
    ]),
  ] as Array<[Record<string, string>, string]>)("rejects %j", (bad, message) => {
    expect(errorOf({ ...BASE, ...bad }).message).toContain(message);
  });

  it("reads sshDialErrorLimit when set, -1 and 0 included, and leaves it unset otherwise", () => {
    expect(parseSettings(BASE).sshDialErrorLimit).toBeUndefined();
    expect(
      ["-1", "0", "3", "60", "1000"].map((v) => parseSettings({ ...BASE, sshDialErrorLimit: v }).sshDialErrorLimit),
    ).toEqual([-1, 0, 3, 60, 1000]);
  });

  it("requires sshAllowedCidr and names how to set it", () => {
    expect(errorOf({}).message).toBe(
      "vm-identity-access:sshAllowedCidr is required: the one network allowed to reach SSH, in CIDR form " +
        "(pulumi config set sshAllowedCidr 203.0.113.7/32); it never defaults to the Internet " +
        "(or set accessCheckVia runCommand: no public IP, no inbound rule)",
    );
  });

  it("rejects an unknown cloud unless armEndpoint is set", () => {
    expect(errorOf(BASE, "german").message).toContain(
      'azure-native:environment = "german" is not a cloud this program knows',
    );
    expect(parseSettings({ ...BASE, armEndpoint: "https://arm.example" }, "german").armEndpoint).toBe(
      "https://arm.example",
    );
  });

  it("reports every bad setting at once", () => {
    const error = errorOf({ identity: "x", vmCount: "0" });
    expect(error.problems).toHaveLength(3);
    expect(error.message.split("\n")[0]).toBe("3 settings are invalid:");
  });

  it("is a RunError, so Pulumi prints the message without a stack trace", async () => {
    const pulumi = await import("@pulumi/pulumi");
    expect(pulumi.RunError.isInstance(errorOf({}))).toBe(true);
  });
});

describe("accessCheckVia and subnetId", () => {
  const SUBNET =
    "/subscriptions/11111111-1111-4111-8111-111111111111/resourceGroups/hub-rg/providers/Microsoft.Network/virtualNetworks/spoke/subnets/workloads";

  it("runs over SSH by default, as before", () => {
    expect(parseSettings(BASE)).toMatchObject({ accessCheckVia: "ssh", sshAllowedCidr: "198.51.100.7/32" });
    expect(parseSettings(BASE)).not.toHaveProperty("subnetId");
  });

  it("needs no sshAllowedCidr with runCommand, and takes an existing subnet", () => {
    expect(parseSettings({ accessCheckVia: "runCommand" })).toMatchObject({ accessCheckVia: "runCommand" });
    expect(parseSettings({ accessCheckVia: "runCommand" })).not.toHaveProperty("sshAllowedCidr");
    expect(parseSettings({ accessCheckVia: "runCommand", subnetId: SUBNET })).toMatchObject({ subnetId: SUBNET });
    // ARM compares IDs case-insensitively, and so does the check.
    const lower = SUBNET.replace("resourceGroups", "resourcegroups").replace("Microsoft.Network", "microsoft.network");
    expect(parseSettings({ accessCheckVia: "runCommand", subnetId: lower })).toMatchObject({ subnetId: lower });
  });

  it("takes the CLI's declared defaults for the SSH settings with runCommand (it cannot tell them from unset)", () => {
    const settings = parseSettings({
      accessCheckVia: "runCommand",
      sshPort: "22",
      sshDialErrorLimit: "60",
      sshAllowedCidr: "",
    });
    expect(settings).toMatchObject({ accessCheckVia: "runCommand", sshPort: 22 });
  });

  it.each([
    [
      { accessCheckVia: "winrm" },
      'vm-identity-access:accessCheckVia = "winrm" must be ssh (over SSH, through a public IP) or runCommand (Azure\'s Run Command, no inbound path)',
    ],
    [
      { accessCheckVia: "runCommand", sshAllowedCidr: "198.51.100.7/32" },
      'vm-identity-access:sshAllowedCidr = "198.51.100.7/32" is for accessCheckVia ssh: with accessCheckVia runCommand nothing reaches the VM from outside (no public IP, no inbound rule), so there is no SSH to allow; remove it (pulumi config rm sshAllowedCidr)',
    ],
    [
      { accessCheckVia: "runCommand", sshAllowedCidr: "not a cidr" },
      'vm-identity-access:sshAllowedCidr = "not a cidr" is for accessCheckVia ssh',
    ],
    [
      { ...BASE, subnetId: SUBNET },
      `vm-identity-access:subnetId = "${SUBNET}" is for accessCheckVia runCommand: over SSH the program makes its own network (a public IP, an NSG rule from sshAllowedCidr); set accessCheckVia runCommand, or remove it (pulumi config rm subnetId)`,
    ],
    [
      { accessCheckVia: "runCommand", sshPort: "2222" },
      'vm-identity-access:sshPort = "2222" is for accessCheckVia ssh: with accessCheckVia runCommand nothing reaches the VM from outside (no public IP, no inbound rule), and the check makes no SSH connection; remove it (pulumi config rm sshPort)',
    ],
    [
      { accessCheckVia: "runCommand", sshDialErrorLimit: "-1" },
      'vm-identity-access:sshDialErrorLimit = "-1" is for accessCheckVia ssh',
    ],
    [
      {
        accessCheckVia: "runCommand",
        subnetId: "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/virtualNetworks/v",
      },
      'vm-identity-access:subnetId = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/virtualNetworks/v" must be a subnet\'s ARM resource ID: /subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.Network/virtualNetworks/<vnet>/subnets/<subnet>',
    ],
  ] as Array<[Record<string, string>, string]>)("rejects %j", (bad, message) => {
    expect(errorOf(bad).message).toContain(message);
  });

  it("reports a bad transport once, without guessing which SSH settings it needs", () => {
    expect(errorOf({ accessCheckVia: "SSH" }).problems).toEqual([
      'vm-identity-access:accessCheckVia = "SSH" must be ssh (over SSH, through a public IP) or runCommand (Azure\'s Run Command, no inbound path)',
    ]);
  });
});

describe("cidrProblem", () => {
  it.each(["203.0.113.7/32", "10.0.0.0/8", "2001:db8::/32", "2001:db8::1/128"])("accepts %s", (cidr) => {
    expect(cidrProblem(cidr)).toBeUndefined();
  });
  it.each([
    ["203.0.113.7", "for this single address write 203.0.113.7/32"],
    ["2001:db8::1", "for this single address write 2001:db8::1/128"],
    ["0.0.0.0/0", "/0 would open SSH to the whole Internet"],
    ["::/0", "/0 would open SSH to the whole Internet"],
    ["10.1.2.3/8", "host bits are set: did you mean 10.0.0.0/8?"],
    ["2001:db8::1/32", "host bits are set: did you mean 2001:db8::/32?"],
    ["300.1.1.1/32", "must be one network in CIDR form"],
    ["Internet", "must be one network in CIDR form"],
    ["10.0.0.0/33", "must be one network in CIDR form"],
    ["10.0.0.0/", "must be one network in CIDR form"],
  ])("rejects %s", (cidr, message) => {
    expect(cidrProblem(cidr)).toContain(message);
  });
});

describe("Pulumi.yaml", () => {
  const project = parse(readFileSync("Pulumi.yaml", "utf8"));

  it("is valid against Pulumi's own project schema", () => {
    const schema = JSON.parse(readFileSync("tests/fixtures/pulumi-project.schema.json", "utf8"));
    const validate = new Ajv2020({ strict: false }).compile(schema);
    expect(validate(project) ? [] : validate.errors).toEqual([]);
  });

  it("declares every setting with a type and a description, and the program's defaults", () => {
    expect(project.name).toBe("vm-identity-access");
    expect(project.runtime.name).toBe("nodejs");
    expect(Object.keys(project.config).sort()).toEqual([...SETTING_KEYS].sort());
    for (const key of SETTING_KEYS) {
      expect(["string", "integer", "boolean"]).toContain(project.config[key].type);
      expect(project.config[key].description.length).toBeGreaterThan(10);
    }
    const declaredDefaults = Object.fromEntries(
      SETTING_KEYS.filter((key) => ![undefined, ""].includes(project.config[key].default)).map((key) => [
        key,
        project.config[key].default,
      ]),
    );
    expect(declaredDefaults).toEqual(DEFAULTS);
  });

  it("declares a default for every optional setting (the CLI requires a declared key without one)", () => {
    // `pulumi up` refuses a stack that lacks a declared key with no default: "Stack 'dev' is missing
    // configuration value 'sshPublicKey'" (seen with the CLI built here). An empty default means unset.
    expect(SETTING_KEYS.filter((key) => project.config[key].default === undefined)).toEqual([]);
    // Required over SSH all the same: the program says so (above), the CLI cannot (runCommand needs none).
    expect(project.config.sshAllowedCidr.default).toBe("");
    expect(parseSettings({ ...BASE, sshPublicKey: "", armEndpoint: "" })).toMatchObject({
      sshPublicKey: undefined,
      armEndpoint: "https://management.azure.com",
    });
  });
});
