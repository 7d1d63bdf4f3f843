import { spawnSync } from "node:child_process";
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { renderHostKeyCloudConfig } from "../../components/cloudInit";
import { type Faults, LocalAzure, type SeededVm, seedVm } from "../../local-azure/index";
import {
  CGROUP_FOLDER,
  cgroupRoots,
  GUEST_RUNTIME_ROOT,
  NSPAWN_RUNTIME_ROOT,
  processStartTime,
} from "../../local-azure/linuxGuest/host";
import type { LinuxGuest } from "../../local-azure/linuxGuest/machine";
import { NFT_TABLE_PREFIX } from "../../local-azure/linuxGuest/sshRedirect";
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

/**
 * Puts the VM's NIC behind an NSG that admits SSH from `cidr` only, as components/network.ts does
 * with sshAllowedCidr: the guest's gate asks it, live, for every connection's source.
 */
export async function admitSshOnlyFrom(
  azure: LocalAzure,
  vm: SeededVm,
  cidr: string,
  vmName = "seed-vm",
): Promise<void> {
  const rg = vm.resourceGroupId;
  const nsgId = `${rg}/providers/Microsoft.Network/networkSecurityGroups/${vmName}-nsg`;
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
            sourceAddressPrefix: cidr,
            sourcePortRange: "*",
            destinationAddressPrefix: "*",
            destinationPortRange: "22",
          },
        },
      ],
    },
  });
  const nicId = `${rg}/providers/Microsoft.Network/networkInterfaces/${vmName}-nic`;
  const nic = (await azure.arm.request("GET", `${nicId}?api-version=2024-05-01`)).body as { properties: object };
  await azure.arm.putAndWait(`${nicId}?api-version=2024-05-01`, {
    location: azure.location,
    properties: { ...nic.properties, networkSecurityGroup: { id: nsgId } },
  });
}

/** The ip-family nftables tables of this network namespace, as `nft list tables ip` lists them. */
export function nftTables(): string[] {
  return (spawnSync("nft", ["list", "tables", "ip"], { encoding: "utf8" }).stdout ?? "").split("\n");
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

const CGROUP_BASES = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd", "/sys/fs/cgroup"];
/** A guest ID as machine.ts makes them (the names systemd-nspawn's folders get). */
const GUEST_ID = /^vm-[0-9a-f]{10}$/;

function entries(dir: string) {
  return existsSync(dir) ? readdirSync(dir, { withFileTypes: true }) : [];
}

function pids(): string[] {
  return readdirSync("/proc").filter((name) => /^\d+$/.test(name));
}

/** The namespaces a process is in ("net:[4026532175]"…), empty once it is gone. */
function namespacesOf(pid: string): string[] {
  try {
    return readdirSync(`/proc/${pid}/ns`).map((kind) => readlinkSync(`/proc/${pid}/ns/${kind}`));
  } catch {
    return [];
  }
}

/** The guest whose cgroup a process is in (its ID), or null for a process of no guest. */
function guestOfProcess(pid: string): string | null {
  try {
    const cgroups = readFileSync(`/proc/${pid}/cgroup`, "utf8");
    return new RegExp(`/${CGROUP_FOLDER}/([^/\n]+)`).exec(cgroups)?.[1] ?? null;
  } catch {
    return null;
  }
}

/**
 * What a running guest holds on the host besides its folder, cgroups and processes: the namespaces
 * its processes are in (network, mount, PID… made by unshare and systemd-nspawn) and the name of the
 * lock systemd-nspawn takes on its root (/run/systemd/nspawn/locks/inode-DEV:INO, from the root's
 * device and inode as the container sees it). Taken while the guest runs, checked by leftovers().
 */
export interface GuestFootprint {
  id: string;
  namespaces: string[];
  nspawnLock: string;
}

export function footprint(id: string): GuestFootprint {
  const unified = cgroupRoots()?.unified;
  if (unified === undefined) throw new Error("no cgroup2 hierarchy");
  const procs = (folder: string): string[] =>
    entries(folder).flatMap((entry) =>
      entry.isDirectory()
        ? procs(join(folder, entry.name))
        : entry.name === "cgroup.procs"
          ? readFileSync(join(folder, entry.name), "utf8").split("\n").filter(Boolean)
          : [],
    );
  const members = procs(join(unified, CGROUP_FOLDER, id));
  const hostNamespaces = new Set(namespacesOf(String(process.pid)));
  const namespaces = new Set(members.flatMap(namespacesOf).filter((ns) => !hostNamespaces.has(ns)));
  const hostRoot = statSync("/");
  const roots = new Set<string>();
  for (const pid of members) {
    try {
      const root = statSync(`/proc/${pid}/root`);
      if (root.dev !== hostRoot.dev || root.ino !== hostRoot.ino) roots.add(`${root.dev}:${root.ino}`);
    } catch {
      // Gone meanwhile.
    }
  }
  if (roots.size !== 1 || namespaces.size === 0) {
    throw new Error(`guest ${id} is not running (container roots ${[...roots].join(" ") || "none"})`);
  }
  return {
    id,
    namespaces: [...namespaces].sort(),
    nspawnLock: join(NSPAWN_RUNTIME_ROOT, "locks", `inode-${[...roots][0]}`),
  };
}

/**
 * What remains of real guests: their folders, cgroups and processes, what systemd-nspawn keeps for
 * them on the host (its propagate folder; a machine's registration or image, which --register=no and
 * --directory should never make), their nftables tables (in this network namespace), mounts and Unix
 * sockets naming their folders, and the shared folders left empty. With footprints, also each guest's namespaces (held by a process or mounted)
 * and systemd-nspawn's lock. Other Local Azures may run real guests on this machine at the same time
 * (another test file, another clone's CI), so only guests in scope count: those these processes own
 * or with these IDs, and any whose owner is gone or whose folder is gone while something of it
 * remains, which are leaks whoever made them. Empty when nothing leaked.
 */
export function leftovers(
  scope: { owners?: number[]; ids?: string[]; footprints?: GuestFootprint[] } = { owners: [process.pid] },
): string[] {
  const folders = new Map<string, string | null>();
  for (const entry of entries(GUEST_RUNTIME_ROOT)) {
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
  const ids = [...(scope.ids ?? []), ...(scope.footprints ?? []).map((print) => print.id)];
  const inScope = (id: string) => {
    if (!folders.has(id)) return true;
    const owner = folders.get(id) ?? null;
    return ids.includes(id) || (scope.owners ?? []).some((pid) => owner?.startsWith(`${pid} `)) || ownerGone(owner);
  };
  const found: string[] = [];
  for (const [id] of folders) if (inScope(id)) found.push(`folder ${id}`);
  if (existsSync(GUEST_RUNTIME_ROOT) && folders.size === 0) found.push(`empty folder ${GUEST_RUNTIME_ROOT}`);
  const projectRun = dirname(GUEST_RUNTIME_ROOT);
  if (existsSync(projectRun) && readdirSync(projectRun).length === 0) found.push(`empty folder ${projectRun}`);
  for (const folder of CGROUP_BASES.map((root) => join(root, CGROUP_FOLDER))) {
    const guests = entries(folder).filter((entry) => entry.isDirectory());
    for (const entry of guests) if (inScope(entry.name)) found.push(`cgroup ${join(folder, entry.name)}`);
    if (existsSync(folder) && guests.length === 0) found.push(`empty cgroup ${folder}`);
  }
  const nspawnGuests = entries(join(NSPAWN_RUNTIME_ROOT, "propagate"))
    .map((entry) => entry.name)
    .filter((name) => GUEST_ID.test(name));
  for (const id of new Set([...folders.keys(), ...ids, ...nspawnGuests])) {
    if (!inScope(id)) continue;
    for (const path of [
      join(NSPAWN_RUNTIME_ROOT, "propagate", id),
      join(NSPAWN_RUNTIME_ROOT, "unix-export", id),
      join("/run/systemd/machines", id),
      join("/var/lib/machines", id),
    ]) {
      if (existsSync(path)) found.push(`nspawn ${path}`);
    }
  }
  // Port 22's nftables tables (sshRedirect.ts), in this network namespace: named after their guests.
  const listed = spawnSync("nft", ["list", "tables", "ip"], { encoding: "utf8" });
  for (const line of (listed.stdout ?? "").split("\n")) {
    const hex = new RegExp(`^table ip ${NFT_TABLE_PREFIX}([0-9a-f]{10})$`).exec(line)?.[1];
    if (hex !== undefined && inScope(`vm-${hex}`)) found.push(`nftables ${line} (guest vm-${hex})`);
  }
  const guestPath = new RegExp(`${GUEST_RUNTIME_ROOT}/([^/ ]+)`);
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const id = guestPath.exec(line)?.[1]?.replace(/^\.new-/, "");
    if (id !== undefined && inScope(id)) found.push(`mount ${line}`);
  }
  for (const line of readFileSync("/proc/net/unix", "utf8").split("\n").slice(1)) {
    const id = guestPath.exec(line)?.[1];
    if (id !== undefined && inScope(id)) found.push(`socket ${line.split(" ").pop()}`);
  }
  for (const pid of pids()) {
    let args = "";
    try {
      args = readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
    } catch {
      continue;
    }
    const id = guestPath.exec(args)?.[1];
    if (id !== undefined && inScope(id)) found.push(`process ${pid} ${args.trim()}`);
  }
  // The kernel numbers a namespace by an inode it reuses once the namespace is freed: one held by a
  // process of another guest (by its cgroup) is that guest's, made after this one's went.
  const printOf = new Map((scope.footprints ?? []).flatMap((print) => print.namespaces.map((ns) => [ns, print])));
  if (printOf.size > 0) {
    for (const pid of pids()) {
      const namespaces = namespacesOf(pid).filter((ns) => printOf.has(ns));
      if (namespaces.length === 0) continue;
      const guest = guestOfProcess(pid);
      for (const ns of namespaces) {
        if (guest === null || guest === printOf.get(ns)?.id) found.push(`namespace ${ns} held by process ${pid}`);
      }
    }
    for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
      const root = line.split(" ")[3];
      if (printOf.has(root)) found.push(`namespace ${root} mounted: ${line}`);
    }
  }
  // Its name is the root's device and inode, which a later guest may get too: a lock a running
  // systemd-nspawn holds (/proc/locks) is that one's.
  const heldLocks = new Set(
    readFileSync("/proc/locks", "utf8")
      .split("\n")
      // "1: FLOCK  ADVISORY  WRITE 19361 fe:00:10168679 0 EOF": the file as major:minor:inode.
      .map((line) => /\s[0-9a-f]+:[0-9a-f]+:(\d+)\s/.exec(line)?.[1])
      .filter((inode): inode is string => inode !== undefined),
  );
  for (const print of scope.footprints ?? []) {
    if (!existsSync(print.nspawnLock)) continue;
    if (!heldLocks.has(String(statSync(print.nspawnLock).ino))) found.push(`nspawn ${print.nspawnLock}`);
  }
  return found;
}
