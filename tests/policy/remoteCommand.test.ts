import { describe, expect, it } from "vitest";
import { evaluateResource } from "../../local/policyCheck";
import { type RemoteCommandProps, remoteCommandPinned, remoteCommandViolations } from "../../policy/remoteCommand";

const HOST_KEY_ALLOWED = 'allowed: the host\'s public key (e.g. "ssh-ed25519 AAAA…"), so only that host is trusted';

const stackCommand: RemoteCommandProps = {
  connection: {
    host: "203.0.113.10",
    port: 22,
    user: "azureuser",
    privateKey: "-----BEGIN OPENSSH PRIVATE KEY-----",
    hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH",
    dialErrorLimit: 60,
    perDialTimeout: 20,
  },
  create: "bash -s",
  addPreviousOutputInEnv: false,
  logging: "stderr",
};

describe("remote-command-pinned-host-key", () => {
  it("passes the stack's check command: host key pinned, previous output kept out", () => {
    expect(remoteCommandViolations("vmia-check-0-user", stackCommand)).toEqual([]);
  });

  it("rejects a connection without a host key, or with an empty one", () => {
    const { hostKey: _dropped, ...unpinned } = stackCommand.connection;
    expect(remoteCommandViolations("c", { ...stackCommand, connection: unpinned })).toEqual([
      `remote command "c": connection.hostKey is not set; ${HOST_KEY_ALLOWED}`,
    ]);
    expect(
      remoteCommandViolations("c", { ...stackCommand, connection: { ...stackCommand.connection, hostKey: " " } }),
    ).toEqual([`remote command "c": connection.hostKey is " "; ${HOST_KEY_ALLOWED}`]);
  });

  it("rejects addPreviousOutputInEnv true, and left out (the provider's default is true)", () => {
    expect(remoteCommandViolations("c", { ...stackCommand, addPreviousOutputInEnv: true })).toEqual([
      'remote command "c": addPreviousOutputInEnv is true; allowed: false',
    ]);
    const { addPreviousOutputInEnv: _dropped, ...defaulted } = stackCommand;
    expect(remoteCommandViolations("c", defaulted)).toEqual([
      `remote command "c": addPreviousOutputInEnv is not set (the provider's default is true); allowed: false`,
    ]);
  });

  it("the policy object reads command:remote:Command inputs with a secret connection, as registered", async () => {
    const secret = (value: unknown) => ({
      "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
      value,
    });
    const { hostKey: _dropped, ...unpinned } = stackCommand.connection;
    expect(
      await evaluateResource(
        { type: "command:remote:Command", name: "c", inputs: { ...stackCommand, connection: secret(unpinned) } },
        [remoteCommandPinned],
      ),
    ).toEqual([
      {
        policy: "remote-command-pinned-host-key",
        enforcementLevel: "mandatory",
        resource: "c",
        message: `remote command "c": connection.hostKey is not set; ${HOST_KEY_ALLOWED}`,
      },
    ]);
    expect(
      await evaluateResource(
        {
          type: "command:remote:Command",
          name: "c",
          inputs: { ...stackCommand, connection: secret(stackCommand.connection) },
        },
        [remoteCommandPinned],
      ),
    ).toEqual([]);
  });
});
