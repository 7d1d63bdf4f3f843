/**
 * `npm run guest:build`: builds the real guests' image (image.ts) from Debian's packages with
 * debootstrap, once per machine: a second run with the same stamp finds it and returns at once.
 * Installs debootstrap and the guests' host tools (systemd-container, socat, util-linux, iproute2,
 * nftables: host.ts) with apt when they are missing, even when the image is built. Needs root and
 * Linux. Exit codes: 0 built or already there, 1 the build failed, 2 this machine cannot build it.
 */
import { spawn } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { HOST_TOOLS, onPath, processStartTime } from "./host";
import {
  aptSources,
  builtImage,
  GUEST_PACKAGES,
  GUEST_SUITE,
  IMAGE_CLOUD_CONFIG,
  IMAGE_HOSTS,
  type ImageLocation,
  imageLocation,
  imageMirror,
  MASKED_UNITS,
} from "./image";

/** The host tools the build and the guests use (host.ts checks the guests' before a run), by Debian package. */
const BUILD_PACKAGES: ReadonlyArray<{ tool: string; debianPackage: string }> = [
  { tool: "debootstrap", debianPackage: "debootstrap" },
  ...HOST_TOOLS,
];

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

function run(command: string, args: string[], quiet = false): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", quiet ? "ignore" : "inherit", "inherit"] });
    child.on("error", reject);
    child.on("exit", (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`${command} ${args[0]} failed (${signal ?? `exit ${code}`})`)),
    );
  });
}

/** Why this machine cannot build the image, or null. */
export function buildUnavailable(platform = process.platform, uid = process.getuid?.() ?? -1): string | null {
  if (platform !== "linux") return `guest:build needs Linux (debootstrap, systemd-nspawn); this is ${platform}`;
  if (uid !== 0) return "guest:build needs root (debootstrap makes device nodes and chroots); run it as root";
  return null;
}

/**
 * debootstrap checks a Debian suite's signature with Debian's keyring, which a Debian host has and an
 * Ubuntu one (a CI runner) gets from its own package of that name.
 */
const DEBIAN_KEYRING = {
  file: "/usr/share/keyrings/debian-archive-keyring.gpg",
  debianPackage: "debian-archive-keyring",
};

async function installMissingTools(): Promise<void> {
  const missing = [
    ...new Set([
      ...BUILD_PACKAGES.filter(({ tool }) => onPath(tool) === undefined).map((p) => p.debianPackage),
      ...(existsSync(DEBIAN_KEYRING.file) ? [] : [DEBIAN_KEYRING.debianPackage]),
    ]),
  ];
  if (missing.length === 0) return;
  if (onPath("apt-get") === undefined) {
    throw new Error(`missing ${missing.join(", ")} and no apt-get to install them with: install them first`);
  }
  say(`Installing ${missing.join(" ")} with apt-get...`);
  await run("apt-get", ["update", "-qq"]);
  await run("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...missing], true);
}

/**
 * The build's lock: one build per image at a time on this machine (CI jobs may share the cache). A lock
 * left by a process that is gone is taken over.
 */
function takeLock(location: ImageLocation): () => void {
  const lock = `${location.dir}.lock`;
  const owner = `${process.pid} ${processStartTime(process.pid)}`;
  // A machine's first build: the cache folder is not there yet.
  mkdirSync(dirname(lock), { recursive: true });
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, "owner"), owner);
      return () => rmSync(lock, { recursive: true, force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      let holder = "";
      try {
        holder = readFileSync(join(lock, "owner"), "utf8");
      } catch {
        // Made but not written yet, or being removed: taken over below.
      }
      const [pid, start] = holder.split(" ");
      if (pid && processStartTime(Number(pid)) === start?.trim()) {
        throw new Error(`another guest:build (process ${pid}) is building ${location.dir}; wait for it`);
      }
      rmSync(lock, { recursive: true, force: true });
    }
  }
}

/**
 * After debootstrap: nothing of this machine or of any one guest stays in the image (host keys,
 * machine-id, host name, resolver, package sources and lists), the masked units are masked, and the
 * platform's cloud-init settings are in place.
 */
function customize(rootfs: string): void {
  const inImage = (path: string) => join(rootfs, path);
  for (const name of readdirSync(inImage("etc/ssh"))) {
    if (name.startsWith("ssh_host_")) rmSync(inImage(`etc/ssh/${name}`));
  }
  // Empty, not absent: systemd makes a fresh one on each guest's first boot.
  writeFileSync(inImage("etc/machine-id"), "");
  for (const path of ["var/lib/dbus/machine-id", "etc/hostname", "etc/resolv.conf"]) {
    rmSync(inImage(path), { force: true });
  }
  writeFileSync(inImage("etc/hosts"), IMAGE_HOSTS);
  writeFileSync(inImage("etc/apt/sources.list"), "# The guests are offline: no package sources.\n");
  for (const folder of ["var/lib/apt/lists", "var/cache/apt/archives"]) {
    for (const name of readdirSync(inImage(folder))) {
      const path = join(inImage(folder), name);
      if (name !== "partial" && name !== "lock") rmSync(path, { recursive: true, force: true });
    }
  }
  for (const unit of MASKED_UNITS) {
    const link = inImage(`etc/systemd/system/${unit}`);
    rmSync(link, { force: true });
    symlinkSync("/dev/null", link);
  }
  writeFileSync(inImage("etc/cloud/cloud.cfg.d/05-local-azure.cfg"), IMAGE_CLOUD_CONFIG);
}

export async function buildImage(location = imageLocation()): Promise<"built" | "cached"> {
  // Before the cache is looked at: a machine whose image is built may still miss a tool the guests
  // need on the host (one added since, as nft was).
  await installMissingTools();
  if (builtImage(location)) return "cached";
  const found = imageMirror(process.env, aptSources());
  if ("missing" in found) throw new Error(found.missing);
  const { mirror } = found;
  const release = takeLock(location);
  const partial = `${location.dir}.partial`;
  try {
    if (builtImage(location)) return "cached";
    rmSync(partial, { recursive: true, force: true });
    mkdirSync(partial, { recursive: true });
    say(`debootstrap ${GUEST_SUITE} (${GUEST_PACKAGES.length} packages and their dependencies) into ${partial}...`);
    // In a mount namespace of its own: the /proc and /sys debootstrap mounts in the target go with it,
    // even if it is interrupted.
    await run("unshare", [
      "--mount",
      "--propagation",
      "private",
      "--",
      "debootstrap",
      "--variant=minbase",
      `--include=${GUEST_PACKAGES.join(",")}`,
      "--components=main",
      GUEST_SUITE,
      join(partial, "rootfs"),
      mirror,
    ]);
    customize(join(partial, "rootfs"));
    writeFileSync(
      join(partial, "complete"),
      `${JSON.stringify({ stamp: location.stamp, suite: GUEST_SUITE, packages: GUEST_PACKAGES, builtAt: new Date().toISOString() }, null, 2)}\n`,
    );
    rmSync(location.dir, { recursive: true, force: true });
    renameSync(partial, location.dir);
    return "built";
  } finally {
    if (existsSync(partial)) rmSync(partial, { recursive: true, force: true });
    release();
  }
}

if (require.main === module) {
  const why = buildUnavailable();
  if (why !== null) {
    process.stderr.write(`error: ${why}\n`);
    process.exitCode = 2;
  } else {
    const started = Date.now();
    const location = imageLocation();
    buildImage(location).then(
      (outcome) => {
        const seconds = ((Date.now() - started) / 1000).toFixed(1);
        say(
          outcome === "cached"
            ? `Guest image ${location.stamp} is already built: ${location.rootfs} (${seconds} s)`
            : `Built guest image ${location.stamp}: ${location.rootfs} (${seconds} s)`,
        );
      },
      (error: Error) => {
        process.stderr.write(`error: ${error.message}\n`);
        process.exitCode = 1;
      },
    );
  }
}
