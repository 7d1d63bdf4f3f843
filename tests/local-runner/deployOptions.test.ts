import { describe, expect, it } from "vitest";
import { deletionOrder, runnerConfig } from "../../local/deploy";
import type { StateEntry } from "../../local/mocks";
import { workerEnvironment } from "../../local/workerProcess";

const azure = { armEndpoint: "https://127.0.0.1:40000", sshPort: 40022 };

describe("runnerConfig", () => {
  it("always points the program at Local Azure and admits SSH from loopback only", () => {
    expect(runnerConfig({}, azure)).toEqual({
      "vm-identity-access:armEndpoint": "https://127.0.0.1:40000",
      "vm-identity-access:sshPort": "40022",
      "vm-identity-access:sshAllowedCidr": "127.0.0.1/32",
    });
  });

  it("adds the option-derived keys as raw strings; extra config wins and may be namespaced or not", () => {
    expect(
      runnerConfig(
        {
          identity: "both",
          vmCount: 3,
          grantAccess: false,
          accessCheckTimeoutSeconds: 60,
          config: {
            sshAllowedCidr: "0.0.0.0/0",
            "vm-identity-access:vmCount": "0",
            "azure-native:environment": "china",
          },
        },
        azure,
      ),
    ).toEqual({
      "vm-identity-access:armEndpoint": "https://127.0.0.1:40000",
      "vm-identity-access:sshPort": "40022",
      "vm-identity-access:sshAllowedCidr": "0.0.0.0/0",
      "vm-identity-access:identity": "both",
      "vm-identity-access:vmCount": "0",
      "vm-identity-access:grantAccess": "false",
      "vm-identity-access:accessCheckTimeoutSeconds": "60",
      "azure-native:environment": "china",
    });
  });

  it("with real guests sets none of the emulator's settings: the program runs as on Azure", () => {
    expect(runnerConfig({ guest: "linux", vmCount: 3 }, azure)).toEqual({
      "vm-identity-access:sshAllowedCidr": "127.0.0.1/32",
      "vm-identity-access:vmCount": "3",
    });
  });

  it("through Run Command sets accessCheckVia and neither sshAllowedCidr (the program refuses it) nor the SSH port", () => {
    expect(runnerConfig({ accessCheckVia: "runCommand" }, azure)).toEqual({
      "vm-identity-access:armEndpoint": "https://127.0.0.1:40000",
      "vm-identity-access:accessCheckVia": "runCommand",
    });
    expect(runnerConfig({ accessCheckVia: "runCommand", guest: "linux", identity: "both" }, azure)).toEqual({
      "vm-identity-access:accessCheckVia": "runCommand",
      "vm-identity-access:identity": "both",
    });
    // Given as raw config (as the e2e harness sets the program's settings), the same.
    expect(runnerConfig({ config: { "vm-identity-access:accessCheckVia": "runCommand" } }, azure)).toEqual({
      "vm-identity-access:armEndpoint": "https://127.0.0.1:40000",
      "vm-identity-access:accessCheckVia": "runCommand",
    });
    expect(runnerConfig({ accessCheckVia: "ssh" }, azure)).toEqual({
      "vm-identity-access:armEndpoint": "https://127.0.0.1:40000",
      "vm-identity-access:sshPort": "40022",
      "vm-identity-access:sshAllowedCidr": "127.0.0.1/32",
      "vm-identity-access:accessCheckVia": "ssh",
    });
  });

  it("keeps a surrounding pulumi run's config out of the worker", () => {
    expect(workerEnvironment({ PATH: "/bin", PULUMI_CONFIG: "{}", PULUMI_CONFIG_SECRET_KEYS: "[]" })).toEqual({
      PATH: "/bin",
    });
  });
});

describe("deletionOrder", () => {
  it("deletes ARM resources dependents first (reverse creation) and skips keys and commands", () => {
    const entry = (type: string, name: string): StateEntry => ({ type, name, id: `/${name}`, inputs: {}, outputs: {} });
    const order = deletionOrder([
      entry("tls:index/privateKey:PrivateKey", "key"),
      entry("azure-native:resources:ResourceGroup", "rg"),
      entry("azure-native:network:NetworkInterface", "nic"),
      entry("azure-native:compute:VirtualMachine", "vm"),
      entry("azure-native:authorization:RoleAssignment", "ra"),
      entry("command:remote:Command", "check"),
    ]);
    expect(order.map((e) => e.name)).toEqual(["ra", "vm", "nic", "rg"]);
  });
});
