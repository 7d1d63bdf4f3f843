import { accessSync, constants, existsSync, readFileSync } from "node:fs";
import { delimiter, join } from "node:path";
import { builtImage, type ImageLocation, imageLocation } from "./image";
import { sshRedirectUnavailable } from "./sshRedirect";

/**
 * What a machine needs to boot real guests, and where their runtime state lives. Each guest is a
 * systemd-nspawn container in its own network and mount namespaces and its own cgroup; its folder
 * (overlay upper layer, sockets, console log) and cgroup are named after it, so whatever a crashed
 * run left behind can be found and removed by the next (reaper.ts).
 */

/** Every guest's folder: <root>/<guest id>/. On the root filesystem's /run, never inside the clone. */
export const GUEST_RUNTIME_ROOT = "/run/vm-identity-access/guests";
/** The folder under each cgroup hierarchy that holds the guests' cgroups. */
export const CGROUP_FOLDER = "vm-identity-access";
/**
 * systemd-nspawn's runtime state on the host (src/nspawn/nspawn.c): propagate/<machine> for
 * `machinectl bind`, and locks/inode-<dev>:<ino> for the image it boots. It removes them only when it
 * exits by itself, and a guest is stopped with cgroup.kill, so machine.ts gives each guest's
 * systemd-nspawn a tmpfs here in its own mount namespace.
 */
export const NSPAWN_RUNTIME_ROOT = "/run/systemd/nspawn";

/** The tools the guests need on the host, and the Debian package of each (for the error message). */
export const HOST_TOOLS: ReadonlyArray<{ tool: string; debianPackage: string }> = [
  { tool: "systemd-nspawn", debianPackage: "systemd-container" },
  { tool: "socat", debianPackage: "socat" },
  { tool: "unshare", debianPackage: "util-linux" },
  { tool: "nsenter", debianPackage: "util-linux" },
  // What enters a guest gets the guest's capability bounding set, no more (runScript.ts).
  { tool: "setpriv", debianPackage: "util-linux" },
  { tool: "ip", debianPackage: "iproute2" },
  // Port 22 of each VM's address, whatever listens on the host's port 22 (sshRedirect.ts).
  { tool: "nft", debianPackage: "nftables" },
];

export interface CgroupRoots {
  /** The cgroup2 hierarchy the guests' cgroups are made in (cgroup.kill stops a whole guest at once). */
  unified: string;
  /** Hierarchies systemd-nspawn mirrors the guest's cgroup into on a hybrid host (the v1 name=systemd one). */
  mirrors: string[];
}

/** The cgroup2 mount (pure v2: /sys/fs/cgroup; hybrid: /sys/fs/cgroup/unified) and the v1 systemd one, if any. */
export function cgroupRoots(base = "/sys/fs/cgroup"): CgroupRoots | null {
  const mirrors = existsSync(join(base, "systemd", "cgroup.procs")) ? [join(base, "systemd")] : [];
  if (existsSync(join(base, "cgroup.controllers"))) return { unified: base, mirrors: [] };
  if (existsSync(join(base, "unified", "cgroup.procs"))) return { unified: join(base, "unified"), mirrors };
  return null;
}

/** A program on the PATH, or undefined. */
export function onPath(tool: string, path = process.env.PATH ?? ""): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (dir === "") continue;
    try {
      accessSync(join(dir, tool), constants.X_OK);
      return join(dir, tool);
    } catch {
      // Not in this folder.
    }
  }
  return undefined;
}

export interface HostFacts {
  platform: NodeJS.Platform;
  uid: number;
  missingTools: Array<{ tool: string; debianPackage: string }>;
  cgroups: CgroupRoots | null;
  /** Why port 22 of a VM's address cannot be sent to its guest here (sshRedirect.ts), or null when it can. */
  sshRedirect: string | null;
  image: ImageLocation | null;
  imageWanted: ImageLocation;
}

export function hostFacts(): HostFacts {
  const wanted = imageLocation();
  const platform = process.platform;
  const uid = process.getuid?.() ?? -1;
  const missingTools = HOST_TOOLS.filter(({ tool }) => onPath(tool) === undefined);
  return {
    platform,
    uid,
    missingTools,
    cgroups: platform === "linux" ? cgroupRoots() : null,
    // Asked only where it can be: nft is there, and root may change this network namespace's tables.
    sshRedirect:
      platform === "linux" && uid === 0 && !missingTools.some(({ tool }) => tool === "nft")
        ? sshRedirectUnavailable()
        : null,
    image: builtImage(wanted),
    imageWanted: wanted,
  };
}

/**
 * Why real guests cannot run here, in one line, or null when they can. Pure over the facts, so the
 * tests cover each reason on any machine.
 */
export function realGuestsUnavailable(facts: HostFacts): string | null {
  const prefix = "--guest linux needs";
  if (facts.platform !== "linux") return `${prefix} Linux (systemd-nspawn containers); this is ${facts.platform}`;
  if (facts.uid !== 0)
    return `${prefix} root (it makes namespaces, mounts, cgroups and nftables rules); run it as root`;
  if (facts.missingTools.length > 0) {
    const tools = facts.missingTools.map((t) => t.tool).join(", ");
    const packages = [...new Set(facts.missingTools.map((t) => t.debianPackage))].join(" ");
    return `${prefix} ${tools} on the PATH: apt-get install ${packages}`;
  }
  if (facts.cgroups === null) return `${prefix} a cgroup2 hierarchy (/sys/fs/cgroup or /sys/fs/cgroup/unified)`;
  if (facts.sshRedirect !== null) {
    return `${prefix} nftables in this network namespace, to send port 22 of each VM's address to its guest whatever listens on port 22 here: ${facts.sshRedirect}`;
  }
  if (facts.image === null) {
    return `${prefix} the guest image (${facts.imageWanted.dir} is not built): run npm run guest:build first`;
  }
  return null;
}

/** The start time of a process (field 22 of /proc/PID/stat, in clock ticks since boot), or null when it is gone. */
export function processStartTime(pid: number, readStat: (pid: number) => string = readProcStat): string | null {
  let stat: string;
  try {
    stat = readStat(pid);
  } catch {
    return null;
  }
  // The command name (field 2) may hold spaces and parentheses: count fields after its closing ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return fields[19] ?? null;
}

function readProcStat(pid: number): string {
  return readFileSync(`/proc/${pid}/stat`, "utf8");
}
