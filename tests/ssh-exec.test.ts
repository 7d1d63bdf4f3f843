import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  exitFailureMessage,
  RemoteCommandError,
  type RemoteConnection,
  runRemoteCommand,
  SshDialError,
} from "../local/sshExec";
import { type Guest, type GuestOptions, startGuest } from "../local-azure/guest";
import { generatePrivateKey } from "../local-azure/tlsKeys";

/** An ed25519 pair as OpenSSH texts (ssh2's own generator occasionally writes unreadable ed25519 keys). */
function ed25519Pair(): { private: string; public: string } {
  const key = generatePrivateKey("ED25519");
  return { private: key.privateKeyOpenssh, public: key.publicKeyOpenssh.trim() };
}

// Addresses of their own (127.202.x.y) so these tests never collide with other suites' listeners.
const HOST = "127.202.0.1";
const NOBODY_HOME = "127.202.0.99";
const ADMIN = "azureuser";
const adminKey = ed25519Pair();
const strangerKey = ed25519Pair();

let workRoot: string;
const guests: Guest[] = [];
const servers: Server[] = [];
const sockets: Socket[] = [];

beforeAll(() => {
  workRoot = mkdtempSync(join(tmpdir(), "ssh-exec-test-"));
});
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await Promise.all(guests.splice(0).map((guest) => guest.close()));
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});
afterAll(() => rmSync(workRoot, { recursive: true, force: true }));

async function guestOn(host: string, overrides: Partial<GuestOptions> = {}): Promise<Guest> {
  const guest = await startGuest({
    host,
    port: 0,
    adminUsername: ADMIN,
    authorizedKeys: [adminKey.public],
    env: {},
    workDir: join(workRoot, host),
    ...overrides,
  });
  guests.push(guest);
  return guest;
}

function connectionTo(guest: Guest, extra: Partial<RemoteConnection> = {}): RemoteConnection {
  return {
    host: guest.host,
    port: guest.port,
    user: ADMIN,
    privateKey: adminKey.private,
    hostKey: guest.hostPublicKey,
    ...extra,
  };
}

/** ssh-keygen's SHA256 fingerprint, computed here independently from the key line's base64. */
function fingerprintOf(publicKeyLine: string): string {
  const blob = Buffer.from(publicKeyLine.split(" ")[1], "base64");
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

/** Listens on a loopback address and hands out its port; used where a port must be known before a guest binds it. */
function listenTcp(host: string, onSocket: (socket: Socket) => void = () => {}): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer(onSocket);
    servers.push(server);
    server.listen(0, host, () => {
      const address = server.address();
      resolve(typeof address === "object" && address !== null ? address.port : 0);
    });
  });
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected the promise to reject");
}

describe("runRemoteCommand", () => {
  it("runs the command with stdin and returns stdout/stderr trimmed of one newline, like the provider", async () => {
    const guest = await guestOn(HOST);
    const run = await runRemoteCommand({
      connection: connectionTo(guest),
      command: "PROBE_INPUT=inline bash -s",
      stdin: 'echo "$PROBE_INPUT"; cat; echo warn >&2',
    });
    expect(run).toEqual({ stdout: "inline", stderr: "warn", exitCode: 0, dials: 1 });
  });

  it.each([
    ["ED25519", {}],
    ["RSA", { rsaBits: 1024 }],
    ["ECDSA", { ecdsaCurve: "P256" }],
  ] as const)(
    "logs in with every private key format @pulumi/tls gives for %s, as the provider does",
    async (algorithm, opts) => {
      const key = generatePrivateKey(algorithm, opts);
      const guest = await guestOn(HOST, { authorizedKeys: [key.publicKeyOpenssh] });
      const outputs: string[] = [];
      for (const privateKey of [key.privateKeyOpenssh, key.privateKeyPem, key.privateKeyPemPkcs8]) {
        const run = await runRemoteCommand({ connection: connectionTo(guest, { privateKey }), command: "echo in" });
        outputs.push(run.stdout);
      }
      expect(outputs).toEqual(["in", "in", "in"]);
    },
  );

  it("logs in as root when no user is given, the provider's default", async () => {
    const guest = await guestOn(HOST, { adminUsername: "root" });
    const run = await runRemoteCommand({ connection: connectionTo(guest, { user: undefined }), command: "echo $USER" });
    expect(run.stdout).toBe("root");
  });

  it("sends environment as SSH env requests, which the guest ignores like sshd without AcceptEnv", async () => {
    const guest = await guestOn(HOST);
    const run = await runRemoteCommand({
      connection: connectionTo(guest),
      command: 'echo "[$FROM_ENVIRONMENT]"',
      environment: { FROM_ENVIRONMENT: "lost" },
    });
    expect(run.stdout).toBe("[]");
  });

  it("retries through the window in which the VM is still booting", async () => {
    const host = "127.202.0.2";
    const port = await listenTcp(host);
    await new Promise((resolve) => servers.pop()?.close(resolve));
    const guest = await guestOn(host, { port, notReadyForSeconds: 0.3 });
    const run = await runRemoteCommand({
      connection: connectionTo(guest, { port, dialErrorLimit: -1 }),
      command: "echo up",
      retryDelayMs: 20,
    });
    expect(run.stdout).toBe("up");
    expect(run.dials).toBeGreaterThan(1);
  });

  it("gives up once failed dials exceed dialErrorLimit, naming the last error", async () => {
    const error = await rejection(
      runRemoteCommand({
        connection: { host: NOBODY_HOME, port: 2222, user: ADMIN, privateKey: adminKey.private, dialErrorLimit: 2 },
        command: "true",
        retryDelayMs: 1,
      }),
    );
    expect(error).toBeInstanceOf(SshDialError);
    expect((error as SshDialError).reason).toBe("unreachable");
    expect((error as SshDialError).dials).toBe(3);
    expect(error.message).toBe(
      `ssh: could not dial ${ADMIN}@${NOBODY_HOME}:2222 after 3 attempts (dialErrorLimit 2): connect ECONNREFUSED ${NOBODY_HOME}:2222`,
    );
  });

  it("dials exactly once with dialErrorLimit 0", async () => {
    const error = await rejection(
      runRemoteCommand({
        connection: { host: NOBODY_HOME, port: 2222, privateKey: adminKey.private, dialErrorLimit: 0 },
        command: "true",
      }),
    );
    expect((error as SshDialError).dials).toBe(1);
  });

  it("fails at once on a host key mismatch, naming the expected and presented fingerprints", async () => {
    const guest = await guestOn(HOST);
    const impostorKey = ed25519Pair().public;
    const error = await rejection(
      runRemoteCommand({
        connection: connectionTo(guest, { hostKey: impostorKey, dialErrorLimit: 10 }),
        command: "true",
        retryDelayMs: 1,
      }),
    );
    expect(error).toBeInstanceOf(SshDialError);
    expect((error as SshDialError).reason).toBe("host-key-mismatch");
    expect((error as SshDialError).dials).toBe(1);
    expect(error.message).toBe(
      `ssh: host key mismatch for ${HOST}:${guest.port}: expected ssh-ed25519 ${fingerprintOf(impostorKey)}, ` +
        `presented ssh-ed25519 ${fingerprintOf(guest.hostPublicKey)}`,
    );
  });

  it("retries a rejected client key like any dial error, then reports the authentication failure", async () => {
    const guest = await guestOn(HOST);
    const error = await rejection(
      runRemoteCommand({
        connection: connectionTo(guest, { privateKey: strangerKey.private, dialErrorLimit: 1 }),
        command: "true",
        retryDelayMs: 1,
      }),
    );
    expect((error as SshDialError).dials).toBe(2);
    expect(error.message).toBe(
      `ssh: could not dial ${ADMIN}@${HOST}:${guest.port} after 2 attempts (dialErrorLimit 1): All configured authentication methods failed`,
    );
  });

  it("bounds each dial by perDialTimeout when the host accepts TCP but never speaks SSH", async () => {
    const host = "127.202.0.3";
    const silentPort = await listenTcp(host, (socket) => sockets.push(socket));
    const error = await rejection(
      runRemoteCommand({
        connection: { host, port: silentPort, privateKey: adminKey.private, perDialTimeout: 0.2, dialErrorLimit: 1 },
        command: "true",
        retryDelayMs: 1,
      }),
    );
    expect((error as SshDialError).dials).toBe(2);
    expect(error.message).toContain("Timed out while waiting for handshake");
  });

  it("throws RemoteCommandError on a non-zero exit, keeping stdout and stderr", async () => {
    const guest = await guestOn(HOST);
    const error = await rejection(
      runRemoteCommand({ connection: connectionTo(guest), command: "echo '{\"ok\":false}'; echo boom >&2; exit 3" }),
    );
    expect(error).toBeInstanceOf(RemoteCommandError);
    expect(error.message).toBe(
      `Process exited with status 3: running "echo '{\\"ok\\":false}'; echo boom >&2; exit 3":\n{"ok":false}\nboom\n`,
    );
    expect({ ...(error as RemoteCommandError) }).toMatchObject({ stdout: '{"ok":false}', stderr: "boom", exitCode: 3 });
  });

  it("reports a command killed by a signal with no exit code", async () => {
    const guest = await guestOn(HOST);
    const error = await rejection(runRemoteCommand({ connection: connectionTo(guest), command: "kill -TERM $$" }));
    expect(error).toBeInstanceOf(RemoteCommandError);
    expect((error as RemoteCommandError).exitCode).toBeNull();
    expect(error.message).toBe('Process exited with signal TERM: running "kill -TERM $$":\n');
  });

  it("stops before dialling when the signal is already aborted", async () => {
    const error = await rejection(
      runRemoteCommand({
        connection: { host: NOBODY_HOME, privateKey: adminKey.private },
        command: "true",
        signal: AbortSignal.abort(),
      }),
    );
    expect(error).toBeInstanceOf(SshDialError);
    expect((error as SshDialError).reason).toBe("aborted");
    expect((error as SshDialError).dials).toBe(0);
  });

  it("stops dialling when aborted while the host keeps refusing", async () => {
    const controller = new AbortController();
    const run = runRemoteCommand({
      connection: { host: NOBODY_HOME, privateKey: adminKey.private, dialErrorLimit: -1 },
      command: "true",
      retryDelayMs: 5,
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(), 50);
    const error = await rejection(run);
    expect((error as SshDialError).reason).toBe("aborted");
    expect((error as SshDialError).dials).toBeGreaterThan(0);
  });

  it.each<[string, Partial<RemoteConnection>, string]>([
    ["an empty host", { host: "" }, "connection.host must be a host name or IP address; got an empty value"],
    ["port 0", { port: 0 }, "connection.port must be an integer 1..65535; got 0"],
    [
      "no private key",
      { privateKey: undefined },
      "connection.privateKey is required: only public key authentication is supported",
    ],
    ["a garbage private key", { privateKey: "nope" }, "connection.privateKey is not a usable private key ("],
    [
      "a public key as private key",
      { privateKey: strangerKey.public },
      "connection.privateKey is a public key; it must be the private half (OpenSSH or PEM text)",
    ],
    [
      "a garbage host key",
      { hostKey: "ssh-ed25519 ???" },
      'connection.hostKey must be an OpenSSH public key line ("ssh-ed25519 AAAA...");',
    ],
    [
      "dialErrorLimit -2",
      { dialErrorLimit: -2 },
      "connection.dialErrorLimit must be an integer >= 0, or -1 for unlimited; got -2",
    ],
    ["perDialTimeout 0", { perDialTimeout: 0 }, "connection.perDialTimeout must be a number of seconds > 0; got 0"],
  ])("rejects %s before dialling", async (_name, override, message) => {
    const connection: RemoteConnection = { host: NOBODY_HOME, privateKey: adminKey.private, ...override };
    await expect(runRemoteCommand({ connection, command: "true" })).rejects.toThrow(message);
  });
});

describe("failure messages", () => {
  it("follows the provider's wording: the exit, the command line, then all the command printed", () => {
    const silent = { stdout: "", stderr: "" };
    expect(exitFailureMessage({ exitCode: 2 }, "bash -s", { stdout: "", stderr: "bad input\n" })).toBe(
      'Process exited with status 2: running "bash -s":\nbad input\n',
    );
    expect(
      exitFailureMessage({ exitCode: 1 }, "X='a b' bash -s", { stdout: '{"ok":false}\n', stderr: "retry\n" }),
    ).toBe('Process exited with status 1: running "X=\'a b\' bash -s":\n{"ok":false}\nretry\n');
    expect(exitFailureMessage({ exitCode: null, signal: "KILL" }, "true", silent)).toBe(
      'Process exited with signal KILL: running "true":\n',
    );
    expect(exitFailureMessage({ exitCode: null }, "true", silent)).toBe(
      'Process exited without exit status or exit signal: running "true":\n',
    );
  });
});
