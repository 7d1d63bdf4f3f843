import { mkdtempSync, realpathSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client, type ConnectConfig, utils } from "ssh2";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { parse } from "yaml";
import { renderHostKeyCloudConfig } from "../../components/cloudInit";
import { hostKeysFromCustomData } from "../../local-azure/cloudInit";
import { type Guest, type GuestOptions, startGuest } from "../../local-azure/guest";
import { generatePrivateKey } from "../../local-azure/tlsKeys";

/** An ed25519 pair as OpenSSH texts (ssh2's own generator occasionally writes unreadable ed25519 keys). */
function ed25519Pair(): { private: string; public: string } {
  const key = generatePrivateKey("ED25519");
  return { private: key.privateKeyOpenssh, public: key.publicKeyOpenssh.trim() };
}

// Addresses of their own (127.201.x.y) so these tests never collide with other suites' guests.
const HOST = "127.201.0.1";
const ADMIN = "azureuser";
const adminKey = ed25519Pair();
const otherKey = ed25519Pair();
const pinnedHostKey = ed25519Pair();

let workRoot: string;
const guests: Guest[] = [];

beforeAll(() => {
  workRoot = realpathSync(mkdtempSync(join(tmpdir(), "guest-test-")));
});
afterEach(async () => {
  vi.unstubAllEnvs();
  await Promise.all(guests.splice(0).map((guest) => guest.close()));
});
afterAll(() => rmSync(workRoot, { recursive: true, force: true }));

async function guestOn(host: string, overrides: Partial<GuestOptions> = {}): Promise<Guest> {
  const guest = await startGuest({
    host,
    port: 0,
    adminUsername: ADMIN,
    authorizedKeys: [adminKey.public],
    env: { AZURE_POD_IDENTITY_AUTHORITY_HOST: "http://127.201.0.254:8080" },
    workDir: join(workRoot, host),
    ...overrides,
  });
  guests.push(guest);
  return guest;
}

/** Connects and resolves on "ready"; rejects with the client's error (refused, auth failure, ...). */
function connect(config: ConnectConfig): Promise<Client> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    client.once("ready", () => resolve(client));
    client.once("error", (error) => {
      client.end();
      reject(error);
    });
    client.connect({ readyTimeout: 10_000, ...config });
  });
}

function connectAsAdmin(guest: Guest, extra: Partial<ConnectConfig> = {}): Promise<Client> {
  return connect({ host: guest.host, port: guest.port, username: ADMIN, privateKey: adminKey.private, ...extra });
}

interface ExecResult {
  stdout: string;
  stderr: string;
  code: number | null;
}

function exec(
  client: Client,
  command: string,
  opts: { env?: Record<string, string>; stdin?: string; pty?: boolean } = {},
): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    client.exec(command, { env: opts.env, pty: opts.pty }, (error, channel) => {
      if (error) return reject(error);
      let stdout = "";
      let stderr = "";
      let code: number | null = null;
      channel.on("data", (chunk: Buffer) => {
        stdout += chunk.toString();
      });
      channel.stderr.on("data", (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      channel.on("exit", (exitCode: number | null) => {
        code = exitCode;
      });
      channel.on("close", () => resolve({ stdout, stderr, code }));
      channel.end(opts.stdin ?? "");
    });
  });
}

/** A port nobody listens on at this address yet: needed where the guest must bind a known port later. */
function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function errorCode(promise: Promise<unknown>): Promise<string | undefined> {
  return promise.then(
    () => "connected",
    (error: NodeJS.ErrnoException & { level?: string }) => error.code ?? error.level ?? error.message,
  );
}

describe("cloud-config host keys", () => {
  it("round-trips the pinned ed25519 host key through customData", () => {
    const cloudConfig = renderHostKeyCloudConfig({
      privateKey: pinnedHostKey.private,
      publicKey: pinnedHostKey.public,
    });
    const customData = Buffer.from(cloudConfig).toString("base64");
    expect(hostKeysFromCustomData(customData)).toEqual({
      ed25519Private: pinnedHostKey.private,
      ed25519Public: pinnedHostKey.public,
    });
  });

  it("renders a cloud-config that deletes other host keys and generates only ed25519", () => {
    const cloudConfig = renderHostKeyCloudConfig({
      privateKey: pinnedHostKey.private,
      publicKey: pinnedHostKey.public,
    });
    expect(cloudConfig.startsWith("#cloud-config\n")).toBe(true);
    expect(parse(cloudConfig)).toEqual({
      ssh_deletekeys: true,
      ssh_genkeytypes: ["ed25519"],
      ssh_keys: { ed25519_private: pinnedHostKey.private, ed25519_public: pinnedHostKey.public },
    });
  });

  it("rejects a host key that is not ed25519", () => {
    const rsa = utils.generateKeyPairSync("rsa", { bits: 1024 });
    expect(() => renderHostKeyCloudConfig({ privateKey: rsa.private, publicKey: rsa.public })).toThrow(
      'hostKey.publicKey must be an ed25519 OpenSSH public key line ("ssh-ed25519 AAAA..."); got "ssh-rsa..."',
    );
  });

  it("reads no key from absent customData or a cloud-config without ssh_keys", () => {
    expect(hostKeysFromCustomData(undefined)).toEqual({});
    expect(hostKeysFromCustomData(Buffer.from("#cloud-config\npackages: [curl]\n").toString("base64"))).toEqual({});
  });

  it.each([
    [
      "not base64",
      "%%%",
      "customData must be base64 (of a #cloud-config document); it contains characters outside base64",
    ],
    [
      "a shell script",
      Buffer.from("#!/bin/bash\necho hi\n").toString("base64"),
      'customData must decode to a cloud-config starting with "#cloud-config"; it starts with "#!/bin/bash\necho hi\n"',
    ],
    [
      "broken YAML",
      Buffer.from("#cloud-config\nssh_keys: [unclosed\n").toString("base64"),
      "customData is not valid cloud-config YAML:",
    ],
    [
      "ssh_keys as a list",
      Buffer.from("#cloud-config\nssh_keys: [a, b]\n").toString("base64"),
      "customData cloud-config ssh_keys must be a mapping such as {ed25519_private: ..., ed25519_public: ...}",
    ],
    [
      "a numeric key",
      Buffer.from("#cloud-config\nssh_keys: {ed25519_private: 42}\n").toString("base64"),
      "customData cloud-config ssh_keys.ed25519_private must be a string; got number",
    ],
  ])("rejects %s with a clear error", (_name, customData, message) => {
    expect(() => hostKeysFromCustomData(customData)).toThrow(message);
  });
});

describe("guest SSH server", () => {
  it("runs commands for the admin user with the authorized key, in a clean environment", async () => {
    vi.stubEnv("HOST_ONLY_SECRET", "must-not-leak");
    const guest = await guestOn(HOST);
    const client = await connectAsAdmin(guest);
    const result = await exec(
      client,
      "pwd; env | cut -d= -f1 | sort | tr '\\n' ' '; echo; echo $PATH $HOME $USER $LOGNAME $LANG",
    );
    client.end();
    const workDir = join(workRoot, HOST);
    expect(result).toEqual({
      stdout:
        `${workDir}\n` +
        "AZURE_POD_IDENTITY_AUTHORITY_HOST HOME LANG LOGNAME PATH PWD SHLVL USER _ \n" +
        `/usr/local/bin:/usr/bin:/bin ${workDir} ${ADMIN} ${ADMIN} C.UTF-8\n`,
      stderr: "",
      code: 0,
    });
  });

  it("rejects another user even with the authorized key", async () => {
    const guest = await guestOn(HOST);
    const error = await errorCode(
      connect({ host: guest.host, port: guest.port, username: "root", privateKey: adminKey.private }),
    );
    expect(error).toBe("client-authentication");
  });

  it("rejects a key that is not authorized", async () => {
    const guest = await guestOn(HOST);
    expect(await errorCode(connectAsAdmin(guest, { privateKey: otherKey.private }))).toBe("client-authentication");
  });

  it("rejects passwords and keyboard-interactive logins", async () => {
    const guest = await guestOn(HOST);
    const error = await errorCode(
      connect({ host: guest.host, port: guest.port, username: ADMIN, password: "hunter2", tryKeyboard: true }),
    );
    expect(error).toBe("client-authentication");
  });

  it("presents the host key installed from customData", async () => {
    const cloudConfig = renderHostKeyCloudConfig({
      privateKey: pinnedHostKey.private,
      publicKey: pinnedHostKey.public,
    });
    const hostKeys = hostKeysFromCustomData(Buffer.from(cloudConfig).toString("base64"));
    const guest = await guestOn(HOST, { hostKeyPrivate: hostKeys.ed25519Private });
    let presented: Buffer | undefined;
    const client = await connectAsAdmin(guest, {
      hostVerifier: (key: Buffer) => {
        presented = key;
        return true;
      },
    });
    client.end();
    expect(guest.hostPublicKey).toBe(pinnedHostKey.public);
    expect(presented?.toString("base64")).toBe(pinnedHostKey.public.split(" ")[1]);
  });

  it("generates an ed25519 host key when none is configured and presents that one", async () => {
    const guest = await guestOn(HOST);
    let presented: Buffer | undefined;
    const client = await connectAsAdmin(guest, {
      hostVerifier: (key: Buffer) => {
        presented = key;
        return true;
      },
    });
    client.end();
    expect(guest.hostPublicKey).toMatch(/^ssh-ed25519 [A-Za-z0-9+/]+=*$/);
    expect(presented?.toString("base64")).toBe(guest.hostPublicKey.split(" ")[1]);
  });

  it("refuses connections while booting, then accepts them", async () => {
    const host = "127.201.0.2";
    const port = await freePort(host);
    const guest = await guestOn(host, { port, notReadyForSeconds: 0.3 });
    expect(guest.port).toBe(port);
    expect(await errorCode(connectAsAdmin(guest))).toBe("ECONNREFUSED");
    let outcome: string | undefined;
    // Poll rather than sleep a guessed time: the window ends at 0.3 s; 10 s is only a safety net.
    for (let attempt = 0; attempt < 200 && outcome !== "connected"; attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      outcome = await errorCode(connectAsAdmin(guest).then((client) => client.end()));
    }
    expect(outcome).toBe("connected");
  });

  it("lets every VM use the same port, each guest on its own address", async () => {
    const port = await freePort("127.201.0.3");
    const first = await guestOn("127.201.0.3", { port });
    const second = await guestOn("127.201.0.4", { port, adminUsername: "other" });
    const viaFirst = await connectAsAdmin(first);
    const viaSecond = await connectAsAdmin(second, { username: "other" });
    const answers = [(await exec(viaFirst, "echo $USER")).stdout, (await exec(viaSecond, "echo $USER")).stdout];
    viaFirst.end();
    viaSecond.end();
    expect(answers).toEqual([`${ADMIN}\n`, "other\n"]);
  });

  it("ignores SSH env requests, while variables set inline on the command line reach the command", async () => {
    const guest = await guestOn(HOST);
    const client = await connectAsAdmin(guest);
    const viaEnvRequest = await exec(client, 'echo "[$SENT_BY_ENV]"', { env: { SENT_BY_ENV: "x" } });
    const inline = await exec(client, "SENT_INLINE=x bash -c 'echo \"[$SENT_INLINE]\"'");
    client.end();
    expect(viaEnvRequest.stdout).toBe("[]\n");
    expect(inline.stdout).toBe("[x]\n");
  });

  it("passes stdin to the command and propagates EOF", async () => {
    const guest = await guestOn(HOST);
    const client = await connectAsAdmin(guest);
    const result = await exec(client, "cat; echo done", { stdin: "line one\nline two\n" });
    client.end();
    expect(result).toEqual({ stdout: "line one\nline two\ndone\n", stderr: "", code: 0 });
  });

  it("returns the exit status and stderr", async () => {
    const guest = await guestOn(HOST);
    const client = await connectAsAdmin(guest);
    const result = await exec(client, "echo partial; echo 'it broke' >&2; exit 7");
    client.end();
    expect(result).toEqual({ stdout: "partial\n", stderr: "it broke\n", code: 7 });
  });

  it("rejects shell, pty and subsystem requests", async () => {
    const guest = await guestOn(HOST);
    const client = await connectAsAdmin(guest);
    const shell = await new Promise<Error | undefined>((resolve) => client.shell(false, (error) => resolve(error)));
    const sftp = await new Promise<Error | undefined>((resolve) => client.sftp((error) => resolve(error)));
    const pty = await exec(client, "true", { pty: true }).then(
      () => undefined,
      (error: Error) => error,
    );
    client.end();
    expect(shell?.message).toBe("Unable to open shell");
    expect(sftp?.message).toBe("Unable to start subsystem: sftp");
    expect(pty?.message).toBe("Unable to request a pseudo-terminal");
  });

  it("close() kills running commands, drops connections and stops listening", async () => {
    const guest = await guestOn(HOST);
    const client = await connectAsAdmin(guest);
    const connectionClosed = new Promise<void>((resolve) => client.once("close", () => resolve()));
    const pid = await new Promise<number>((resolve, reject) => {
      client.exec("echo $$; exec sleep 60", (error, channel) => {
        if (error) return reject(error);
        channel.once("data", (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
        channel.end();
      });
    });
    expect(isAlive(pid)).toBe(true);
    await guest.close();
    await connectionClosed;
    for (let attempt = 0; attempt < 200 && isAlive(pid); attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    expect(isAlive(pid)).toBe(false);
    expect(await errorCode(connectAsAdmin(guest))).toBe("ECONNREFUSED");
  });

  it("rejects a non-loopback address and an unparsable authorized key with clear errors", async () => {
    await expect(guestOn("10.0.0.4")).rejects.toThrow(
      'guest host must be an IPv4 loopback address (127.x.y.z); got "10.0.0.4"',
    );
    await expect(guestOn(HOST, { authorizedKeys: ["ssh-ed25519 not-a-key"] })).rejects.toThrow(
      "guest authorizedKeys[0] is not a valid OpenSSH key",
    );
  });
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
