import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { renderHostKeyCloudConfig } from "../../components/cloudInit";
import { type Faults, LocalAzure, type SeededVm, seedVm } from "../../local-azure/index";
import { GUEST_RUNTIME_ROOT, processStartTime } from "../../local-azure/linuxGuest/host";
import type { LinuxGuest } from "../../local-azure/linuxGuest/machine";
import { generatePrivateKey } from "../../local-azure/tlsKeys";
import { runTool, type ToolResult } from "../conformance/support/ssh";

/**
 * The real guests' test tier (npm run test:guest): Local Azure with booted Debian guests, reached as
 * Azure's VMs are, with OpenSSH's own client. Needs Linux, root and the image (npm run guest:build,
 * which test:guest runs first).
 */

export interface GuestVm extends SeededVm {
  guest: LinuxGuest;
  adminUsername: string;
  /** The admin's private key (OpenSSH), authorized through osProfile. */
  adminKey: string;
  /** The host key cloud-init installs from customData: the only one the client accepts. */
  hostPublicKey: string;
}

export function startCloud(faults: Partial<Faults> = {}): Promise<LocalAzure> {
  return LocalAzure.start({ guests: "linux", faults });
}

/** A VM with a real guest, created through ARM as the program creates it: pinned host key in customData. */
export async function bootVm(
  azure: LocalAzure,
  opts: { identity?: "user" | "system" | "both"; grant?: boolean; vmName?: string; adminUsername?: string } = {},
): Promise<GuestVm> {
  const admin = generatePrivateKey("ED25519");
  const host = generatePrivateKey("ED25519");
  const adminUsername = opts.adminUsername ?? "azureuser";
  const customData = Buffer.from(
    renderHostKeyCloudConfig({ privateKey: host.privateKeyOpenssh, publicKey: host.publicKeyOpenssh }),
  ).toString("base64");
  const vm = await seedVm(azure, {
    identity: opts.identity ?? "user",
    grant: opts.grant,
    vmName: opts.vmName,
    resourceGroup: `${opts.vmName ?? "seed-vm"}-rg`,
    adminUsername,
    sshPublicKey: admin.publicKeyOpenssh.trim(),
    customData,
  });
  const guest = azure.linuxGuest(vm.vmId);
  if (!guest) throw new Error(`VM ${vm.vmId} has no real guest`);
  await guest.ready;
  return {
    ...vm,
    guest,
    adminUsername,
    adminKey: admin.privateKeyOpenssh,
    hostPublicKey: host.publicKeyOpenssh.trim(),
  };
}

export type Run = ToolResult;

/** Runs a program to its end, stdin given; never rejects for an exit code (tests assert it). */
export function run(command: string, args: string[], stdin = ""): Promise<Run> {
  return runTool(command, args, { stdin });
}

/** OpenSSH's client against the VM's public IP, port 22, its host key pinned, batch mode (no prompts). */
export class SshClient {
  private readonly dir = mkdtempSync(join(tmpdir(), "guest-ssh-"));
  readonly keyFile = join(this.dir, "id");
  readonly knownHosts = join(this.dir, "known_hosts");

  constructor(readonly vm: GuestVm) {
    writeFileSync(this.keyFile, vm.adminKey, { mode: 0o600 });
    writeFileSync(this.knownHosts, `${vm.publicIp} ${vm.hostPublicKey}\n`);
  }

  /** The options every connection uses; `extra` come first, so they win (ssh takes the first value given). */
  options(extra: string[] = []): string[] {
    return [
      ...extra,
      "-o",
      "BatchMode=yes",
      "-o",
      `UserKnownHostsFile=${this.knownHosts}`,
      "-o",
      "StrictHostKeyChecking=yes",
      "-o",
      "ConnectTimeout=20",
      "-i",
      this.keyFile,
      "-o",
      "IdentitiesOnly=yes",
    ];
  }

  exec(command: string, opts: { stdin?: string; user?: string; extra?: string[] } = {}): Promise<Run> {
    return run(
      "ssh",
      [...this.options(opts.extra), `${opts.user ?? this.vm.adminUsername}@${this.vm.publicIp}`, command],
      opts.stdin,
    );
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Output of a command that must succeed. */
export async function ok(result: Promise<Run>): Promise<string> {
  const done = await result;
  if (done.code !== 0) throw new Error(`exit ${done.code}: ${done.stderr.trim()}`);
  return done.stdout;
}

/**
 * What remains of real guests: their folders, cgroups and processes. Other Local Azures may run real
 * guests on this machine at the same time (another test file, another clone's CI), so only guests in
 * scope count: those these processes own or with these IDs, and any whose owner is gone or whose
 * folder is gone while something of it remains, which are leaks whoever made them. Empty when nothing leaked.
 */
export function leftovers(scope: { owners?: number[]; ids?: string[] } = { owners: [process.pid] }): string[] {
  const list = (dir: string) => (existsSync(dir) ? readdirSync(dir, { withFileTypes: true }) : []);
  const folders = new Map<string, string | null>();
  for (const entry of list(GUEST_RUNTIME_ROOT)) {
    let owner: string | null = null;
    try {
      owner = readFileSync(join(GUEST_RUNTIME_ROOT, entry.name, "owner"), "utf8").trim();
    } catch {
      // Being made or removed: no owner file (yet, or any more).
    }
    folders.set(entry.name.replace(/^\.new-/, ""), owner);
  }
  const ownerGone = (owner: string | null) => {
    if (owner === null) return false;
    const [pid, start] = owner.split(" ");
    return processStartTime(Number(pid)) !== start;
  };
  const inScope = (id: string) => {
    if (!folders.has(id)) return true;
    const owner = folders.get(id) ?? null;
    return (
      (scope.ids ?? []).includes(id) ||
      (scope.owners ?? []).some((pid) => owner?.startsWith(`${pid} `)) ||
      ownerGone(owner)
    );
  };
  const found: string[] = [];
  for (const [id] of folders) if (inScope(id)) found.push(`folder ${id}`);
  const cgroupFolders = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd", "/sys/fs/cgroup"].map((root) =>
    join(root, "vm-identity-access"),
  );
  for (const folder of cgroupFolders) {
    for (const entry of list(folder)) {
      if (entry.isDirectory() && inScope(entry.name)) found.push(`cgroup ${join(folder, entry.name)}`);
    }
  }
  for (const pid of readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
    let args = "";
    try {
      args = readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
    } catch {
      continue;
    }
    const id = new RegExp(`${GUEST_RUNTIME_ROOT}/([^/ ]+)`).exec(args)?.[1];
    if (id !== undefined && inScope(id)) found.push(`process ${pid} ${args.trim()}`);
  }
  return found;
}
