import { randomUUID } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { probeCommandLine, probeEnvironment } from "../../components/probeCommand";
import type { LocalAzure } from "../../local-azure/index";
import { redirectTable } from "../../local-azure/linuxGuest/sshRedirect";
import { generatePrivateKey } from "../../local-azure/tlsKeys";
import { bootVm, type GuestVm, leftovers, nftTables, run, SshClient, startCloud } from "./support";

/**
 * One real guest, met as a user meets an Azure VM: OpenSSH's client on port 22 of its public IP, the
 * host key cloud-init installed from customData, the admin user from osProfile, and inside it Azure's
 * own addresses for IMDS and ARM.
 */

const PROBE = readFileSync(join(__dirname, "..", "..", "verify", "probe.sh"), "utf8");

let azure: LocalAzure;
let vm: GuestVm;
let ssh: SshClient;

beforeAll(async () => {
  // An identity attached is usable at once (the attach-delay fault is the portable tests' business).
  azure = await startCloud({ identityAttachDelaySeconds: 0 });
  vm = await bootVm(azure, { identity: "user", adminUsername: "opsadmin", vmName: "sshd-vm" });
  ssh = new SshClient(vm);
}, 120_000);

afterAll(async () => {
  ssh?.remove();
  await azure?.stop();
}, 60_000);

function probeLine(extra: Partial<Parameters<typeof probeCommandLine>[0]> = {}): string {
  return probeCommandLine(
    {
      armEndpoint: "https://management.azure.com",
      clientId: vm.userIdentity?.clientId,
      subscriptionId: azure.subscriptionId,
      resourceGroup: vm.resourceGroup,
      deadlineSeconds: 60,
      ...extra,
    },
    "granted",
  );
}

describe("the probe over the guest's sshd", () => {
  it("runs verify/probe.sh from stdin with the program's command line: exit 0, a token for Azure's ARM", async () => {
    const result = await ssh.exec(probeLine(), { stdin: PROBE });
    expect(result.code).toBe(0);
    const evidence = JSON.parse(result.stdout);
    expect(evidence).toMatchObject({
      probeVersion: 1,
      ok: true,
      identity: { selector: "client_id", value: vm.userIdentity?.clientId },
      target: {
        subscriptionId: azure.subscriptionId,
        resourceGroup: vm.resourceGroup,
        armEndpoint: "https://management.azure.com",
        resource: "https://management.azure.com/",
      },
      token: { status: 200, claims: { aud: "https://management.azure.com/", oid: vm.userIdentity?.principalId } },
      resourceGroup: { status: 200, body: { id: vm.resourceGroupId, properties: { provisioningState: "Succeeded" } } },
      error: null,
    });
    // The probe's progress goes to stderr; the token never shows anywhere.
    expect(result.stderr).toContain("probe: imds token attempt 1: HTTP 200");
    expect(`${result.stdout}${result.stderr}`).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/);
  });

  it("exits 2 on bad input (two selectors), before any request", async () => {
    const line = `MI_OBJECT_ID=${vm.userIdentity?.principalId} ${probeLine()}`;
    const result = await ssh.exec(line, { stdin: PROBE });
    expect(result.code).toBe(2);
    expect(JSON.parse(result.stdout)).toMatchObject({
      ok: false,
      error: { stage: "input", status: null },
    });
  });

  it("exits 1 when the deadline passes: an identity this VM does not have stays 'Identity not found'", async () => {
    const result = await ssh.exec(probeLine({ clientId: randomUUID(), deadlineSeconds: 2 }), { stdin: PROBE });
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout)).toMatchObject({ ok: false, error: { stage: "imds", status: 400 } });
  });

  it("gets its variables inline: sshd drops SSH env requests its AcceptEnv does not list", async () => {
    const names = probeEnvironment({
      armEndpoint: "https://management.azure.com",
      subscriptionId: "s",
      resourceGroup: "g",
      deadlineSeconds: 1,
    }).map(([name]) => name);
    const echo = names.map((name) => `${name}=\${${name}-unset}`).join(" ");
    const sent = await ssh.exec(`echo ${echo}`, {
      extra: ["-o", `SetEnv=${names.map((name) => `${name}=sent`).join(" ")}`],
    });
    expect(sent.stdout.trim()).toBe(names.map((name) => `${name}=unset`).join(" "));
    const inline = await ssh.exec(`ARM_ENDPOINT=inline bash -c 'echo $ARM_ENDPOINT'`);
    expect(inline.stdout.trim()).toBe("inline");
  });
});

describe("the guest's SSH host key and admin user", () => {
  it("ssh-keyscan finds only the key the program pinned", async () => {
    const scan = await run("ssh-keyscan", ["-T", "20", "-t", "rsa,ecdsa,ed25519", vm.publicIp]);
    const keys = scan.stdout
      .split("\n")
      .filter((line) => line.trim() !== "" && !line.startsWith("#"))
      .map((line) => line.split(" ").slice(1, 3).join(" "));
    expect(keys).toEqual([vm.hostPublicKey.split(" ").slice(0, 2).join(" ")]);
    const files = await ssh.exec("ls /etc/ssh | grep '^ssh_host_'");
    expect(files.stdout.split("\n").filter(Boolean)).toEqual(["ssh_host_ed25519_key", "ssh_host_ed25519_key.pub"]);
  });

  it("the journal shows cloud-init's key written before sshd first started", async () => {
    const journal = (await ssh.exec("sudo journalctl -b -o short-unix --no-pager")).stdout.split("\n");
    const at = (pattern: RegExp) => {
      const line = journal.find((entry) => pattern.test(entry));
      return line === undefined ? Number.NaN : Number(line.split(" ")[0]);
    };
    const cloudInitNetworkDone = at(/Finished cloud-init-network\.service/);
    const sshdStarting = at(/Starting ssh\.service/);
    const sshdListening = at(/sshd\[\d+\]: Server listening on/);
    expect(cloudInitNetworkDone).toBeLessThan(sshdStarting);
    expect(sshdStarting).toBeLessThan(sshdListening);
    // cloud-init's own log dates the write of the pinned key (cc_ssh, in that stage), in the guest's local time.
    const log = await ssh.exec(
      "sudo grep 'Writing to /etc/ssh/ssh_host_ed25519_key - ' /var/log/cloud-init.log; date +%z",
    );
    const [written, zone] = log.stdout.trim().split("\n");
    const stamp = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d),(\d{3})/.exec(written);
    expect(stamp).not.toBeNull();
    const zoneIso = `${zone.slice(0, 3)}:${zone.slice(3)}`;
    const writtenAt = Date.parse(`${stamp?.[1]}T${stamp?.[2]}.${stamp?.[3]}${zoneIso}`) / 1000;
    expect(writtenAt).toBeLessThanOrEqual(sshdListening);
    expect(journal.filter((entry) => /sshd-keygen|ssh-keygen -A/.test(entry))).toEqual([]);
  });

  it("the admin user is the one osProfile names, with sudo, and the image's default user does not exist", async () => {
    const who = await ssh.exec("id -un; sudo -n id -un; getent passwd debian || echo no-debian; hostname");
    expect(who.stdout.split("\n")).toEqual(["opsadmin", "root", "no-debian", "sshd-vm", ""]);
  });

  it("password login is refused: sshd offers public keys only", async () => {
    const refused = await ssh.exec("true", {
      extra: ["-o", "PreferredAuthentications=password,keyboard-interactive", "-o", "PubkeyAuthentication=no"],
    });
    expect(refused.code).toBe(255);
    expect(refused.stderr).toContain(`opsadmin@${vm.publicIp}: Permission denied (publickey).`);
    const config = await ssh.exec("sudo sshd -T | grep -E '^(passwordauthentication|kbdinteractiveauthentication) '");
    expect(config.stdout.split("\n").filter(Boolean).sort()).toEqual([
      "kbdinteractiveauthentication no",
      "passwordauthentication no",
    ]);
  });

  it("a key osProfile does not list is refused", async () => {
    const other = new SshClient({ ...vm, adminKey: generatePrivateKey("ED25519").privateKeyOpenssh });
    try {
      const refused = await other.exec("true");
      expect(refused.code).toBe(255);
      expect(refused.stderr).toContain("Permission denied (publickey)");
    } finally {
      other.remove();
    }
  });
});

describe("the VM's public IP: SSH on port 22 through its NSG", () => {
  /** The bytes a TCP client from `source` gets from port 22 before the server closes or 5 s pass. */
  function banner(source: string): Promise<string> {
    return new Promise((resolve) => {
      const socket = connect({ host: vm.publicIp, port: 22, localAddress: source });
      let got = "";
      socket.on("data", (chunk) => {
        got += chunk.toString();
        if (got.includes("\n")) socket.destroy();
      });
      socket.on("error", () => undefined);
      socket.on("close", () => resolve(got));
      socket.setTimeout(5000, () => socket.destroy());
    });
  }

  it("admits sshAllowedCidr and refuses any other source, as the NSG's rules decide, live", async () => {
    const rg = vm.resourceGroupId;
    const nsgId = `${rg}/providers/Microsoft.Network/networkSecurityGroups/sshd-vm-nsg`;
    await azure.arm.putAndWait(`${nsgId}?api-version=2024-05-01`, {
      location: azure.location,
      properties: {
        securityRules: [
          {
            name: "allow-ssh-from-allowed-cidr",
            properties: {
              priority: 100,
              direction: "Inbound",
              access: "Allow",
              protocol: "Tcp",
              sourceAddressPrefix: "127.0.0.1/32",
              sourcePortRange: "*",
              destinationAddressPrefix: "*",
              destinationPortRange: "22",
            },
          },
        ],
      },
    });
    const nicId = `${rg}/providers/Microsoft.Network/networkInterfaces/sshd-vm-nic`;
    const nic = (await azure.arm.request("GET", `${nicId}?api-version=2024-05-01`)).body as { properties: object };
    await azure.arm.putAndWait(`${nicId}?api-version=2024-05-01`, {
      location: azure.location,
      properties: { ...nic.properties, networkSecurityGroup: { id: nsgId } },
    });
    expect(await banner("127.0.0.1")).toMatch(/^SSH-2\.0-OpenSSH_/);
    expect(await banner("127.0.0.9")).toBe("");
    const outside = await ssh.exec("true", { extra: ["-b", "127.0.0.9"] });
    expect(outside.code).toBe(255);
    expect(outside.stdout).toBe("");
    expect((await ssh.exec("echo inside")).stdout).toBe("inside\n");
  });
});

describe("Azure's own addresses inside the guest", () => {
  it("management.azure.com is Local Azure's ARM, over TLS the guest's trust store verifies", async () => {
    const result = await ssh.exec(
      "getent hosts management.azure.com; curl -sS -o /dev/null -w '%{http_code} %{ssl_verify_result}\\n' https://management.azure.com/subscriptions?api-version=2022-12-01",
    );
    expect(result.stdout).toBe("127.0.2.1       management.azure.com\n401 0\n");
  });

  it("IMDS at 169.254.169.254 answers with this VM's identities, as they are attached and detached", async () => {
    const token = (selector: string) =>
      `curl -sS -o /dev/null -w '%{http_code}\\n' -H Metadata:true 'http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fmanagement.azure.com%2F${selector}'`;
    const clientId = vm.userIdentity?.clientId as string;
    expect((await ssh.exec(token(`&client_id=${clientId}`))).stdout).toBe("200\n");
    expect((await ssh.exec(token(""))).stdout).toBe("200\n");
    const vmUrl = `${vm.vmId}?api-version=2024-11-01`;
    const current = (await azure.arm.request("GET", vmUrl)).body as Record<string, unknown>;
    const updated = await azure.arm.putAndWait(vmUrl, { ...current, identity: { type: "SystemAssigned" } });
    const systemPrincipal = (updated.body as { identity: { principalId: string } }).identity.principalId;
    expect((await ssh.exec(token(`&client_id=${clientId}`))).stdout).toBe("400\n");
    // The guest's IMDS now issues for the system-assigned identity: its oid in the token.
    const claims = await ssh.exec("bash -s", {
      // The token's claims, decoded in the guest: base64url, padded for base64 -d (never the token itself).
      stdin: [
        'token=$(curl -sS -H Metadata:true \'http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fmanagement.azure.com%2F\' | sed \'s/.*"access_token":"\\([^"]*\\)".*/\\1/\')',
        "payload=$(printf %s \"$token\" | cut -d. -f2 | tr '_-' '/+')",
        'while [ $(( $(printf %s "$payload" | wc -c) % 4 )) -ne 0 ]; do payload="$payload="; done',
        'printf %s "$payload" | base64 -d',
      ].join("\n"),
    });
    expect(claims.stdout).toContain(`"oid":"${systemPrincipal}"`);
    const compute = await ssh.exec(
      "curl -sS -H Metadata:true 'http://169.254.169.254/metadata/instance/compute/osProfile/adminUsername?api-version=2021-02-01&format=text'",
    );
    expect(compute.stdout).toBe("opsadmin");
  });
});

/** Whether something on this host listens on port 22 of every address (a host sshd), IPv4 or IPv6. */
function hostListensOnPort22(): boolean {
  return ["/proc/net/tcp", "/proc/net/tcp6"].some((table) => {
    if (!existsSync(table)) return false;
    return readFileSync(table, "utf8")
      .split("\n")
      .slice(1)
      .some((line) => {
        const [, local, , state] = line.trim().split(/\s+/);
        return state === "0A" && /^0+:0016$/.test(local ?? "");
      });
  });
}

/** What a TCP connection to `host`:`port` meets: "connected", or the error's code. */
function dial(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, host);
    socket.once("connect", () => {
      socket.destroy();
      resolve("connected");
    });
    socket.once("error", (error: NodeJS.ErrnoException) => resolve(String(error.code)));
  });
}

/** An Azure-AsyncOperation's end: polled until it is no longer InProgress. */
async function operationEnd(url: string): Promise<string> {
  for (;;) {
    const status = ((await azure.arm.request("GET", url)).body as { status: string }).status;
    if (status !== "InProgress") return status;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("deleting the VM", () => {
  it("stops its guest: port 22 of its address no longer leads to it, and nothing of the guest is left", async () => {
    const dir = vm.guest.dir;
    const table = redirectTable(vm.guest.id);
    expect(nftTables()).toContain(`table ip ${table}`);
    // Decided before: a host sshd on every address answers there once the guest is gone (docs/real-guests.md).
    const hostSshd = hostListensOnPort22();
    await azure.arm.deleteAndWait(`${vm.vmId}?api-version=2024-11-01`);
    expect(azure.linuxGuest(vm.vmId)).toBeUndefined();
    expect(nftTables()).not.toContain(`table ip ${table}`);
    if (hostSshd) {
      // The host's sshd answers, with keys of its own: none of the guest's.
      const scan = await run("ssh-keyscan", ["-T", "20", "-t", "rsa,ecdsa,ed25519", vm.publicIp]);
      const keys = scan.stdout.split("\n").filter((line) => line.trim() !== "" && !line.startsWith("#"));
      expect(scan.code).toBe(0);
      expect(keys.length).toBeGreaterThan(0);
      expect(scan.stdout).not.toContain(vm.hostPublicKey.split(" ")[1]);
    } else {
      expect(await dial(vm.publicIp, 22)).toBe("ECONNREFUSED");
    }
    expect(leftovers().filter((line) => line.includes(dir.split("/").pop() as string))).toEqual([]);
  });

  it("a VM deleted and created again under its name (delete-before-replace) boots anew only once its old guest is gone", async () => {
    const again = await bootVm(azure, { identity: "system", vmName: "again-vm" });
    const vmUrl = `${again.vmId}?api-version=2024-11-01`;
    // What the engine sends again: the VM as ARM holds it (customData is never read back; none is needed here).
    const request = (await azure.arm.request("GET", vmUrl)).body as Record<string, unknown>;
    const first = again.guest;
    // Deletes due as soon as they are asked: the unrelated request and the poll both meet one already due.
    const lroSeconds = azure.faults.lroSeconds;
    azure.faults.lroSeconds = 0;
    onTestFinished(() => {
      azure.faults.lroSeconds = lroSeconds;
    });
    // Polled while another request comes in: Succeeded comes once the old guest is torn down.
    const deleted = await azure.arm.request("DELETE", vmUrl);
    const unrelated = azure.arm.request("GET", `${again.resourceGroupId}?api-version=2021-04-01`);
    expect(await operationEnd(String(deleted.headers["azure-asyncoperation"]))).toBe("Succeeded");
    expect(existsSync(first.dir)).toBe(false);
    expect(nftTables()).not.toContain(`table ip ${redirectTable(first.id)}`);
    expect((await unrelated).status).toBe(200);
    const recreated = await azure.arm.request("PUT", vmUrl, request);
    expect(recreated.status).toBe(201);
    const second = azure.linuxGuest(again.vmId);
    expect(second?.id).toMatch(/^vm-[0-9a-f]{10}$/);
    await second?.ready;
    expect(second?.id).not.toBe(first.id);
    // Not polled: once the VM reads 404 its old guest may still be going; the same name made again at
    // once (same NIC, same public IP) waits for it instead of booting beside it.
    expect((await azure.arm.request("DELETE", vmUrl)).status).toBe(202);
    while ((await azure.arm.request("GET", vmUrl)).status !== 404)
      await new Promise((resolve) => setTimeout(resolve, 20));
    const third = await azure.arm.request("PUT", vmUrl, request);
    expect([third.status, third.body]).toMatchObject([201, { name: "again-vm" }]);
    expect(existsSync(String(second?.dir))).toBe(false);
    const booted = azure.linuxGuest(again.vmId);
    expect(booted?.id).toMatch(/^vm-[0-9a-f]{10}$/);
    await booted?.ready;
    expect(booted?.id).not.toBe(second?.id);
    expect(booted?.host).toBe(again.publicIp);
    await azure.arm.deleteAndWait(vmUrl);
    const ids = [first.id, String(second?.id), String(booted?.id)];
    expect(leftovers().filter((line) => ids.some((id) => line.includes(id)))).toEqual([]);
  });
});
