import { describe, expect, it } from "vitest";
import { LocalAzureMocks, type LocalMocksOptions, remoteConnection, stateKey } from "../../local/mocks";
import { redactSecrets, SECRET_SIG_KEY, SECRET_SIG_VALUE, unwrapSecrets, wrapSecret } from "../../local/secrets";
import { RemoteCommandError, type RunRemoteCommandOptions } from "../../local/sshExec";
import type { GeneratedPrivateKey } from "../../local-azure/tlsKeys";
import { type FakeArm, fakeArm } from "./fakeArm";

const SUB = "00000000-0000-4000-8000-000000000001";
const TENANT = "00000000-0000-4000-8000-0000000000aa";

const fakeKey: GeneratedPrivateKey = {
  privateKeyOpenssh: "-----BEGIN OPENSSH PRIVATE KEY-----\nfake\n-----END OPENSSH PRIVATE KEY-----\n",
  privateKeyPem: "pem",
  privateKeyPemPkcs8: "pkcs8",
  publicKeyOpenssh: "ssh-ed25519 AAAAfake\n",
  publicKeyPem: "-----BEGIN PUBLIC KEY-----\nfake\n-----END PUBLIC KEY-----\n",
  publicKeyFingerprintMd5: "aa:bb",
  publicKeyFingerprintSha256: "SHA256:fake",
  algorithm: "ED25519",
};

function harness(overrides: Partial<LocalMocksOptions> = {}, arm: FakeArm = fakeArm()) {
  const commands: RunRemoteCommandOptions[] = [];
  let clock = 1000;
  const options: LocalMocksOptions = {
    arm,
    subscriptionId: SUB,
    tenantId: TENANT,
    deployer: { principalId: "deployer-oid", clientId: "deployer-appid" },
    defaultLocation: "eastus",
    runStart: 1000,
    runRemoteCommand: async (opts) => {
      commands.push(opts);
      return { stdout: '{"probeVersion":1}', stderr: "progress", exitCode: 0, dials: 1 };
    },
    generatePrivateKey: () => fakeKey,
    now: () => {
      clock += 50;
      return clock;
    },
    random: () => "0f1e2d3c-4b5a-4697-8877-665544332211",
    ...overrides,
  };
  const puts = () => arm.calls.filter((call) => call.method === "PUT").map(({ path, body }) => ({ path, body }));
  return { mocks: new LocalAzureMocks(options), puts, commands, arm };
}

describe("secret wrappers", () => {
  it("unwraps and redacts Pulumi's secret marker at any depth", () => {
    const value = { a: wrapSecret("s3cret"), list: [1, { b: wrapSecret({ c: "x" }) }] };
    expect(value.a).toEqual({ [SECRET_SIG_KEY]: SECRET_SIG_VALUE, value: "s3cret" });
    expect(unwrapSecrets(value)).toEqual({ a: "s3cret", list: [1, { b: { c: "x" } }] });
    expect(redactSecrets(value)).toEqual({ a: "[secret]", list: [1, { b: "[secret]" }] });
  });
});

describe("LocalAzureMocks", () => {
  it("PUTs an azure-native resource through ARM with its autoname and returns ARM's answer as outputs", async () => {
    const { mocks, puts } = harness();
    const result = await mocks.newResource({
      type: "azure-native:resources:ResourceGroup",
      name: "vmia-rg",
      inputs: {},
    });
    expect(puts()).toEqual([
      {
        path: `/subscriptions/${SUB}/resourcegroups/vmia-rg0f1e2d3c?api-version=2024-03-01`,
        body: { location: "eastus" },
      },
    ]);
    expect(result).toEqual({
      id: `/subscriptions/${SUB}/resourceGroups/vmia-rg0f1e2d3c`,
      state: {
        id: `/subscriptions/${SUB}/resourceGroups/vmia-rg0f1e2d3c`,
        name: "vmia-rg0f1e2d3c",
        location: "eastus",
        properties: { provisioningState: "Succeeded" },
        azureApiVersion: "2024-03-01",
      },
    });
    expect(mocks.resources[0]).toMatchObject({ autoname: "vmia-rg0f1e2d3c", id: result.id });
  });

  it("reuses the previous run's autoname for the same resource", async () => {
    const key = stateKey("azure-native:resources:ResourceGroup", "vmia-rg");
    const { mocks, puts } = harness({
      previous: { [key]: { type: "", name: "vmia-rg", id: "", autoname: "vmia-rgcafebabe", inputs: {}, outputs: {} } },
    });
    await mocks.newResource({ type: "azure-native:resources:ResourceGroup", name: "vmia-rg", inputs: {} });
    expect(puts()[0].path).toBe(`/subscriptions/${SUB}/resourcegroups/vmia-rgcafebabe?api-version=2024-03-01`);
  });

  it("unwraps secret inputs before ARM sees them and keeps them out of the recorded state", async () => {
    const { mocks, puts } = harness();
    await mocks.newResource({
      type: "azure-native:compute:VirtualMachine",
      name: "vmia-vm0",
      inputs: {
        resourceGroupName: "rg",
        vmName: "vm0",
        osProfile: { adminUsername: "azureuser", customData: wrapSecret("Y3VzdG9t") },
      },
    });
    expect(puts()[0].body).toEqual({
      properties: { osProfile: { adminUsername: "azureuser", customData: "Y3VzdG9t" } },
    });
    expect(JSON.stringify(mocks.resources)).not.toContain("Y3VzdG9t");
    expect(mocks.resources[0].inputs).toMatchObject({ osProfile: { customData: "[secret]" } });
  });

  it("fails the resource with ARM's status, code and message", async () => {
    const arm = fakeArm();
    arm.refuse.set(
      `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/nic00f1e2d3c`,
      {
        code: "InvalidResourceReference",
        message: "Subnet s does not exist.",
      },
    );
    const { mocks } = harness({}, arm);
    await expect(
      mocks.newResource({
        type: "azure-native:network:NetworkInterface",
        name: "nic0",
        inputs: { resourceGroupName: "rg" },
      }),
    ).rejects.toThrow(
      'creating azure-native:network:NetworkInterface nic0: Status=400 Code="InvalidResourceReference" Message="Subnet s does not exist."',
    );
    expect(mocks.failures).toEqual([
      'creating azure-native:network:NetworkInterface nic0: Status=400 Code="InvalidResourceReference" Message="Subnet s does not exist."',
    ]);
    expect(mocks.timeline.map((e) => [e.name, e.ok])).toEqual([["nic0", false]]);
  });

  it("answers components with their inputs and records no timeline event for them", async () => {
    const { mocks } = harness();
    const result = await mocks.newResource({
      type: "vm-identity-access:vm:LinuxVm",
      name: "vmia-vm0",
      inputs: { a: 1 },
    });
    expect(result).toEqual({ id: "vmia-vm0_id", state: { a: 1 } });
    expect(mocks.timeline).toEqual([]);
  });

  it("refuses an unknown resource type and an unknown function with a clear error", async () => {
    const { mocks } = harness();
    await expect(mocks.newResource({ type: "aws:s3/bucket:Bucket", name: "b", inputs: {} })).rejects.toThrow(
      "Local Azure does not model resource type aws:s3/bucket:Bucket (resource b): the runner handles the azure-native types of this program, tls:index/privateKey:PrivateKey, command:remote:Command and pulumi:index:Stash",
    );
    expect(() => mocks.call({ token: "azure-native:storage:listStorageAccountKeys", inputs: {} })).toThrow(
      "Local Azure does not answer the function azure-native:storage:listStorageAccountKeys: the runner supports azure-native:authorization:getClientConfig and the getters of the types it models (azure-native:resources:getResourceGroup, ",
    );
  });

  it("answers a getter with ARM's resource as azure-native's outputs, and ARM's 404 as azure-native words it", async () => {
    const { mocks, arm } = harness();
    const scope = `/subscriptions/${SUB}/resourceGroups/rg`;
    arm.notFound.add(`${scope}/providers/Microsoft.Authorization/roleAssignments/missing`);
    const token = "azure-native:authorization:getRoleAssignment";
    expect(await mocks.call({ token, inputs: { scope, roleAssignmentName: "found" } })).toEqual({
      id: `${scope}/providers/Microsoft.Authorization/roleAssignments/found`,
      name: "found",
      location: "eastus",
      azureApiVersion: "2022-04-01",
    });
    await expect(mocks.call({ token, inputs: { scope, roleAssignmentName: "missing" } })).rejects.toMatchObject({
      message: `request failed ${scope}/providers/Microsoft.Authorization/roleAssignments/missing: Status=404 Code="ResourceNotFound" Message="gone"`,
      details: `request failed ${scope}/providers/Microsoft.Authorization/roleAssignments/missing: Status=404 Code="ResourceNotFound" Message="gone"`,
    });
  });

  it("answers getClientConfig with Local Azure's subscription, tenant and deployer", () => {
    const { mocks } = harness();
    expect(mocks.call({ token: "azure-native:authorization:getClientConfig", inputs: {} })).toEqual({
      clientId: "deployer-appid",
      objectId: "deployer-oid",
      subscriptionId: SUB,
      tenantId: TENANT,
    });
  });

  it("generates tls keys, marks the private halves secret, and reuses a previous run's key", async () => {
    const { mocks } = harness();
    const result = await mocks.newResource({
      type: "tls:index/privateKey:PrivateKey",
      name: "vmia-admin-key",
      inputs: { algorithm: "ED25519" },
    });
    expect(result.state.publicKeyOpenssh).toBe(fakeKey.publicKeyOpenssh);
    expect(result.state.privateKeyOpenssh).toEqual(wrapSecret(fakeKey.privateKeyOpenssh));
    expect(result.state.privateKeyPem).toEqual(wrapSecret("pem"));

    const previousKey = { ...fakeKey, publicKeyOpenssh: "ssh-ed25519 AAAAold\n" };
    const again = harness({
      previous: {
        [stateKey("tls:index/privateKey:PrivateKey", "vmia-admin-key")]: {
          type: "tls:index/privateKey:PrivateKey",
          name: "vmia-admin-key",
          id: "x",
          inputs: {},
          outputs: previousKey,
        },
      },
      generatePrivateKey: () => {
        throw new Error("must not generate");
      },
    });
    const reused = await again.mocks.newResource({
      type: "tls:index/privateKey:PrivateKey",
      name: "vmia-admin-key",
      inputs: { algorithm: "ED25519" },
    });
    expect(reused.state.publicKeyOpenssh).toBe("ssh-ed25519 AAAAold\n");
  });

  it("runs remote.Command over SSH with the unwrapped connection, create and stdin; state = inputs + stdout + stderr", async () => {
    const { mocks, commands } = harness();
    const connection = {
      host: "127.77.0.2",
      port: 2222,
      user: "azureuser",
      privateKey: "KEY",
      hostKey: "ssh-ed25519 AAAAhost",
      dialErrorLimit: 60,
      perDialTimeout: 20,
    };
    const inputs = {
      connection: wrapSecret(connection),
      create: "X='1' bash -s",
      stdin: "echo probe",
      logging: "stderr",
    };
    const result = await mocks.newResource({ type: "command:remote:Command", name: "vmia-check-0-user", inputs });
    expect(commands).toEqual([{ connection, command: "X='1' bash -s", stdin: "echo probe", environment: undefined }]);
    expect(result.state).toEqual({ ...inputs, stdout: '{"probeVersion":1}', stderr: "progress" });
    expect(mocks.commandStdouts).toEqual([{ name: "vmia-check-0-user", stdout: '{"probeVersion":1}' }]);
    expect(JSON.stringify(mocks.resources)).not.toContain("KEY");
  });

  it("fails the command resource as the provider does when the remote command exits non-zero", async () => {
    const { mocks } = harness({
      runRemoteCommand: async () => {
        throw new RemoteCommandError("Process exited with status 2: bad input", {
          stdout: '{"ok":false}',
          stderr: "bad input",
          exitCode: 2,
        });
      },
    });
    await expect(
      mocks.newResource({
        type: "command:remote:Command",
        name: "c",
        inputs: { connection: { host: "127.77.0.2" }, create: "false" },
      }),
    ).rejects.toThrow("command:remote:Command c: Process exited with status 2: bad input");
    expect(mocks.commandStdouts).toEqual([{ name: "c", stdout: '{"ok":false}' }]);
  });

  it("checks the connection and the command before dialing", () => {
    expect(() => remoteConnection(wrapSecret({ port: 22 }), "c")).toThrow(
      "command:remote:Command c: connection.host is required (the VM's address)",
    );
  });

  it("records a timeline event per resource in ms since the run started", async () => {
    const events: unknown[] = [];
    const { mocks } = harness({ onEvent: (event) => events.push(event) });
    await mocks.newResource({ type: "azure-native:resources:ResourceGroup", name: "vmia-rg", inputs: {} });
    expect(mocks.timeline).toEqual([
      { type: "azure-native:resources:ResourceGroup", name: "vmia-rg", startedAt: 50, finishedAt: 100, ok: true },
    ]);
    expect(events).toEqual(mocks.timeline);
  });
});
