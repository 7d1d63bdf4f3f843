import type * as pulumi from "@pulumi/pulumi";
import { describe, expect, it, vi } from "vitest";
import { formerCommandAlias } from "../components/accessCheck";
import { REVOCATION_PENDING_COMMAND } from "../components/probeCommand";
import { READER_ROLE_ID, roleAssignmentName } from "../components/roleAssignment";
import { decodeProbeSettings } from "../components/runCommandPlan";
import type { VmAccessCheckArgs } from "../components/vmAccessCheck";
import { diffInputs } from "../local/armDiff";
import { virtualMachineMapping } from "../local/armMapping/virtualMachine";
import type { AccessCheck } from "../verify/contract";
import { stackOutputsSchema } from "../verify/schema";
import {
  ARM,
  fakeProbeAnswer,
  inlineProbeSettings,
  type LastingState,
  lastingState,
  type ProbeAnswer,
  type ProgramRun,
  type Registration,
  RUN_COMMAND_TYPE,
  runCommandParameters,
  runProgram,
  SUBSCRIPTION_ID,
  TENANT_ID,
} from "./support/programMocks";

const READER = `/subscriptions/${SUBSCRIPTION_ID}/providers/Microsoft.Authorization/roleDefinitions/${READER_ROLE_ID}`;
const BASE = { sshAllowedCidr: "198.51.100.7/32" };

const run = (
  settings: Record<string, string>,
  options: { probe?: ProbeAnswer; azureEnvironment?: string; grantRemains?: boolean; lasting?: LastingState } = {},
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
    expect(stackOutputsSchema.safeParse(result.outputs).success).toBe(true);
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

describe("grantAccess false on a stack whose Reader grant outlives the updates that should remove it", () => {
  it("says not verified yet once, gives the benefit of the doubt once more, then fails naming the grant", async () => {
    const lasting = lastingState();
    const options = { probe: fakeProbeAnswer({ denied: true }), grantRemains: true, lasting };
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    try {
      const first = await run({ grantAccess: "false" }, options);
      expectNoRejections(first);
      expect(output<AccessCheck>(first, "accessCheck").results[0].checks[0].detail).toMatch(
        /is removed at the end of this update, after the check/,
      );
      const second = await run({ grantAccess: "false" }, options);
      expectNoRejections(second);
      expect(output<AccessCheck>(second, "accessCheck").results[0].checks[0].detail).toMatch(
        /is still there after the update that should have removed it \(that update may have failed before Pulumi's deletes\)/,
      );
      const third = await run({ grantAccess: "false" }, options);
      const assignment = `${rgId(third)}/providers/Microsoft.Authorization/roleAssignments/`;
      expect(third.rejected.accessCheck?.message).toContain(
        `The access check did not verify the expected access (denied):\n  vmia-vm0 (user): grant-removed: the role assignment ${assignment}`,
      );
      expect(third.rejected.accessCheck?.message).toContain("it is not going away");
      expect(ofType(third, "pulumi:index:Stash").map((r) => r.name)).toEqual([
        "vmia-check-0-user-grant-seen",
        "vmia-check-0-user-grant-seen-again",
      ]);
    } finally {
      warn.mockRestore();
    }
  });
});

/** Records, for each VmAccessCheck the program makes next, the names of the resources it depends on. */
async function withCheckDependencies(): Promise<Map<string, string[]>> {
  const seen = new Map<string, string[]>();
  vi.doMock("../components/vmAccessCheck", async (importOriginal) => {
    const original = await importOriginal<typeof import("../components/vmAccessCheck")>();
    class RecordingCheck extends original.VmAccessCheck {
      constructor(name: string, args: VmAccessCheckArgs, opts?: pulumi.ComponentResourceOptions) {
        const names = ((opts?.dependsOn ?? []) as pulumi.Resource[]).map(
          (resource) => (resource as unknown as { __name?: string }).__name ?? "?",
        );
        seen.set(name, names);
        super(name, args, opts);
      }
    }
    return { ...original, VmAccessCheck: RecordingCheck };
  });
  return seen;
}

const SUBNET =
  "/subscriptions/11111111-1111-4111-8111-111111111111/resourceGroups/hub-rg/providers/Microsoft.Network/virtualNetworks/spoke/subnets/workloads";
const VIA_RUN_COMMAND = { sshAllowedCidr: "", accessCheckVia: "runCommand" };
/** A run command's parameters by name, PROBE_SETTINGS unpacked as the preamble unpacks it. */
const parametersOf = (registration: Registration): { settings: Record<string, string>; [name: string]: unknown } => {
  const { PROBE_SETTINGS: settings = "", ...others } = runCommandParameters(registration);
  return { ...others, settings: decodeProbeSettings(settings) };
};

describe("accessCheckVia runCommand", async () => {
  const result = await run(VIA_RUN_COMMAND);

  it("gives no NIC a public IP and the NSG no inbound allow rule at all", () => {
    expectNoRejections(result);
    const [nic] = ofType(result, "azure-native:network:NetworkInterface");
    const [ipConfiguration] = nic.inputs.ipConfigurations as Array<Record<string, unknown>>;
    expect(ipConfiguration).not.toHaveProperty("publicIPAddress");
    expect(ipConfiguration.subnet).toEqual({ id: expect.stringMatching(/\/vmia-subnet$/) });
    const [nsg] = ofType(result, "azure-native:network:NetworkSecurityGroup");
    expect(nsg.inputs.securityRules).toEqual([]);
    expect(nic.inputs.networkSecurityGroup).toEqual({ id: expect.stringMatching(/\/vmia-nsg$/) });
  });

  it("gives the subnet explicit egress through a Standard NAT gateway with its own Standard static public IP", () => {
    const [nat] = ofType(result, "azure-native:network:NatGateway");
    const ips = ofType(result, "azure-native:network:PublicIPAddress");
    expect(ips.map((ip) => ip.name)).toEqual(["vmia-nat-ip"]);
    expect(ips[0].inputs).toMatchObject({ sku: { name: "Standard" }, publicIPAllocationMethod: "Static" });
    expect(nat.name).toBe("vmia-nat");
    expect(nat.inputs).toMatchObject({
      sku: { name: "Standard" },
      publicIpAddresses: [{ id: expect.stringMatching(/\/vmia-nat-ip$/) }],
      idleTimeoutInMinutes: 4,
    });
    const [subnet] = ofType(result, "azure-native:network:Subnet");
    expect(subnet.inputs).toMatchObject({
      addressPrefix: "10.42.1.0/24",
      natGateway: { id: expect.stringMatching(/\/vmia-nat$/) },
      defaultOutboundAccess: false,
    });
  });

  it("runs the probe as a managed run command on the VM, no SSH command at all", () => {
    expect(ofType(result, "command:remote:Command")).toEqual([]);
    const [runCommand] = ofType(result, RUN_COMMAND_TYPE);
    const identity = result.outputs?.identity as { clientId: string };
    expect(runCommand.name).toBe("vmia-check-0-user");
    expect(runCommand.inputs).toMatchObject({
      resourceGroupName: result.outputs?.resourceGroupName,
      vmName: "vmia-vm0",
      runCommandName: "vmia-check-0-user",
      location: "westeurope",
      asyncExecution: false,
      treatFailureAsDeploymentFailure: false,
      timeoutInSeconds: 660,
    });
    expect(String((runCommand.inputs.source as { script: string }).script)).toContain(
      "vmia_run_probe <<'VMIA_PROBE_SOURCE'",
    );
    // The probe's settings in one parameter (see components/runCommandPlan.ts), which every run sends.
    expect(runCommand.inputs.parameters).toEqual([
      { name: "PROBE_SETTINGS", value: expect.any(String) },
      { name: "PROBE_TRIGGERS", value: expect.stringMatching(/^[0-9a-f]{16}$/) },
      { name: "PROBE_RUN", value: "1" },
    ]);
    expect(parametersOf(runCommand).settings).toEqual({
      ARM_ENDPOINT: ARM,
      MI_CLIENT_ID: identity.clientId,
      SUBSCRIPTION_ID,
      RESOURCE_GROUP: result.outputs?.resourceGroupName,
      PROBE_DEADLINE_SECONDS: "600",
      PROBE_MAX_TEXT_BYTES: "256",
    });
  });

  it("exports the judged evidence, the VMs without address or SSH command, and no key", () => {
    const accessCheck = output<AccessCheck>(result, "accessCheck");
    expect(accessCheck).toMatchObject({ verified: true, expectation: "granted" });
    expect((accessCheck.results[0].probe as { runAs: unknown }).runAs).toEqual({ user: "nobody", uid: 65534 });
    expect(result.outputs?.vms).toEqual([{ name: "vmia-vm0" }]);
    expect(result.outputs?.sshPrivateKey).toBeUndefined();
    expect(stackOutputsSchema.safeParse(result.outputs).success).toBe(true);
  });

  it("keeps SSH keys-only login, and the VM keeps the check key and the host key an SSH check would pin", () => {
    const [vm] = ofType(result, "azure-native:compute:VirtualMachine");
    const osProfile = vm.inputs.osProfile as Record<string, unknown>;
    expect(osProfile.linuxConfiguration).toMatchObject({ disablePasswordAuthentication: true });
    expect(Buffer.from(String(osProfile.customData), "base64").toString()).toContain(
      `ed25519_public: ssh-ed25519 AAAA${Buffer.from("vmia-vm0-hostkey").toString("base64")}`,
    );
    expect(ofType(result, "tls:index/privateKey:PrivateKey").map((key) => key.name)).toEqual([
      "vmia-admin-key",
      "vmia-vm0-hostkey",
    ]);
  });

  // Azure refuses to change a VM's customData or its authorized keys in place (PropertyChangeNotAllowed):
  // a change of either replaces the VM, its OS disk and its system identity with it.
  it.each([
    ["without sshPublicKey", {}],
    [
      "with sshPublicKey",
      { sshPublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGmC4V8kqHnqRZx7S8p7OwPZyNQlzvZpP0tM2hGv3d5n me@laptop" },
    ],
  ])("switching the transport either way, %s, leaves the VM as it is: only the exports differ", async (_case, key) => {
    const overSsh = await run({ ...key });
    const viaRunCommand = await run({ ...VIA_RUN_COMMAND, ...key });
    expectNoRejections(overSsh);
    expectNoRejections(viaRunCommand);
    const [before] = ofType(overSsh, "azure-native:compute:VirtualMachine");
    const [after] = ofType(viaRunCommand, "azure-native:compute:VirtualMachine");
    expect(after.inputs.osProfile).toEqual(before.inputs.osProfile);
    // As azure-native's Diff decides (Local Azure's table of what ARM cannot change in place): no replacement.
    expect(diffInputs(virtualMachineMapping, before.inputs, after.inputs).replaces).toEqual([]);
    expect(diffInputs(virtualMachineMapping, after.inputs, before.inputs).replaces).toEqual([]);
    // Only what leaves the stack follows the transport.
    expect(viaRunCommand.outputs?.vms).toEqual([{ name: "vmia-vm0" }]);
    expect(viaRunCommand.outputs?.sshPrivateKey).toBeUndefined();
    expect(output<Array<{ publicIp: string }>>(overSsh, "vms")[0].publicIp).toMatch(/^203\.0\.113\./);
    expect(overSsh.outputs?.sshPrivateKey === undefined).toBe("sshPublicKey" in key);
  });

  it("runs every VM's checks, user and system, one run command each, named per VM and identity", async () => {
    const checkDependencies = await withCheckDependencies();
    const both = await run({ ...VIA_RUN_COMMAND, identity: "both", vmCount: "3" });
    vi.doUnmock("../components/vmAccessCheck");
    expectNoRejections(both);
    const declared = ofType(both, RUN_COMMAND_TYPE).map((r) => `${r.name} on ${r.inputs.vmName}`);
    expect(declared.sort()).toEqual(
      [0, 1, 2].flatMap((i) => [`vmia-check-${i}-system on vmia-vm${i}`, `vmia-check-${i}-user on vmia-vm${i}`]),
    );
    // One VM's runs go one after the other (its system check waits for its user check); VMs side by side.
    expect(Object.fromEntries(checkDependencies)).toEqual({
      "vmia-check-0-user": ["vmia-user", "vmia-vm0"],
      "vmia-check-0-system": ["vmia-vm0-system", "vmia-vm0", "vmia-check-0-user"],
      "vmia-check-1-user": ["vmia-user", "vmia-vm1"],
      "vmia-check-1-system": ["vmia-vm1-system", "vmia-vm1", "vmia-check-1-user"],
      "vmia-check-2-user": ["vmia-user", "vmia-vm2"],
      "vmia-check-2-system": ["vmia-vm2-system", "vmia-vm2", "vmia-check-2-user"],
    });
    expect(output<AccessCheck>(both, "accessCheck")).toMatchObject({ verified: true });
  });

  it("proves denial with grantAccess false, first quickly (contract v1), as over SSH", async () => {
    const denied = await run(
      { ...VIA_RUN_COMMAND, grantAccess: "false" },
      { probe: fakeProbeAnswer({ denied: true }) },
    );
    expectNoRejections(denied);
    const [runCommand] = ofType(denied, RUN_COMMAND_TYPE);
    expect(parametersOf(runCommand)).toMatchObject({ settings: { PROBE_DEADLINE_SECONDS: "10" }, PROBE_RUN: "1" });
    expect(parametersOf(runCommand).settings).not.toHaveProperty("PROBE_EXPECT");
    expect(output<AccessCheck>(denied, "accessCheck")).toMatchObject({ verified: true, expectation: "denied" });
  });

  it("fails naming each failed check when access was expected but ARM denied it, and heals on the next run", async () => {
    const lasting = lastingState();
    const failed = await run(VIA_RUN_COMMAND, { probe: fakeProbeAnswer({ denied: true }), lasting });
    expect(failed.rejected.accessCheck?.message).toBe(
      "The access check did not verify the expected access (granted):\n" +
        '  vmia-vm0 (user): probe-output: the probe should report ok true, reported ok false with error {"stage":"arm","status":403,"code":"AuthorizationFailed","message":"The client does not have authorization"}\n' +
        '  vmia-vm0 (user): resource-group-read: reading the resource group answered 403 "AuthorizationFailed"\n' +
        "  vmia-vm0 (user): permissions-read-only: the effective permissions were not read (status nothing)",
    );
    const healed = await run(VIA_RUN_COMMAND, { lasting });
    expectNoRejections(healed);
    expect(parametersOf(ofType(healed, RUN_COMMAND_TYPE)[0]).PROBE_RUN).toBe("2");
    expect(output<AccessCheck>(healed, "accessCheck").verified).toBe(true);
    // And an unchanged, verified stack declares the same run command again: Azure runs nothing.
    const again = await run(VIA_RUN_COMMAND, { lasting });
    expect(ofType(again, RUN_COMMAND_TYPE)[0].inputs).toEqual(ofType(healed, RUN_COMMAND_TYPE)[0].inputs);
    expect([...lasting.runCommands.values()].map((held) => held.runs)).toEqual([2]);
  });
});

describe("accessCheckVia runCommand with subnetId", async () => {
  const result = await run({ ...VIA_RUN_COMMAND, subnetId: SUBNET });

  it("puts the NIC in that subnet and creates no network: no VNet, subnet, NSG, NAT gateway or public IP", () => {
    expectNoRejections(result);
    for (const type of [
      "azure-native:network:VirtualNetwork",
      "azure-native:network:Subnet",
      "azure-native:network:NetworkSecurityGroup",
      "azure-native:network:NatGateway",
      "azure-native:network:PublicIPAddress",
    ]) {
      expect(ofType(result, type)).toEqual([]);
    }
    const [nic] = ofType(result, "azure-native:network:NetworkInterface");
    expect(nic.inputs).not.toHaveProperty("networkSecurityGroup");
    expect(nic.inputs.ipConfigurations).toEqual([
      { name: "primary", primary: true, privateIPAllocationMethod: "Dynamic", subnet: { id: SUBNET } },
    ]);
    expect(output<AccessCheck>(result, "accessCheck").verified).toBe(true);
  });
});

describe("the transport's settings stop the program before anything is registered", () => {
  it.each([
    [
      { ...VIA_RUN_COMMAND, sshAllowedCidr: "198.51.100.7/32" },
      'vm-identity-access:sshAllowedCidr = "198.51.100.7/32" is for accessCheckVia ssh',
    ],
    [{ subnetId: SUBNET }, "vm-identity-access:subnetId"],
    [{ ...VIA_RUN_COMMAND, sshPort: "2222" }, 'vm-identity-access:sshPort = "2222" is for accessCheckVia ssh'],
  ])("rejects %j", async (settings, message) => {
    const result = await run(settings);
    expect(result.loadError?.message).toContain(message);
    expect(result.registrations.filter((r) => r.type !== "pulumi:pulumi:Stack")).toEqual([]);
  });
});
