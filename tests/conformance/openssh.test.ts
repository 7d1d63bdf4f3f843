import { chmodSync, existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderHostKeyCloudConfig } from "../../components/cloudInit";
import { probeCommandLine } from "../../components/probeCommand";
import { LocalAzure, type SeededVm, seedVm } from "../../local-azure/index";
import { generatePrivateKey } from "../../local-azure/tlsKeys";
import { needsTools, requireTool } from "../support/systemTools";
import { knownHostsLine, runTool, type ToolResult } from "./support/ssh";

/**
 * Local Azure's SSH guest as OpenSSH's own client (Debian openssh-client, `ssh`) meets it. Until
 * now only ssh2 clients talked to the guest, so a misreading of SSH would have been repeated on
 * both sides; here OpenSSH is the referee. The VM's host key is generated like the program's
 * @pulumi/tls key and installed through the program's own cloud-config (customData), and ssh
 * trusts nothing but a known_hosts line built from the key the program pins in connection.hostKey,
 * with StrictHostKeyChecking=yes and only the pinned key's algorithm offered, as the command
 * provider does.
 */

const ADMIN = "azureuser";
let azure: LocalAzure;
let vm: SeededVm;
let work: string;
let host: string;
let port: number;
/** What components/vm.ts hands connection.hostKey: the tls key's publicKeyOpenssh, trimmed. */
let pinnedHostKey: string;
/** Its SHA256 fingerprint, as ssh-keygen (and ssh's warnings) print it. */
let pinnedFingerprint: string;
let adminKeyFile: string;
let otherKeyFile: string;
let pinnedKnownHosts: string;
let otherKnownHosts: string;
let emptyKnownHosts: string;
/** A second VM that authorizes an RSA user key, the kind a user's sshPublicKey setting often holds. */
let rsaVm: SeededVm;
let rsaKeyFile: string;
let rsaVmKnownHosts: string;

function writePrivateKey(name: string, text: string): string {
  const path = join(work, name);
  writeFileSync(path, text, { mode: 0o600 });
  // ssh refuses a private key others can read ("UNPROTECTED PRIVATE KEY FILE"); umask must not matter.
  chmodSync(path, 0o600);
  return path;
}

beforeAll(async () => {
  work = realpathSync(mkdtempSync(join(tmpdir(), "openssh-conformance-")));
  // The program's host key (tls.PrivateKey ED25519) and customData (base64 of its cloud-config), as
  // components/vm.ts builds them.
  const hostKey = generatePrivateKey("ED25519");
  pinnedHostKey = hostKey.publicKeyOpenssh.trim();
  pinnedFingerprint = hostKey.publicKeyFingerprintSha256;
  const customData = Buffer.from(
    renderHostKeyCloudConfig({ privateKey: hostKey.privateKeyOpenssh, publicKey: hostKey.publicKeyOpenssh }),
  ).toString("base64");
  const adminKey = generatePrivateKey("ED25519");
  azure = await LocalAzure.start({
    dataDir: join(work, "azure"),
    faults: { rbacDelaySeconds: 0, identityAttachDelaySeconds: 0, sshNotReadySeconds: 0, lroSeconds: 0 },
  });
  vm = await seedVm(azure, {
    identity: "user",
    resourceGroup: "rg-openssh",
    vmName: "vm-openssh",
    adminUsername: ADMIN,
    sshPublicKey: adminKey.publicKeyOpenssh.trim(),
    customData,
  });
  host = vm.publicIp;
  port = azure.sshPort;
  adminKeyFile = writePrivateKey("admin_key", adminKey.privateKeyOpenssh);
  otherKeyFile = writePrivateKey("other_key", generatePrivateKey("ED25519").privateKeyOpenssh);
  pinnedKnownHosts = join(work, "known_hosts.pinned");
  writeFileSync(pinnedKnownHosts, `${knownHostsLine(host, port, pinnedHostKey)}\n`);
  otherKnownHosts = join(work, "known_hosts.other");
  writeFileSync(otherKnownHosts, `${knownHostsLine(host, port, generatePrivateKey("ED25519").publicKeyOpenssh)}\n`);
  emptyKnownHosts = join(work, "known_hosts.empty");
  writeFileSync(emptyKnownHosts, "");

  const rsaHostKey = generatePrivateKey("ED25519");
  const rsaUserKey = generatePrivateKey("RSA");
  rsaVm = await seedVm(azure, {
    identity: "user",
    resourceGroup: "rg-openssh-rsa",
    vmName: "vm-openssh-rsa",
    adminUsername: ADMIN,
    sshPublicKey: rsaUserKey.publicKeyOpenssh.trim(),
    customData: Buffer.from(
      renderHostKeyCloudConfig({ privateKey: rsaHostKey.privateKeyOpenssh, publicKey: rsaHostKey.publicKeyOpenssh }),
    ).toString("base64"),
  });
  rsaKeyFile = writePrivateKey("rsa_user_key", rsaUserKey.privateKeyOpenssh);
  rsaVmKnownHosts = join(work, "known_hosts.rsa-vm");
  writeFileSync(rsaVmKnownHosts, `${knownHostsLine(rsaVm.publicIp, port, rsaHostKey.publicKeyOpenssh)}\n`);
});

afterAll(async () => {
  await azure?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

/**
 * `ssh` as the check would use it: only this known_hosts file, strict checking, only ed25519 host
 * keys, no agent, no config file, no prompts, no password fallback.
 */
function ssh(
  command: string,
  opts: {
    knownHosts?: string;
    identity?: string;
    user?: string;
    stdin?: string;
    host?: string;
    hostKeyAlgorithms?: string;
  } = {},
): Promise<ToolResult> {
  const args = [
    "-F",
    "/dev/null",
    "-o",
    `UserKnownHostsFile=${opts.knownHosts ?? pinnedKnownHosts}`,
    "-o",
    "GlobalKnownHostsFile=/dev/null",
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    `HostKeyAlgorithms=${opts.hostKeyAlgorithms ?? "ssh-ed25519"}`,
    "-o",
    "UpdateHostKeys=no",
    "-o",
    "BatchMode=yes",
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    "IdentityAgent=none",
    "-o",
    "PasswordAuthentication=no",
    "-o",
    "ConnectTimeout=10",
    "-i",
    opts.identity ?? adminKeyFile,
    "-p",
    String(port),
    "-l",
    opts.user ?? ADMIN,
    opts.host ?? host,
    command,
  ];
  // Without stdin, ssh gets an empty one (EOF at once), as -n would give.
  return runTool(requireTool("ssh"), args, { stdin: opts.stdin ?? "" });
}

describe("knownHostsLine", () => {
  it("brackets host and port unless the port is 22, and keeps only the key's type and blob", () => {
    expect(knownHostsLine("127.0.0.5", 2222, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA== root@vm\n")).toBe(
      "[127.0.0.5]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA==",
    );
    expect(knownHostsLine("vm.example.com", 22, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA==")).toBe(
      "vm.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA==",
    );
  });

  it.each([
    [
      "a host with a space",
      "a b",
      22,
      "ssh-ed25519 AAAA",
      'host must be a host name or IP address (letters, digits, ".", ":", "-"); got "a b"',
    ],
    [
      "a host with a newline",
      "h\n* ssh-ed25519 AAAA",
      22,
      "ssh-ed25519 AAAA",
      "host must be a host name or IP address",
    ],
    ["a host with a comma", "h,other", 22, "ssh-ed25519 AAAA", "host must be a host name or IP address"],
    ["port 0", "h", 0, "ssh-ed25519 AAAA", "port must be an integer 1..65535; got 0"],
    [
      "a key without a blob",
      "h",
      22,
      "ssh-ed25519",
      'hostPublicKey must be an OpenSSH public key line ("ssh-ed25519 AAAA..."); got "ssh-ed25519"',
    ],
    [
      "a private key",
      "h",
      22,
      "-----BEGIN OPENSSH PRIVATE KEY-----",
      "hostPublicKey must be an OpenSSH public key line",
    ],
  ])("rejects %s", (_name, badHost, badPort, key, message) => {
    expect(() => knownHostsLine(badHost, badPort, key)).toThrow(message);
  });
});

describe("OpenSSH against the guest", () => {
  needsTools("ssh");

  it("connects with the known_hosts line built from the pinned host key and runs the command", async () => {
    expect(await ssh("echo ok")).toEqual({ code: 0, stdout: "ok\n", stderr: "" });
  });

  it("refuses a host whose known_hosts line holds another ed25519 key, before the command runs", async () => {
    const marker = join(work, "ran-with-other-key");
    const result = await ssh(`touch ${marker}`, { knownHosts: otherKnownHosts });
    expect(result.code).toBe(255);
    expect(result.stdout).toBe("");
    expect(result.stderr).toContain("WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!");
    // What the guest sent is the pinned key: only the known_hosts line was wrong.
    expect(result.stderr.replace(/\r/g, "")).toContain(
      `The fingerprint for the ED25519 key sent by the remote host is\n${pinnedFingerprint}.\n`,
    );
    expect(result.stderr).toContain(
      `Host key for [${host}]:${port} has changed and you have requested strict checking.`,
    );
    expect(result.stderr).toMatch(/Host key verification failed\.\r?\n$/);
    expect(existsSync(marker)).toBe(false);
  });

  it("refuses a host it has no key for under strict checking", async () => {
    const result = await ssh("echo ok", { knownHosts: emptyKnownHosts });
    expect(result).toEqual({
      code: 255,
      stdout: "",
      stderr:
        `No ED25519 host key is known for [${host}]:${port} and you have requested strict checking.\r\n` +
        "Host key verification failed.\r\n",
    });
  });

  it("finds only the ed25519 host key on offer, as cloud-init leaves the VM (ssh_deletekeys, one key)", async () => {
    const result = await ssh("echo ok", { hostKeyAlgorithms: "rsa-sha2-512,rsa-sha2-256,ecdsa-sha2-nistp256" });
    expect(result).toEqual({
      code: 255,
      stdout: "",
      stderr: `Unable to negotiate with ${host} port ${port}: no matching host key type found. Their offer: ssh-ed25519\r\n`,
    });
  });

  it("signs in with an RSA user key through an SHA-2 signature (OpenSSH no longer offers ssh-rsa)", async () => {
    // ssh2 1.17's server-sig-algs list lacks a comma ("ecdsa-sha2-nistp521rsa-sha2-512"), so OpenSSH
    // reads no rsa-sha2-512 there and signs with rsa-sha2-256, which the list does hold: it still works.
    const result = await ssh("echo ok", { host: rsaVm.publicIp, identity: rsaKeyFile, knownHosts: rsaVmKnownHosts });
    expect(result).toEqual({ code: 0, stdout: "ok\n", stderr: "" });
  });

  it("is refused with a user key the VM does not authorize", async () => {
    const result = await ssh("echo ok", { identity: otherKeyFile });
    expect(result).toEqual({
      code: 255,
      stdout: "",
      stderr: `${ADMIN}@${host}: Permission denied (publickey).\r\n`,
    });
  });

  it("is refused as another user with the authorized key", async () => {
    const result = await ssh("echo ok", { user: "root" });
    expect(result).toEqual({ code: 255, stdout: "", stderr: `root@${host}: Permission denied (publickey).\r\n` });
  });

  it("gets the command's exit status and its stderr apart from stdout", async () => {
    expect(await ssh("echo partial; echo 'it broke' >&2; exit 7")).toEqual({
      code: 7,
      stdout: "partial\n",
      stderr: "it broke\n",
    });
  });

  it("exits 255 when the command dies by a signal (the guest sends exit-signal, as sshd does)", async () => {
    expect(await ssh("kill -KILL $$")).toEqual({ code: 255, stdout: "", stderr: "" });
  });

  it("feeds stdin to `bash -s` and ends it with EOF, as the probe's script arrives", async () => {
    const script = 'read -r first; echo "first=$first"; cat; echo "rest done"; exit 3\n';
    const result = await ssh("X='inline value' bash -s", { stdin: `${script}line two\nline three\n` });
    // bash -s reads its script from the same stdin: `cat` gets what the script did not consume.
    expect(result).toEqual({ code: 3, stdout: "first=line two\nline three\nrest done\n", stderr: "" });
  });

  it("runs the program's probe command line with verify/probe.sh on stdin and returns its JSON", async () => {
    const user = vm.userIdentity as NonNullable<SeededVm["userIdentity"]>;
    const commandLine = probeCommandLine(
      {
        armEndpoint: azure.armEndpoint,
        clientId: user.clientId,
        subscriptionId: azure.subscriptionId,
        resourceGroup: vm.resourceGroup,
        deadlineSeconds: 30,
        imdsEndpoint: vm.imdsEndpoint,
      },
      "granted",
    );
    const result = await ssh(commandLine, { stdin: readFileSync(join(__dirname, "../../verify/probe.sh"), "utf8") });
    expect(result.code).toBe(0);
    const probe = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(probe).toMatchObject({
      probeVersion: 1,
      ok: true,
      identity: { selector: "client_id", value: user.clientId },
      resourceGroup: { status: 200, body: { id: vm.resourceGroupId, name: vm.resourceGroup } },
      error: null,
    });
  });
});
