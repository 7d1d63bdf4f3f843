import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import {
  type ArmApi,
  azureNativeProvider,
  carrySecrets,
  checkInputs,
  diffInputs,
  PartialResourceError,
  parseUrn,
  UNKNOWN,
} from "../../engine/plugins/azureNativeProvider";
import { launcherScript, STAND_INS, sdkPluginVersion } from "../../engine/plugins/install";
import { isLoopbackHost, localAzureTarget } from "../../engine/plugins/localAzureTarget";
import { keyChanges, tlsProvider } from "../../engine/plugins/tlsProvider";
import { mappingFor, type ResourceMapping } from "../../local/armMapping";
import { KEPT_ENV } from "../../local/engineStack";
import { isWrappedSecret, wrapSecret } from "../../local/secrets";
import type { GeneratedPrivateKey } from "../../local-azure/tlsKeys";
import { fakeArm as fakeArmOf } from "../local-runner/fakeArm";
import { HANG_GUARD_MS } from "../support/hangGuard";

const SUB = "00000000-0000-4000-8000-000000000001";
const TENANT = "00000000-0000-4000-8000-0000000000aa";
const RG_ID = `/subscriptions/${SUB}/resourceGroups/vmia-rg1234abcd`;
const urn = (type: string, name: string) =>
  `urn:pulumi:local::vm-identity-access::vm-identity-access:vm:LinuxVm$${type}::${name}`;
const table = (type: string): ResourceMapping => {
  const mapping = mappingFor(type);
  if (!mapping) throw new Error(type);
  return mapping;
};
const VM = "azure-native:compute:VirtualMachine";
const RG = "azure-native:resources:ResourceGroup";
const ROLE = "azure-native:authorization:RoleAssignment";

function fakeArm() {
  const arm = fakeArmOf();
  return { arm, calls: arm.calls };
}

function provider(arm: ArmApi) {
  return azureNativeProvider({
    arm,
    subscriptionId: SUB,
    tenantId: TENANT,
    location: "eastus",
    deployerClientId: "deployer-client",
    deployerObjectId: async () => "deployer-oid",
    random: () => "0f1e2d3c-4b5a-4697-8877-665544332211",
  });
}

describe("azure-native stand-in: Check", () => {
  it("reads the type and logical name from a URN, parents included", () => {
    expect(parseUrn(urn(VM, "vmia-vm0"))).toEqual({ type: VM, name: "vmia-vm0" });
  });

  it("gives a resource group without location Local Azure's, and an autoname of logical name + 8 hex", () => {
    const inputs = checkInputs(table(RG), "vmia-rg", {}, {}, { location: "eastus", random: () => "0f1e2d3c-aaaa" });
    expect(inputs).toEqual({ location: "eastus", resourceGroupName: "vmia-rg0f1e2d3c" });
  });

  it("keeps the name the previous inputs had, and a name the program gives", () => {
    const random = () => "ffffffff-ffff";
    expect(
      checkInputs(
        table(RG),
        "vmia-rg",
        { resourceGroupName: "vmia-rgcafebabe", location: "westus" },
        {},
        { location: "eastus", random },
      ),
    ).toEqual({ resourceGroupName: "vmia-rgcafebabe", location: "westus" });
    expect(
      checkInputs(table(ROLE), "x", {}, { roleAssignmentName: "given", scope: RG_ID }, { location: "eastus", random }),
    ).toEqual({
      roleAssignmentName: "given",
      scope: RG_ID,
    });
  });

  it("fails Check for a type Local Azure does not model", async () => {
    const result = await provider(fakeArm().arm).check?.(urn("azure-native:storage:StorageAccount", "sa"), {}, {});
    expect(result?.failures?.[0]?.reason).toContain("does not model resource type azure-native:storage:StorageAccount");
  });
});

describe("azure-native stand-in: Diff (old inputs against new inputs)", () => {
  const vmInputs = {
    resourceGroupName: "rg",
    vmName: "vmia-vm0abc",
    location: "eastus",
    hardwareProfile: { vmSize: "Standard_B2s" },
    osProfile: { adminUsername: "azureuser", computerName: "vmia-vm0", customData: wrapSecret("I2Nsb3Vk") },
    tags: { a: "1" },
  };

  it("sees no change when only key order and secret wrappers differ", () => {
    const reordered = {
      ...vmInputs,
      osProfile: { customData: "I2Nsb3Vk", computerName: "vmia-vm0", adminUsername: "azureuser" },
    };
    expect(diffInputs(table(VM), vmInputs, reordered)).toEqual({
      changed: [],
      replaces: [],
      deleteBeforeReplace: false,
    });
  });

  it("updates in place what Azure updates in place (tags, VM size)", () => {
    const result = diffInputs(table(VM), vmInputs, {
      ...vmInputs,
      tags: { a: "2" },
      hardwareProfile: { vmSize: "Standard_D2s_v5" },
    });
    expect(result).toEqual({ changed: ["hardwareProfile", "tags"], replaces: [], deleteBeforeReplace: false });
  });

  it("replaces on a new location, resource group or name, but not on a region spelled differently", () => {
    expect(diffInputs(table(VM), vmInputs, { ...vmInputs, location: "westeurope" }).replaces).toEqual(["location"]);
    expect(diffInputs(table(VM), vmInputs, { ...vmInputs, location: "East US" }).changed).toEqual([]);
    expect(diffInputs(table(VM), vmInputs, { ...vmInputs, resourceGroupName: "other" }).replaces).toEqual([
      "resourceGroupName",
    ]);
    expect(diffInputs(table(VM), vmInputs, { ...vmInputs, vmName: "renamed" }).replaces).toEqual(["vmName"]);
  });

  it("replaces a VM whose customData or admin user changes, deleting first since the name stays", () => {
    const result = diffInputs(table(VM), vmInputs, {
      ...vmInputs,
      osProfile: { ...vmInputs.osProfile, customData: wrapSecret("bmV3") },
    });
    expect(result).toEqual({ changed: ["osProfile"], replaces: ["osProfile.customData"], deleteBeforeReplace: true });
    const admin = diffInputs(table(VM), vmInputs, {
      ...vmInputs,
      osProfile: { ...vmInputs.osProfile, adminUsername: "ops" },
    });
    expect(admin.replaces).toEqual(["osProfile.adminUsername"]);
  });

  it("replaces a VM whose authorized keys change, and updates in place what else linuxConfiguration holds", () => {
    const keys = (...keyData: string[]) => ({
      ...vmInputs,
      osProfile: {
        ...vmInputs.osProfile,
        linuxConfiguration: {
          disablePasswordAuthentication: true,
          ssh: { publicKeys: keyData.map((line) => ({ path: "/home/azureuser/.ssh/authorized_keys", keyData: line })) },
        },
      },
    });
    expect(
      diffInputs(table(VM), keys("ssh-ed25519 AAAAone"), keys("ssh-ed25519 AAAAone", "ssh-ed25519 AAAAtwo")),
    ).toEqual({
      changed: ["osProfile"],
      replaces: ["osProfile.linuxConfiguration.ssh.publicKeys"],
      deleteBeforeReplace: true,
    });
    const patched = keys("ssh-ed25519 AAAAone");
    (patched.osProfile.linuxConfiguration as Record<string, unknown>).patchSettings = { patchMode: "ImageDefault" };
    expect(diffInputs(table(VM), keys("ssh-ed25519 AAAAone"), patched).replaces).toEqual([]);
  });

  it("replaces a role assignment whose scope, principal or role changes (ARM refuses to update them)", () => {
    const role = {
      scope: RG_ID,
      principalId: "p1",
      roleDefinitionId: "/r/reader",
      principalType: "ServicePrincipal",
      roleAssignmentName: "n1",
    };
    expect(diffInputs(table(ROLE), role, { ...role, principalId: "p2", roleAssignmentName: "n2" })).toEqual({
      changed: ["principalId", "roleAssignmentName"],
      replaces: ["roleAssignmentName", "principalId"],
      deleteBeforeReplace: false,
    });
    expect(diffInputs(table(ROLE), role, { ...role, scope: `${RG_ID}x` }).replaces).toEqual(["scope"]);
    expect(diffInputs(table(ROLE), role, { ...role, roleDefinitionId: "/r/owner" }).replaces).toEqual([
      "roleDefinitionId",
    ]);
  });

  it("treats a value unknown during preview as a change, and as a replacement for a force-new input", () => {
    const role = { scope: RG_ID, principalId: "p1", roleDefinitionId: "/r/reader", roleAssignmentName: "n1" };
    const result = diffInputs(table(ROLE), role, { ...role, principalId: UNKNOWN });
    expect(result.replaces).toEqual(["principalId"]);
  });

  it("Diff reads the old inputs from the state's __inputs", async () => {
    const p = provider(fakeArm().arm);
    const state = { id: "x", name: "vmia-vm0abc", __inputs: vmInputs };
    expect(await p.diff?.("x", urn(VM, "vmia-vm0"), state, vmInputs)).toEqual({
      changes: false,
      replaces: [],
      deleteBeforeReplace: false,
    });
    expect(await p.diff?.("x", urn(VM, "vmia-vm0"), state, { ...vmInputs, location: "westus" })).toMatchObject({
      changes: true,
      replaces: ["location"],
    });
  });
});

describe("azure-native stand-in: Create, Read, Update, Delete, getClientConfig", () => {
  it("PUTs what the mapping says and keeps secret inputs secret in the outputs, customData included", async () => {
    const { arm, calls } = fakeArm();
    const inputs = {
      resourceGroupName: "vmia-rg1234abcd",
      vmName: "vmia-vm0abc",
      location: "eastus",
      identity: {
        type: "UserAssigned",
        userAssignedIdentities: [
          "/subscriptions/s/resourcegroups/r/providers/Microsoft.ManagedIdentity/userAssignedIdentities/u",
        ],
      },
      osProfile: { adminUsername: "azureuser", customData: wrapSecret("I2Nsb3VkLWNvbmZpZw==") },
    };
    const result = await provider(arm).create?.(urn(VM, "vmia-vm0"), inputs);
    expect(calls[0]).toEqual({
      method: "PUT",
      path: `/subscriptions/${SUB}/resourceGroups/vmia-rg1234abcd/providers/Microsoft.Compute/virtualMachines/vmia-vm0abc?api-version=2024-11-01`,
      body: {
        location: "eastus",
        identity: {
          type: "UserAssigned",
          userAssignedIdentities: {
            "/subscriptions/s/resourcegroups/r/providers/Microsoft.ManagedIdentity/userAssignedIdentities/u": {},
          },
        },
        properties: { osProfile: { adminUsername: "azureuser", customData: "I2Nsb3VkLWNvbmZpZw==" } },
      },
    });
    expect(result?.id).toBe(
      `/subscriptions/${SUB}/resourceGroups/vmia-rg1234abcd/providers/Microsoft.Compute/virtualMachines/vmia-vm0abc`,
    );
    const outs = result?.outs as Record<string, Record<string, unknown>>;
    expect(outs.osProfile.customData).toEqual(wrapSecret("I2Nsb3VkLWNvbmZpZw=="));
    expect(outs.osProfile.adminUsername).toBe("azureuser");
    expect(outs.azureApiVersion).toBe("2024-11-01");
    expect(outs.__inputs).toEqual(inputs);
  });

  it("reports a failed PUT as azure-native does: status, code and ARM's message", async () => {
    const { arm } = fakeArm();
    arm.refuse.set(`${RG_ID}/providers/Microsoft.Authorization/roleAssignments/n`, {
      code: "RoleAssignmentExists",
      message: "The role assignment already exists.",
    });
    await expect(
      provider(arm).create?.(urn(ROLE, "a"), {
        scope: RG_ID,
        roleAssignmentName: "n",
        principalId: "p",
        roleDefinitionId: "r",
      }),
    ).rejects.toThrow('creating azure-native:authorization:RoleAssignment a: Status=400 Code="RoleAssignmentExists"');
  });

  it("Update PUTs the new inputs at the same path", async () => {
    const { arm, calls } = fakeArm();
    await provider(arm).update?.(
      RG_ID,
      urn(RG, "vmia-rg"),
      {},
      { resourceGroupName: "vmia-rg1234abcd", location: "eastus", tags: { t: "1" } },
    );
    expect(calls[0]).toMatchObject({
      method: "PUT",
      path: `/subscriptions/${SUB}/resourcegroups/vmia-rg1234abcd?api-version=2024-03-01`,
      body: { location: "eastus", tags: { t: "1" } },
    });
  });

  it("Read of a resource that is gone answers an empty ID, so a refresh drops it", async () => {
    const { arm } = fakeArm();
    arm.notFound.add(RG_ID);
    expect(await provider(arm).read?.(RG_ID, urn(RG, "vmia-rg"), {})).toEqual({ id: "", props: {} });
  });

  it("Read keeps the inputs and their secrets", async () => {
    const { arm } = fakeArm();
    const inputs = { resourceGroupName: "vmia-rg1234abcd", location: "eastus", tags: wrapSecret({ t: "1" }) };
    const result = await provider(arm).read?.(RG_ID, urn(RG, "vmia-rg"), { __inputs: inputs });
    expect(result?.inputs).toEqual(inputs);
    expect(isWrappedSecret((result?.props as Record<string, unknown> | undefined)?.tags)).toBe(true);
  });

  it("Delete sends DELETE with the type's api-version and treats an already-gone resource as deleted", async () => {
    const { arm, calls } = fakeArm();
    await provider(arm).delete?.(RG_ID, urn(RG, "vmia-rg"), {});
    expect(calls[0]).toEqual({ method: "DELETE", path: `${RG_ID}?api-version=2024-03-01` });
    arm.notFound.add(RG_ID);
    await expect(provider(arm).delete?.(RG_ID, urn(RG, "vmia-rg"), {})).resolves.toBeUndefined();
  });

  it("answers getClientConfig as the deployer, and refuses other functions", async () => {
    const p = provider(fakeArm().arm);
    expect(await p.invoke?.("azure-native:authorization:getClientConfig", {})).toEqual({
      outputs: { clientId: "deployer-client", objectId: "deployer-oid", subscriptionId: SUB, tenantId: TENANT },
    });
    await expect(p.invoke?.("azure-native:storage:listStorageAccountKeys", {})).rejects.toThrow(
      "Local Azure does not answer the function azure-native:storage:listStorageAccountKeys: the stand-in supports azure-native:authorization:getClientConfig and the getters of the types it models",
    );
  });

  it("answers a getter with a GET at the type's api-version, and ARM's 404 in azure-native's words", async () => {
    const { arm, calls } = fakeArm();
    const p = provider(arm);
    const vm = `/subscriptions/${SUB}/resourceGroups/rg1/providers/Microsoft.Compute/virtualMachines/vm1`;
    const found = await p.invoke?.("azure-native:compute:getVirtualMachine", {
      resourceGroupName: "rg1",
      vmName: "vm1",
    });
    expect(calls).toEqual([{ method: "GET", path: `${vm}?api-version=2024-11-01` }]);
    expect(found?.outputs).toMatchObject({ id: vm, name: "vm1", location: "eastus", azureApiVersion: "2024-11-01" });
    const assignment = `${RG_ID}/providers/Microsoft.Authorization/roleAssignments/a1`;
    arm.notFound.add(assignment);
    await expect(
      p.invoke?.("azure-native:authorization:getRoleAssignment", { scope: RG_ID, roleAssignmentName: "a1" }),
    ).rejects.toThrow(`request failed ${assignment}: Status=404 Code="ResourceNotFound" Message="gone"`);
  });

  it("carries secrets through arrays and leaves plain outputs alone", () => {
    expect(carrySecrets({ a: [1, wrapSecret("x")] }, { a: [1, "X"], b: 2 })).toEqual({ a: [1, wrapSecret("X")], b: 2 });
    expect(carrySecrets({ a: 1 }, { a: 2 })).toEqual({ a: 2 });
  });
});

describe("azure-native stand-in: Run Command and NAT gateway, as azure-native handles them", () => {
  const RUN_COMMAND = "azure-native:compute:VirtualMachineRunCommandByVirtualMachine";
  const runCommandId = `${RG_ID}/providers/Microsoft.Compute/virtualMachines/vm0/runCommands/probe`;
  const runCommand = {
    resourceGroupName: "vmia-rg1234abcd",
    vmName: "vm0",
    runCommandName: "probe",
    location: "eastus",
    source: { script: "echo hi" },
    parameters: [{ name: "RESOURCE_GROUP", value: "vmia-rg1234abcd" }],
    treatFailureAsDeploymentFailure: true,
  };

  it("PUTs a run command under its VM, then reads it back with a plain GET (no $expand: no instanceView)", async () => {
    const { arm, calls } = fakeArm();
    const result = await provider(arm).create?.(urn(RUN_COMMAND, "probe"), runCommand);
    expect(calls.map(({ method, path }) => `${method} ${path}`)).toEqual([
      `PUT ${runCommandId}?api-version=2024-11-01`,
      `GET ${runCommandId}?api-version=2024-11-01`,
    ]);
    expect(calls[0].body).toEqual({
      location: "eastus",
      properties: {
        source: { script: "echo hi" },
        parameters: [{ name: "RESOURCE_GROUP", value: "vmia-rg1234abcd" }],
        treatFailureAsDeploymentFailure: true,
      },
    });
    expect(result?.id).toBe(runCommandId);
    expect(result?.outs).not.toHaveProperty("instanceView");
  });

  it("names an unnamed run command after its logical name, as azure-native names a child of a named parent", () => {
    const { runCommandName: _name, ...unnamed } = runCommand;
    expect(checkInputs(table(RUN_COMMAND), "probe-0", {}, unnamed, { location: "eastus", random: () => "x" })).toEqual({
      ...unnamed,
      runCommandName: "probe-0",
    });
  });

  it("reports an accepted create whose operation failed as partial: ID, what ARM holds, inputs, reason", async () => {
    const { arm } = fakeArm();
    arm.failOperation.set(runCommandId, { code: "VMExtensionProvisioningError", message: "exit status=3" });
    const failure = await provider(arm)
      .create?.(urn(RUN_COMMAND, "probe"), runCommand)
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    expect(failure).toBeInstanceOf(PartialResourceError);
    const partial = failure as PartialResourceError;
    const reason = `creating ${RUN_COMMAND} probe: Status=200 Code="VMExtensionProvisioningError" Message="exit status=3"`;
    expect(partial.message).toBe(reason);
    expect(partial.id).toBe(runCommandId);
    expect(partial.reasons).toEqual([reason]);
    expect(partial.properties).toMatchObject({ provisioningState: "Failed", __inputs: runCommand });
  });

  it("reports a refused create as a plain failure (nothing was created), and a failed update's operation as partial", async () => {
    const { arm } = fakeArm();
    arm.refuse.set(runCommandId, { code: "OperationNotAllowed", message: "The VM is deallocated." });
    await expect(provider(arm).create?.(urn(RUN_COMMAND, "probe"), runCommand)).rejects.not.toBeInstanceOf(
      PartialResourceError,
    );
    arm.refuse.clear();
    arm.failOperation.set(runCommandId, { code: "VMExtensionProvisioningError", message: "exit status=1" });
    await expect(
      provider(arm).update?.(runCommandId, urn(RUN_COMMAND, "probe"), {}, runCommand),
    ).rejects.toBeInstanceOf(PartialResourceError);
  });

  it("answers getVirtualMachineRunCommandByVirtualMachine with expand sent as $expand", async () => {
    const { arm, calls } = fakeArm();
    await provider(arm).invoke?.("azure-native:compute:getVirtualMachineRunCommandByVirtualMachine", {
      resourceGroupName: "vmia-rg1234abcd",
      vmName: "vm0",
      runCommandName: "probe",
      expand: "instanceView",
    });
    expect(calls).toEqual([{ method: "GET", path: `${runCommandId}?api-version=2024-11-01&$expand=instanceView` }]);
  });

  it("PUTs a NAT gateway with its sku top level and its public IPs under properties", async () => {
    const { arm, calls } = fakeArm();
    await provider(arm).create?.(urn("azure-native:network:NatGateway", "vmia-nat"), {
      resourceGroupName: "vmia-rg1234abcd",
      natGatewayName: "vmia-nat1",
      location: "eastus",
      sku: { name: "Standard" },
      publicIpAddresses: [{ id: `${RG_ID}/providers/Microsoft.Network/publicIPAddresses/nat-ip` }],
      idleTimeoutInMinutes: 4,
    });
    expect(calls[0]).toEqual({
      method: "PUT",
      path: `${RG_ID}/providers/Microsoft.Network/natGateways/vmia-nat1?api-version=2024-05-01`,
      body: {
        location: "eastus",
        sku: { name: "Standard" },
        properties: {
          publicIpAddresses: [{ id: `${RG_ID}/providers/Microsoft.Network/publicIPAddresses/nat-ip` }],
          idleTimeoutInMinutes: 4,
        },
      },
    });
  });
});

describe("tls stand-in", () => {
  const key: GeneratedPrivateKey = {
    privateKeyOpenssh: "-----BEGIN OPENSSH PRIVATE KEY-----\nk\n-----END OPENSSH PRIVATE KEY-----\n",
    privateKeyPem: "pem",
    privateKeyPemPkcs8: "pkcs8",
    publicKeyOpenssh: "ssh-ed25519 AAAA\n",
    publicKeyPem: "-----BEGIN PUBLIC KEY-----\np\n-----END PUBLIC KEY-----\n",
    publicKeyFingerprintMd5: "aa",
    publicKeyFingerprintSha256: "SHA256:x",
    algorithm: "ED25519",
  };
  const keyUrn = "urn:pulumi:local::vm-identity-access::tls:index/privateKey:PrivateKey::vmia-admin-key";

  it("creates a key whose every private form is secret and whose ID is the SHA-1 of its public PEM", async () => {
    const result = await tlsProvider(() => key).create?.(keyUrn, { algorithm: "ED25519" });
    const outs = result?.outs as Record<string, unknown>;
    for (const field of ["privateKeyOpenssh", "privateKeyPem", "privateKeyPemPkcs8"])
      expect(isWrappedSecret(outs[field])).toBe(true);
    expect(outs.publicKeyOpenssh).toBe("ssh-ed25519 AAAA\n");
    expect(result?.id).toMatch(/^[0-9a-f]{40}$/);
  });

  it("replaces the key when its algorithm, bits or curve change, defaults counting as given", () => {
    expect(keyChanges({ algorithm: "ED25519" }, { algorithm: "ED25519" })).toEqual([]);
    expect(keyChanges({ algorithm: "RSA" }, { algorithm: "RSA", rsaBits: 2048 })).toEqual([]);
    expect(keyChanges({ algorithm: "RSA" }, { algorithm: "ED25519" })).toEqual(["algorithm"]);
    expect(keyChanges({ algorithm: "RSA", rsaBits: 2048 }, { algorithm: "RSA", rsaBits: 4096 })).toEqual(["rsaBits"]);
  });

  it("fails Check for an algorithm the provider does not know", async () => {
    const result = await tlsProvider(() => key).check?.(keyUrn, {}, { algorithm: "DSA" });
    expect(result?.failures?.[0]).toMatchObject({ property: "algorithm" });
  });
});

describe("stand-ins refuse to run outside Local Azure", () => {
  const dir = mkdtempSync(join(tmpdir(), "stand-in-"));
  const ca = join(dir, "ca.pem");
  writeFileSync(ca, "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n");
  const kept = (armEndpoint: string) => {
    const file = join(dir, `kept-${Math.random()}.json`);
    writeFileSync(
      file,
      JSON.stringify({
        pid: 1,
        armEndpoint,
        authorityHost: armEndpoint,
        tenantId: TENANT,
        subscriptionId: SUB,
        caBundle: ca,
        deployer: { clientId: "c", clientSecret: "s" },
      }),
    );
    return file;
  };

  it("knows loopback when it sees it", () => {
    expect(["127.0.0.1", "127.78.0.3", "localhost", "[::1]"].map(isLoopbackHost)).toEqual([true, true, true, true]);
    expect(["10.0.0.1", "management.azure.com", "128.0.0.1"].map(isLoopbackHost)).toEqual([false, false, false]);
  });

  it("refuses without LOCAL_AZURE_KEPT, with a kept.json that points at Azure, and accepts a loopback one", () => {
    expect(() => localAzureTarget("pulumi-resource-azure-native", {})).toThrow(
      /stand-in .*refuses to start: LOCAL_AZURE_KEPT is not set/,
    );
    expect(() =>
      localAzureTarget("pulumi-resource-azure-native", { [KEPT_ENV]: kept("https://management.azure.com") }),
    ).toThrow("not an https endpoint on loopback");
    // No Local Azure runs: the one command that starts one, and how this shell then finds it.
    expect(() => localAzureTarget("pulumi-resource-tls", { [KEPT_ENV]: join(dir, "missing.json") })).toThrow(
      `pulumi-resource-tls here is a stand-in that talks to Local Azure (this repository's offline emulator) only, never to Azure, and it refuses to start: no Local Azure is running (LOCAL_AZURE_KEPT=${join(dir, "missing.json")} does not exist). Start Local Azure with \`npm run local -- start\` and run pulumi in a shell that ran eval "$(npm run -s local -- env)" (it sets LOCAL_AZURE_KEPT); for real Azure, install the real plugin (pulumi plugin install resource tls).`,
    );
    // A kept.json left behind by a Local Azure that was killed.
    const stale = kept("https://127.0.0.1:4443");
    expect(() => localAzureTarget("x", { [KEPT_ENV]: stale }, (pid) => pid !== 1)).toThrow(
      `refuses to start: no Local Azure is running (${stale} names process 1, which is gone)`,
    );
    expect(localAzureTarget("x", { [KEPT_ENV]: kept("https://127.0.0.1:4443") })).toMatchObject({
      armEndpoint: "https://127.0.0.1:4443",
      subscriptionId: SUB,
      deployer: { clientId: "c", clientSecret: "s" },
      location: "eastus",
    });
  });

  it("the azure-native plugin process exits with the reason before serving, when no Local Azure is named", async () => {
    const launcher = join(dir, "pulumi-resource-azure-native");
    writeFileSync(launcher, launcherScript(STAND_INS[0], join(__dirname, "..", ".."), process.execPath), {
      mode: 0o755,
    });
    const { [KEPT_ENV]: _unset, ...env } = process.env;
    const run = promisify(execFile)(launcher, ["127.0.0.1:1"], { env, timeout: HANG_GUARD_MS });
    const failure = await run.then(
      () => null,
      (error: { code?: number; stdout?: string; stderr?: string }) => error,
    );
    expect(failure?.code).toBe(3);
    // Nothing on stdout: the engine would otherwise read it as the port of a serving plugin.
    expect(failure?.stdout).toBe("");
    expect(failure?.stderr).toContain("pulumi-resource-azure-native here is a stand-in that talks to Local Azure");
  });

  it("the stand-ins carry exactly the plugin versions the SDKs in node_modules ask for", () => {
    for (const standIn of STAND_INS)
      expect(sdkPluginVersion(join(__dirname, "..", ".."), standIn.name)).toBe(standIn.version);
  });
});
