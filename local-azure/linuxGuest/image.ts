import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

/**
 * The real guests' image: a Debian root filesystem made from Debian's packages by debootstrap, built
 * once per machine and cached outside the clone (as Go's caches are), so fresh clones reuse it. Its
 * name is a stamp of what goes into it (suite, packages, the customization), so a change to any of
 * them builds a new one beside the old. Pure parts here; the build is build.ts.
 */

/** Debian 13: the release whose systemd, OpenSSH and cloud-init the guests run. */
export const GUEST_SUITE = "trixie";

/**
 * What a minimal cloud image needs for the check: systemd as PID 1 (with dbus for systemctl), OpenSSH's
 * sshd, cloud-init (python3-cffi-backend because debootstrap cannot resolve a virtual package
 * python3-cryptography depends on), and what verify/probe.sh and the admin use: bash, curl with the
 * CA store, sudo, ip, ps.
 */
export const GUEST_PACKAGES = [
  "systemd",
  "systemd-sysv",
  "dbus",
  "openssh-server",
  "cloud-init",
  "python3",
  "python3-cffi-backend",
  "curl",
  "ca-certificates",
  "iproute2",
  "sudo",
  "procps",
] as const;

/**
 * Units a cloud image would run that hold a guest's boot or break the check, masked in the image:
 * - systemd-networkd-wait-online: with only `lo` it waits 120 s for a network that never comes;
 * - sshd-keygen / ssh-keygen: on first boot they add RSA and ECDSA host keys beside the one cloud-init
 *   installs, so the guest would serve keys the program did not pin;
 * - timers that start apt and housekeeping work in the middle of a short-lived guest's boot.
 */
export const MASKED_UNITS = [
  "systemd-networkd-wait-online.service",
  "sshd-keygen.service",
  "ssh-keygen.service",
  "apt-daily.timer",
  "apt-daily-upgrade.timer",
  "dpkg-db-backup.timer",
  "e2scrub_all.timer",
  "fstrim.timer",
  "systemd-tmpfiles-clean.timer",
  "getty@tty1.service",
  "console-getty.service",
] as const;

/**
 * The platform's cloud-init configuration baked into the image (a cloud image's /etc/cloud/cloud.cfg.d):
 * the datasource is NoCloud, whose seed each guest gets from its VM's request (seed.ts); no network
 * configuration (the guest's network is its namespace's, set up by Local Azure).
 */
export const IMAGE_CLOUD_CONFIG = `# Local Azure's guests: provisioned from a NoCloud seed made from the VM's request.
datasource_list: [NoCloud, None]
network: {config: disabled}
`;

/** /etc/hosts of the image: the loopback names only (each guest adds its host name and Azure's endpoints). */
export const IMAGE_HOSTS = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";

/** Bumped whenever build.ts changes what it does to the root filesystem after debootstrap. */
export const CUSTOMIZATION_VERSION = 1;

/** The image's name: a digest of everything that decides its content. */
export function imageStamp(
  input: {
    suite: string;
    packages: readonly string[];
    masked: readonly string[];
    cloudConfig: string;
    hosts: string;
    customizationVersion: number;
  } = {
    suite: GUEST_SUITE,
    packages: GUEST_PACKAGES,
    masked: MASKED_UNITS,
    cloudConfig: IMAGE_CLOUD_CONFIG,
    hosts: IMAGE_HOSTS,
    customizationVersion: CUSTOMIZATION_VERSION,
  },
): string {
  const canonical = JSON.stringify({
    suite: input.suite,
    packages: [...input.packages].sort(),
    masked: [...input.masked].sort(),
    cloudConfig: input.cloudConfig,
    hosts: input.hosts,
    customizationVersion: input.customizationVersion,
  });
  return `${input.suite}-${createHash("sha256").update(canonical).digest("hex").slice(0, 16)}`;
}

/** The cache folder of this project's machine-wide artifacts: $XDG_CACHE_HOME or ~/.cache, then the project. */
export function cacheRoot(env: NodeJS.ProcessEnv = process.env, home = homedir()): string {
  const base = env.XDG_CACHE_HOME?.startsWith("/") ? env.XDG_CACHE_HOME : join(home, ".cache");
  return join(base, "vm-identity-access");
}

export interface ImageLocation {
  stamp: string;
  /** <cache>/guest-image-<stamp>: the folder holding rootfs/ and the completion marker. */
  dir: string;
  rootfs: string;
  /** Written last by the build: the image is complete only when this file exists. */
  doneMarker: string;
}

export function imageLocation(root = cacheRoot(), stamp = imageStamp()): ImageLocation {
  const dir = join(root, `guest-image-${stamp}`);
  return { stamp, dir, rootfs: join(dir, "rootfs"), doneMarker: join(dir, "complete") };
}

/** The image when it has been built completely, else null. */
export function builtImage(location = imageLocation()): ImageLocation | null {
  return existsSync(location.doneMarker) && existsSync(join(location.rootfs, "usr/lib/systemd/systemd"))
    ? location
    : null;
}

/**
 * The Debian mirror this machine's apt uses, read from its sources (one-line `deb URI suite …` lists
 * or deb822 `.sources` files): the first `deb` source whose URI ends in /debian. Never written into a
 * file: every build reads it afresh.
 */
export function debianMirror(sources: Array<{ name: string; text: string }>): string | null {
  for (const { name, text } of sources) {
    const uris: string[] = [];
    if (name.endsWith(".sources")) {
      for (const stanza of text.split(/\n\s*\n/)) {
        const field = (key: string) =>
          new RegExp(`^${key}:\\s*(.+)$`, "mi").exec(stanza.replace(/^#.*$/gm, ""))?.[1]?.trim() ?? "";
        if (!field("Types").split(/\s+/).includes("deb") || /^no$/i.test(field("Enabled"))) continue;
        uris.push(...field("URIs").split(/\s+/));
      }
    } else {
      for (const line of text.split("\n")) {
        const match = /^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+\S+/.exec(line);
        if (match) uris.push(match[1]);
      }
    }
    const mirror = uris.find((uri) => /^https?:\/\/.+\/debian\/?$/.test(uri));
    if (mirror) return mirror.replace(/\/$/, "");
  }
  return null;
}

/**
 * The mirror the image is built from: GUEST_DEBIAN_MIRROR when set (a host whose apt has no Debian
 * source, as an Ubuntu CI runner), else the one this machine's apt uses; or why there is none. Pure.
 */
export function imageMirror(
  env: NodeJS.ProcessEnv,
  sources: Array<{ name: string; text: string }>,
): { mirror: string } | { missing: string } {
  const given = env.GUEST_DEBIAN_MIRROR?.trim();
  if (given) {
    if (!/^https?:\/\/\S+$/.test(given)) {
      return { missing: `GUEST_DEBIAN_MIRROR must be a Debian mirror's http(s) URL (…/debian); got "${given}"` };
    }
    return { mirror: given.replace(/\/$/, "") };
  }
  const mirror = debianMirror(sources);
  if (mirror !== null) return { mirror };
  return {
    missing:
      "found no Debian mirror in /etc/apt/sources.list or /etc/apt/sources.list.d: add one for apt first, or set GUEST_DEBIAN_MIRROR to a Debian mirror's URL (…/debian)",
  };
}

/** The sources apt reads on this machine: /etc/apt/sources.list and every *.list / *.sources beside it. */
export function aptSources(dir = "/etc/apt"): Array<{ name: string; text: string }> {
  const files: string[] = [];
  if (existsSync(join(dir, "sources.list"))) files.push(join(dir, "sources.list"));
  const listDir = join(dir, "sources.list.d");
  if (existsSync(listDir)) {
    for (const name of readdirSync(listDir).sort()) {
      if (name.endsWith(".list") || name.endsWith(".sources")) files.push(join(listDir, name));
    }
  }
  return files.map((file) => ({ name: file, text: readFileSync(file, "utf8") }));
}
