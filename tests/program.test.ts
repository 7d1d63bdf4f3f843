import type * as pulumi from "@pulumi/pulumi";
import { describe, expect, it, vi } from "vitest";
import { formerCommandAlias } from "../components/accessCheck";
import { REVOCATION_PENDING_COMMAND } from "../components/probeCommand";
import { READER_ROLE_ID, roleAssignmentName } from "../components/roleAssignment";
import type { AccessCheck } from "../verify/contract";
import {
  ARM,
  fakeProbeAnswer,
  inlineProbeSettings,
  type ProbeAnswer,
  type ProgramRun,
  type Registration,
  runProgram,
  SUBSCRIPTION_ID,
  TENANT_ID,
} from "./support/programMocks";

const READER = `/subscriptions/${SUBSCRIPTION_ID}/providers/Microsoft.Authorization/roleDefinitions/${READER_ROLE_ID}`;
const BASE = { sshAllowedCidr: "198.51.100.7/32" };

const run = (
  settings: Record<string, string>,
  options: { probe?: ProbeAnswer; azureEnvironment?: string; grantRemains?: boolean } = {},
) => runProgram({ ...BASE, ...settings }, { ...options, resetModules: () => vi.resetModules() });

const ofType = (result: ProgramRun, type: string): Registration[] =>
  result.registrations.filter((r) => r.type === type);
function output<T>(result: ProgramRun, name: string): T {
  if (!result.outputs) throw new Error(`the program did not load: ${result.loadError?.message}`);
  return result.outputs[name] as T;
}
const rgId = (result: ProgramRun) => output<string>(result, "resourceGroupId");

function expectNoRejections(result: ProgramRun) {
  expect(result.loadError).toBeUndefined();
  expect(Object.fromEntries(Object.entries(result.rejected).map(([k, e]) => [k, e.message]))).toEqual({});
}

describe("identity user (the default)", async () => {
  const result = await run({});

  it("registers one resource group, network, identity, VM, assignment and check", () => {
    expectNoRejections(result);
    const counts = Object.fromEntries(
      [
        "azure-native:resources:ResourceGroup",
        "azure-native:network:VirtualNetwork",
        "azure-native:network:Subnet",
        "azure-native:network:NetworkSecurityGroup",
        "azure-native:network:PublicIPAddress",
        "azure-native:network:NetworkInterface",
        "azure-native:managedidentity:UserAssignedIdentity",
        "azure-native:compute:VirtualMachine",
        "azure-native:authorization:RoleAssignment",
        "command:remote:Command",
      ].map((type) => [type, ofType(result, type).length]),
    );
    expect(Object.values(counts)).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
  });

  it("grants Reader to the user-assigned identity at the resource group, with a GUID derived from scope, principal and role", () => {
    const [assignment] = ofType(result, "azure-native:authorization:RoleAssignment");
    const identity = result.outputs?.identity as { principalId: string };
    expect(assignment.inputs).toMatchObject({
      roleDefinitionId: READER,
      scope: rgId(result),
      principalId: identity.principalId,
      principalType: "ServicePrincipal",
      roleAssignmentName: roleAssignmentName(rgId(result), identity.principalId, READER),
    });
    expect(assignment.inputs.roleAssignmentName).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
  });

  it("attaches the user-assigned identity to the VM, with passwords off, Trusted Launch and the Gen2 Ubuntu LTS image", () => {
    const [vm] = ofType(result, "azure-native:compute:VirtualMachine");
    const identity = result.outputs?.identity as { resourceId: string };
    expect(vm.inputs.identity).toEqual({ type: "UserAssigned", userAssignedIdentities: [identity.resourceId] });
    expect(vm.inputs.osProfile).toMatchObject({
      adminUsername: "azureuser",
      linuxConfiguration: { disablePasswordAuthentication: true },
    });
    expect(vm.inputs.securityProfile).toEqual({
      securityType: "TrustedLaunch",
      uefiSettings: { secureBootEnabled: true, vTpmEnabled: true },
    });
    expect(vm.inputs.storageProfile).toMatchObject({
      imageReference: { publisher: "Canonical", offer: "ubuntu-24_04-lts", sku: "server", version: "latest" },
    });
    expect(vm.inputs.hardwareProfile).toEqual({ vmSize: "Standard_B2s" });
  });

  it("installs the VM's own ed25519 host key through cloud-init", () => {
    const [vm] = ofType(result, "azure-native:compute:VirtualMachine");
    const customData = Buffer.from(
      String((vm.inputs.osProfile as { customData: string }).customData),
      "base64",
    ).toString();
    expect(customData.startsWith("#cloud-config\n")).toBe(true);
    expect(customData).toContain("ssh_deletekeys: true");
    expect(customData).toContain("ed25519_private: |");
    expect(customData).toContain(
      `ed25519_public: ssh-ed25519 AAAA${Buffer.from("vmia-vm0-hostkey").toString("base64")}`,
    );
  });

  it("admits SSH only from sshAllowedCidr, on port 22", () => {
    const [nsg] = ofType(result, "azure-native:network:NetworkSecurityGroup");
    expect(nsg.inputs.securityRules).toEqual([
      expect.objectContaining({
        direction: "Inbound",
        access: "Allow",
        protocol: "Tcp",
        sourceAddressPrefix: "198.51.100.7/32",
        destinationPortRange: "22",
      }),
    ]);
  });

  it("uses a Standard static public IP", () => {
    const [ip] = ofType(result, "azure-native:network:PublicIPAddress");
    expect(ip.inputs).toMatchObject({ sku: { name: "Standard" }, publicIPAllocationMethod: "Static" });
  });

  it("runs the probe as the admin user, pinning the VM's host key, with the client ID inline", () => {
    const [command] = ofType(result, "command:remote:Command");
    const connection = command.inputs.connection as Record<string, unknown>;
    expect(connection).toMatchObject({
      host: output<Array<{ publicIp: string }>>(result, "vms")[0].publicIp,
      port: 22,
      user: "azureuser",
      hostKey: `ssh-ed25519 AAAA${Buffer.from("vmia-vm0-hostkey").toString("base64")}`,
    });
    expect(String(connection.privateKey)).toContain("vmia-admin-key");
    expect(command.inputs.addPreviousOutputInEnv).toBe(false);
    expect(command.inputs.stdin).toContain("probeVersion");
    const identity = result.outputs?.identity as { clientId: string };
    expect(inlineProbeSettings(String(command.inputs.create))).toEqual({
      ARM_ENDPOINT: ARM,
      MI_CLIENT_ID: identity.clientId,
      SUBSCRIPTION_ID,
      RESOURCE_GROUP: result.outputs?.resourceGroupName,
      PROBE_DEADLINE_SECONDS: "600",
    });
    // Access expected: the probe's exit 1 fails the command, so the next `pulumi up` probes again.
    expect(String(command.inputs.create)).toMatch(/ bash -s$/);
  });

  it("re-runs the check when the VM, identity or assignment changes", () => {
    const [command] = ofType(result, "command:remote:Command");
    const identity = result.outputs?.identity as { resourceId: string; principalId: string };
    const triggers = command.inputs.triggers as string[];
    expect(triggers.slice(1, 3)).toEqual([identity.resourceId, identity.principalId]);
    expect(triggers[0]).toMatch(/virtualMachines\/vmia-vm0$/);
    expect(triggers[3]).toMatch(/roleAssignments/);
  });

  it("exports the judged evidence and the outputs of the contract", () => {
    const accessCheck = result.outputs?.accessCheck as AccessCheck;
    expect(accessCheck.verified).toBe(true);
    expect(accessCheck.expectation).toBe("granted");
    expect(accessCheck.results).toHaveLength(1);
    expect(accessCheck.results[0]).toMatchObject({
      vm: "vmia-vm0",
      identity: "user",
      verified: true,
      expected: { tenantId: TENANT_ID, resourceGroupId: rgId(result), resource: `${ARM}/` },
    });
    expect(result.outputs?.vms).toEqual([
      expect.objectContaining({
        name: "vmia-vm0",
        sshCommand: expect.stringMatching(/^ssh -i vm-key azureuser@203\.0\.113\.\d+$/),
      }),
    ]);
    expect(String(result.outputs?.sshPrivateKey)).toContain("BEGIN OPENSSH PRIVATE KEY");
  });
});

describe("identity system", async () => {
  const result = await run({ identity: "system" });

  it("creates no user-assigned identity and enables the VM's system identity", () => {
    expectNoRejections(result);
    expect(ofType(result, "azure-native:managedidentity:UserAssignedIdentity")).toHaveLength(0);
    const [vm] = ofType(result, "azure-native:compute:VirtualMachine");
    expect(vm.inputs.identity).toEqual({ type: "SystemAssigned" });
    expect(result.outputs?.identity).toBeNull();
  });

  it("grants Reader to the system identity's principal and probes without a selector", () => {
    const [assignment] = ofType(result, "azure-native:authorization:RoleAssignment");
    const [command] = ofType(result, "command:remote:Command");
    const principal = (command.inputs.triggers as string[])[1];
    expect(principal).toMatch(/^s\d{7}-/);
    expect(assignment.inputs).toMatchObject({
      principalId: principal,
      principalType: "ServicePrincipal",
      roleDefinitionId: READER,
    });
    const inline = inlineProbeSettings(String(command.inputs.create));
    expect(Object.keys(inline)).toEqual([
      "ARM_ENDPOINT",
      "SUBSCRIPTION_ID",
      "RESOURCE_GROUP",
      "PROBE_DEADLINE_SECONDS",
    ]);
    expect(output<AccessCheck>(result, "accessCheck").results.map((r) => [r.identity, r.verified])).toEqual([
      ["system", true],
    ]);
  });
});

describe("identity both", async () => {
  const result = await run({ identity: "both" });

  it("attaches both identities and checks each with its own assignment", () => {
    expectNoRejections(result);
    const [vm] = ofType(result, "azure-native:compute:VirtualMachine");
    const identity = result.outputs?.identity as { resourceId: string; principalId: string };
    expect(vm.inputs.identity).toEqual({
      type: "SystemAssigned, UserAssigned",
      userAssignedIdentities: [identity.resourceId],
    });
    const principals = ofType(result, "azure-native:authorization:RoleAssignment").map((a) => a.inputs.principalId);
    expect(principals).toHaveLength(2);
    expect(principals).toContain(identity.principalId);
    const commands = ofType(result, "command:remote:Command");
    expect(commands.map((c) => "MI_CLIENT_ID" in inlineProbeSettings(String(c.inputs.create)))).toEqual([true, false]);
    expect(output<AccessCheck>(result, "accessCheck").results.map((r) => r.identity)).toEqual(["user", "system"]);
  });
});

describe("vmCount 3", async () => {
  const result = await run({ vmCount: "3" });

  it("shares one user-assigned identity and one assignment across three VMs, each checked", () => {
    expectNoRejections(result);
    expect(ofType(result, "azure-native:managedidentity:UserAssignedIdentity")).toHaveLength(1);
    expect(ofType(result, "azure-native:authorization:RoleAssignment")).toHaveLength(1);
    const identity = result.outputs?.identity as { resourceId: string };
    const vms = ofType(result, "azure-native:compute:VirtualMachine");
    expect(vms.map((vm) => vm.inputs.identity)).toEqual(
      Array(3).fill({ type: "UserAssigned", userAssignedIdentities: [identity.resourceId] }),
    );
    expect(ofType(result, "azure-native:network:PublicIPAddress")).toHaveLength(3);
    const commands = ofType(result, "command:remote:Command");
    const hosts = commands.map((c) => (c.inputs.connection as { host: string }).host);
    expect(new Set(hosts).size).toBe(3);
    const accessCheck = result.outputs?.accessCheck as AccessCheck;
    expect(accessCheck.results.map((r) => r.vm)).toEqual(["vmia-vm0", "vmia-vm1", "vmia-vm2"]);
    expect(accessCheck.verified).toBe(true);
  });
});

describe("grantAccess false (the negative control)", async () => {
  const result = await run({ grantAccess: "false" }, { probe: fakeProbeAnswer({ denied: true }) });

  it("creates no role assignment, gives the probe a short deadline and verifies the denial", () => {
    expectNoRejections(result);
    expect(ofType(result, "azure-native:authorization:RoleAssignment")).toHaveLength(0);
    const [command] = ofType(result, "command:remote:Command");
    expect(inlineProbeSettings(String(command.inputs.create)).PROBE_DEADLINE_SECONDS).toBe("10");
    const accessCheck = result.outputs?.accessCheck as AccessCheck;
    expect(accessCheck).toMatchObject({ verified: true, expectation: "denied" });
  });

  it("waits for the refusal when the check runs again in place (after a revocation), with the full deadline", () => {
    const [command] = ofType(result, "command:remote:Command");
    const identity = result.outputs?.identity as { clientId: string };
    expect(command.inputs.update).toBe(
      `ARM_ENDPOINT='${ARM}' MI_CLIENT_ID='${identity.clientId}' SUBSCRIPTION_ID='${SUBSCRIPTION_ID}' ` +
        `RESOURCE_GROUP='${result.outputs?.resourceGroupName}' PROBE_DEADLINE_SECONDS='600' PROBE_EXPECT='denied' bash -s`,
    );
    expect((command.inputs.triggers as string[])[3]).toBe("no-grant");
  });
});

describe("grantAccess false on a stack whose Reader grant ARM still holds (switched from granted)", async () => {
  const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
  const result = await run(
    { grantAccess: "false", identity: "both" },
    { probe: fakeProbeAnswer({ denied: true }), grantRemains: true },
  );
  const warnings = warn.mock.calls.map((call) => String(call[0]));
  warn.mockRestore();

  it("says so in one line: the denial is proven by the next pulumi up", () => {
    expect(warnings).toEqual([
      `warning: [runtime] Access to ${result.outputs?.resourceGroupId} is revoked at the end of this update (Pulumi deletes removed role assignments last): run pulumi up again to prove the denial.`,
    ]);
  });

  it("probes nothing, and the update succeeds with an accessCheck that says the denial comes next", () => {
    expectNoRejections(result);
    const commands = ofType(result, "command:remote:Command");
    expect(commands.map((c) => c.inputs.create)).toEqual([REVOCATION_PENDING_COMMAND, REVOCATION_PENDING_COMMAND]);
    for (const command of commands) {
      expect(command.inputs).not.toHaveProperty("stdin");
      expect(String(command.inputs.update)).toMatch(/PROBE_EXPECT='denied' bash -s$/);
      // The same triggers as once the grant is gone: the next update runs the check again in place.
      expect((command.inputs.triggers as string[]).at(-1)).toBe("no-grant");
    }
    const accessCheck = output<AccessCheck>(result, "accessCheck");
    expect(accessCheck.verified).toBe(false);
    expect(accessCheck.expectation).toBe("denied");
    expect(accessCheck.results.map((r) => [r.identity, r.verified, r.checks.map((c) => c.name)])).toEqual([
      ["user", false, ["revocation-pending"]],
      ["system", false, ["revocation-pending"]],
    ]);
  });
});

describe("formerCommandAlias", () => {
  it("aliases each check command to its URN under the former AccessCheckRun, and leaves other resources alone", async () => {
    const pulumiModule = await import("@pulumi/pulumi");
    await pulumiModule.runtime.setMocks(
      { newResource: (args) => ({ id: args.name, state: {} }), call: () => ({}) },
      "vm-identity-access",
      "dev",
      false,
    );
    const alias = formerCommandAlias("vmia-check");
    const base = { props: {}, opts: {}, resource: undefined as unknown as pulumi.Resource };
    expect(alias({ ...base, type: "tls:index/privateKey:PrivateKey", name: "k" })).toBeUndefined();
    const result = alias({ ...base, type: "command:remote:Command", name: "vmia-check-0-user" });
    const [urn] = (result?.opts.aliases ?? []) as pulumi.Output<string>[];
    const resolved = await new Promise((resolveUrn) => urn.apply(resolveUrn));
    expect(resolved).toBe(
      "urn:pulumi:dev::vm-identity-access::vm-identity-access:accessCheck:AccessCheckRun$command:remote:Command::vmia-check-0-user",
    );
  });
});

describe("when the evidence does not match", () => {
  it("fails the deployment naming the failed check when a token of another principal answers", async () => {
    const result = await run({}, { probe: fakeProbeAnswer({ oid: "99999999-9999-4999-8999-999999999999" }) });
    expect(result.rejected.accessCheck?.message).toMatch(/token-principal/);
    expect(result.rejected.accessCheck?.message).toContain("99999999-9999-4999-8999-999999999999");
  });

  it("fails the remote command, evidence in its error, when access was expected but ARM denied it", async () => {
    // A failed command is kept with initialization errors and run again by the next `pulumi up`: the
    // check heals once RBAC propagates, instead of re-judging stale evidence.
    const result = await run({}, { probe: fakeProbeAnswer({ denied: true }) });
    const message = result.rejected.accessCheck?.message ?? "";
    expect(message).toMatch(/\[command:remote:Command\]: Process exited with status 1: running ".* bash -s":\n/);
    expect(message).toContain('"code":"AuthorizationFailed"');
  });
});

describe("settings that change the command", () => {
  it("follows azure-native:environment for the ARM endpoint and token resource", async () => {
    const result = await run({}, { azureEnvironment: "usgovernment" });
    expectNoRejections(result);
    const [command] = ofType(result, "command:remote:Command");
    expect(inlineProbeSettings(String(command.inputs.create)).ARM_ENDPOINT).toBe(
      "https://management.usgovcloudapi.net",
    );
    expect(output<AccessCheck>(result, "accessCheck").results[0].expected.resource).toBe(
      "https://management.usgovcloudapi.net/",
    );
  });

  it("rides out 60 failed SSH dials by default, and sshDialErrorLimit when set", async () => {
    const dialLimit = async (settings: Record<string, string>) => {
      const [command] = ofType(await run(settings), "command:remote:Command");
      return (command.inputs.connection as { dialErrorLimit: number; perDialTimeout: number }).dialErrorLimit;
    };
    expect(await dialLimit({})).toBe(60);
    expect(await dialLimit({ sshDialErrorLimit: "3" })).toBe(3);
    expect(await dialLimit({ sshDialErrorLimit: "-1" })).toBe(-1);
  });

  it("passes a configured IMDS endpoint, port and user through, and authorizes the user's own key too", async () => {
    const userKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGmC4V8kqHnqRZx7S8p7OwPZyNQlzvZpP0tM2hGv3d5n me@laptop";
    const result = await run({
      imdsEndpoint: "http://127.0.0.9:8080",
      sshPort: "2222",
      adminUsername: "checker",
      sshPublicKey: userKey,
    });
    expectNoRejections(result);
    const [command] = ofType(result, "command:remote:Command");
    expect(command.inputs.connection).toMatchObject({ port: 2222, user: "checker" });
    expect(inlineProbeSettings(String(command.inputs.create)).AZURE_POD_IDENTITY_AUTHORITY_HOST).toBe(
      "http://127.0.0.9:8080",
    );
    const [nsg] = ofType(result, "azure-native:network:NetworkSecurityGroup");
    expect((nsg.inputs.securityRules as Array<{ destinationPortRange: string }>)[0].destinationPortRange).toBe("2222");
    const [vm] = ofType(result, "azure-native:compute:VirtualMachine");
    const keys = (
      vm.inputs.osProfile as { linuxConfiguration: { ssh: { publicKeys: Array<{ path: string; keyData: string }> } } }
    ).linuxConfiguration.ssh.publicKeys;
    expect(keys.map((k) => k.path)).toEqual([
      "/home/checker/.ssh/authorized_keys",
      "/home/checker/.ssh/authorized_keys",
    ]);
    expect(keys[1].keyData).toBe(userKey);
    expect(result.outputs?.sshPrivateKey).toBeUndefined();
    expect(output<Array<{ sshCommand: string }>>(result, "vms")[0].sshCommand).toMatch(/^ssh -p 2222 checker@/);
  });
});

describe("bad settings stop the program before anything is registered", () => {
  const cases: Array<[string, Record<string, string>, string]> = [
    [
      "an unknown identity",
      { identity: "managed" },
      'vm-identity-access:identity = "managed" must be one of user, system, both',
    ],
    ["vmCount 0", { vmCount: "0" }, 'vm-identity-access:vmCount = "0" must be a whole number from 1 to 10'],
    ["vmCount 11", { vmCount: "11" }, 'vm-identity-access:vmCount = "11" must be a whole number from 1 to 10'],
    [
      "a malformed CIDR",
      { sshAllowedCidr: "10.0.0/33" },
      'vm-identity-access:sshAllowedCidr = "10.0.0/33" must be one network in CIDR form',
    ],
    [
      "a timeout out of range",
      { accessCheckTimeoutSeconds: "5" },
      'vm-identity-access:accessCheckTimeoutSeconds = "5" must be a whole number from 30 to 3600',
    ],
    ["a missing sshAllowedCidr", { sshAllowedCidr: "" }, "vm-identity-access:sshAllowedCidr is required"],
  ];
  for (const [label, settings, message] of cases) {
    it(`rejects ${label}`, async () => {
      const result = await run(settings);
      expect(result.loadError?.name).toBe("SettingsError");
      expect(result.loadError?.message).toContain(message);
      expect(result.registrations.filter((r) => r.type !== "pulumi:pulumi:Stack")).toEqual([]);
    });
  }
});
