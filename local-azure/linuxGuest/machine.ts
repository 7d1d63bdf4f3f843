import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, watch, writeFileSync } from "node:fs";
import { dirname, isAbsolute, join } from "node:path";
import type { RunningScript, ScriptJob } from "../guestScript";
import { CGROUP_FOLDER, type CgroupRoots, GUEST_RUNTIME_ROOT, NSPAWN_RUNTIME_ROOT } from "./host";
import { IMAGE_HOSTS, type ImageLocation } from "./image";
import { ensureWatcher, ownerStamp, reapEnvironment, reapGuests } from "./reaper";
import { type GatedListener, gatedListener, type Relay, unixRelay } from "./relay";
import { runInGuest, userInGuest } from "./runScript";
import { GUEST_ARM_ADDRESS, guestHosts, guestSeed, IMDS_ADDRESS, type VmRequest } from "./seed";
import { redirectSsh } from "./sshRedirect";

/**
 * One real guest: the image booted by systemd-nspawn (systemd as PID 1, cloud-init, OpenSSH's sshd)
 * on an overlay of its own, in network and mount namespaces of its own, in a cgroup of its own.
 * Inside it, Azure's addresses answer: IMDS at http://169.254.169.254 and ARM at
 * https://management.azure.com (its /etc/hosts), each through socat in the guest's namespace, a Unix
 * socket, and a pipe here to the VM's IMDS server and Local Azure's ARM. Outside, the VM's public IP
 * (a loopback address) has SSH on port 22 (an nftables rule of the guest's own sends it to the gate's
 * port), relayed to the guest's sshd through the VM's NSG; a VM without a public IP has no such relay
 * at all. Scripts run inside it as Azure's agent runs them (./runScript.ts).
 */

export interface LinuxGuestOptions {
  /** The VM's request (name, osProfile…): the only source of what the guest is provisioned with. */
  request: VmRequest;
  /** The VM's public IP: a loopback address; SSH answers on its port 22. Null: no public IP, no SSH relay. */
  publicIp: string | null;
  /** The VM's own IMDS server, which the guest reaches at 169.254.169.254:80. */
  imds: { host: string; port: number };
  /** Local Azure's ARM (HTTPS; its certificate names management.azure.com), reached at management.azure.com:443. */
  arm: { host: string; port: number };
  /** Local Azure's CA, added to the guest's trust store. */
  caCertPem: string;
  /** The VM's NSG: whether a connection from this source may reach SSH. */
  admits: (sourceIp: string) => boolean;
  /** A slow VM: port 22 refuses connections for this long after the start. Defaults to 0. */
  notReadyForSeconds?: number;
  /**
   * Host folders the guest sees read-only at the same path (systemd-nspawn --bind-ro): a tool of the
   * host's used inside the guest without installing it in the image. None by default.
   */
  readOnlyBinds?: readonly string[];
  image: ImageLocation;
  cgroups: CgroupRoots;
  /** Where a boot failure is reported. Defaults to a line on stderr. */
  onError?: (error: Error) => void;
}

export interface LinuxGuest {
  /** Names the guest's folder, cgroup and container. */
  readonly id: string;
  /** The public IP SSH answers on, or null (no public IP). */
  readonly host: string | null;
  readonly port: number;
  readonly dir: string;
  /** Resolves once systemd in the guest reports the boot finished (sshd and cloud-init done) and the relays listen. */
  readonly ready: Promise<void>;
  /** The guest's PID 1 as the host sees it (for nsenter), once known. */
  leaderPid(): number | null;
  /** Runs a script inside the guest as root, through its systemd (once `ready` resolved). */
  runScript(job: ScriptJob): RunningScript;
  /** Whether the guest has a user of that name. */
  userExists(name: string): Promise<boolean>;
  /** Stops the guest and removes everything it had: processes, cgroups, folder. */
  close(): Promise<void>;
}

const SSH_PORT = 22;
const GUEST_TRUST_BUNDLE = "etc/ssl/certs/ca-certificates.crt";

/**
 * Runs in `unshare --mount --net`: loopback up with IMDS's address, the overlay mounted, and a tmpfs
 * for systemd-nspawn's runtime state (its propagate folder and image lock, which it removes only when
 * it exits by itself, never when a guest is stopped with cgroup.kill), then systemd-nspawn. Both
 * mounts are in this mount namespace only, so they go when the guest's last process does. mkdir -p
 * makes at most the folder systemd-nspawn itself would make on the host, empty.
 * Arguments: lower upper work root, then nspawn's.
 */
const BOOT_SCRIPT = `set -e
ip link set lo up
ip addr add ${IMDS_ADDRESS}/32 dev lo
mount -t overlay overlay -o "lowerdir=$1,upperdir=$2,workdir=$3" "$4"
mkdir -p ${NSPAWN_RUNTIME_ROOT}
mount -t tmpfs -o mode=0755,size=1m nspawn-runtime ${NSPAWN_RUNTIME_ROOT}
shift 4
exec systemd-nspawn "$@"`;

/** `sh -c` that moves itself into a cgroup, then runs the command: everything a guest starts is in its cgroup. */
function inCgroup(cgroup: string, argv: string[]): [string, string[]] {
  return ["sh", ["-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', cgroup, ...argv]];
}

/** Resolves when `file` exists (a socket a child process binds), watching its folder rather than polling. */
function whenExists(file: string, child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    const watcher = watch(dirname(file));
    const check = () => {
      if (!existsSync(file)) return;
      finish();
      resolve();
    };
    const failed = () => {
      finish();
      reject(new Error(`${child.spawnargs.join(" ")} exited before it made ${file}`));
    };
    const finish = () => {
      watcher.close();
      child.off("exit", failed);
    };
    watcher.on("change", check);
    child.once("exit", failed);
    check();
  });
}

/** Resolves when the child's stderr says it listens (socat -d -d: "N listening on …"). */
function whenListening(child: ChildProcess, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = "";
    const onData = (chunk: Buffer) => {
      seen = (seen + chunk.toString()).slice(-2000);
      if (seen.includes("listening on")) {
        child.off("exit", onExit);
        resolve();
      }
    };
    const onExit = (code: number | null) =>
      reject(new Error(`the ${what} relay exited (${code}) before listening: ${seen.trim().split("\n").pop()}`));
    child.stderr?.on("data", onData);
    child.once("exit", onExit);
  });
}

let trustBundleCache: { image: string; text: string } | null = null;

function imageTrustBundle(image: ImageLocation): string {
  if (trustBundleCache?.image !== image.rootfs) {
    trustBundleCache = { image: image.rootfs, text: readFileSync(join(image.rootfs, GUEST_TRUST_BUNDLE), "utf8") };
  }
  return trustBundleCache.text;
}

/**
 * Makes folders inside the folders all guests share, again if one of those vanished meanwhile:
 * reap.sh removes a shared folder once it is empty, when another Local Azure's last guest goes.
 */
function makeInShared(make: () => void): void {
  for (let attempt = 1; ; attempt++) {
    try {
      make();
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT" || attempt === 5) throw error;
    }
  }
}

function writeInto(upper: string, path: string, text: string, mode = 0o644): void {
  const file = join(upper, path);
  mkdirSync(dirname(file), { recursive: true, mode: 0o755 });
  writeFileSync(file, text, { mode });
}

/**
 * The guest's own files on top of the image: the NoCloud seed and the platform's cloud-init settings
 * from the VM's request, /etc/hosts naming Azure's ARM, and Local Azure's CA in the trust store (as
 * update-ca-certificates would put it there).
 */
function provision(upper: string, opts: LinuxGuestOptions): string {
  const seed = guestSeed(opts.request);
  writeInto(upper, "var/lib/cloud/seed/nocloud/meta-data", seed.metaData, 0o600);
  // user-data carries what customData carries, the SSH host key's private half among it.
  writeInto(upper, "var/lib/cloud/seed/nocloud/user-data", seed.userData, 0o600);
  writeInto(upper, "etc/cloud/cloud.cfg.d/90-azure-provisioning.cfg", seed.platformConfig);
  writeInto(upper, "etc/hosts", guestHosts(IMAGE_HOSTS, seed.hostname));
  const ca = opts.caCertPem.endsWith("\n") ? opts.caCertPem : `${opts.caCertPem}\n`;
  writeInto(upper, "usr/local/share/ca-certificates/local-azure.crt", ca);
  writeInto(upper, GUEST_TRUST_BUNDLE, `${imageTrustBundle(opts.image)}${ca}`);
  return seed.hostname;
}

function validate(opts: LinuxGuestOptions): void {
  if (opts.publicIp !== null && !/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(opts.publicIp)) {
    throw new Error(`a guest's public IP must be an IPv4 loopback address (127.x.y.z); got "${opts.publicIp}"`);
  }
  // overlayfs options are comma- and colon-separated.
  if (/[,:]/.test(opts.image.rootfs)) {
    throw new Error(`the guest image path must not contain "," or ":" (overlayfs options); got ${opts.image.rootfs}`);
  }
  for (const folder of opts.readOnlyBinds ?? []) {
    // --bind-ro=SOURCE[:DESTINATION[:OPTIONS]]: a colon would start the destination.
    if (!isAbsolute(folder) || folder.includes(":") || !existsSync(folder)) {
      throw new Error(
        `a folder bound into a guest must be an existing absolute path without ":" (systemd-nspawn --bind-ro); got ${folder}`,
      );
    }
  }
}

export async function bootLinuxGuest(opts: LinuxGuestOptions): Promise<LinuxGuest> {
  validate(opts);
  const id = `vm-${randomBytes(5).toString("hex")}`;
  const dir = join(GUEST_RUNTIME_ROOT, id);
  const env = reapEnvironment(opts.cgroups);
  // The owner file first, under a name the reaper does not take for a finished guest, then renamed.
  const fresh = join(GUEST_RUNTIME_ROOT, `.new-${id}`);
  makeInShared(() => {
    mkdirSync(GUEST_RUNTIME_ROOT, { recursive: true });
    mkdirSync(fresh, { mode: 0o700 });
  });
  writeFileSync(join(fresh, "owner"), `${ownerStamp()}\n`);
  renameSync(fresh, dir);
  ensureWatcher(env);

  const relays: Relay[] = [];
  let gate: GatedListener | null = null;
  let gateTimer: NodeJS.Timeout | undefined;
  /** The last change to the guest's nftables table, awaited before reap.sh removes the table. */
  let redirecting: Promise<void> = Promise.resolve();
  let closed = false;
  let leader: number | null = null;
  const report =
    opts.onError ?? ((error: Error) => process.stderr.write(`guest ${opts.request.name}: ${error.message}\n`));

  const close = async () => {
    if (closed) return;
    closed = true;
    clearTimeout(gateTimer);
    await Promise.all([gate?.close(), ...relays.map((relay) => relay.close())]);
    // A table made after reap.sh removed it would outlive the guest.
    await redirecting.catch(() => undefined);
    await reapGuests([id], env);
  };

  try {
    const upper = join(dir, "upper");
    const work = join(dir, "work");
    const root = join(dir, "root");
    for (const folder of [upper, work, root]) mkdirSync(folder, { mode: 0o755 });
    const hostname = provision(upper, opts);

    const cgroup = join(opts.cgroups.unified, CGROUP_FOLDER, id);
    const machineCgroup = join(cgroup, "machine");
    const relayCgroup = join(cgroup, "relays");
    makeInShared(() => {
      for (const folder of [machineCgroup, relayCgroup]) mkdirSync(folder, { recursive: true });
    });

    // The host's ends of the relays listen before anything in the guest can dial them.
    relays.push(await unixRelay(join(dir, "imds.sock"), opts.imds), await unixRelay(join(dir, "arm.sock"), opts.arm));
    // SSH: the gate listens on a free port of the public IP, and the guest's nftables table sends
    // <public IP>:22 there (sshRedirect.ts), since the host's own sshd may hold port 22 of every address.
    // No public IP: nothing listens for SSH anywhere, as on Azure.
    const publicIp = opts.publicIp;
    const sshGate =
      publicIp === null
        ? null
        : await gatedListener({
            host: publicIp,
            port: 0,
            admits: opts.admits,
            target: { path: join(dir, "ssh.sock") },
          });
    gate = sshGate;
    const sendPort22 = (host: string, to: number | "refuse") => {
      redirecting = redirectSsh(id, host, to).catch((error: Error) => {
        throw new Error(`port 22 of ${host} cannot reach the VM's guest: ${error.message}`);
      });
      return redirecting;
    };
    // A slow VM (notReadyForSeconds): port 22 refuses connections until then, as a booting VM's does.
    const delay = opts.notReadyForSeconds ?? 0;
    if (publicIp !== null && sshGate !== null) {
      await sendPort22(publicIp, delay === 0 ? sshGate.port : "refuse");
      if (delay > 0) {
        gateTimer = setTimeout(() => {
          if (!closed) sendPort22(publicIp, sshGate.port).catch(report);
        }, delay * 1000);
      }
    }

    const start = (
      argv: string[],
      stdio: "log" | "pipe" | "stdin",
      extraEnv: NodeJS.ProcessEnv = {},
      cg = relayCgroup,
    ) => {
      const [command, args] = inCgroup(cg, argv);
      const log = stdio === "log" ? openSync(join(dir, "console.log"), "a") : null;
      const child = spawn(command, args, {
        // Own process group: the terminal's Ctrl-C is for Local Azure, which stops its guests itself.
        detached: true,
        stdio: log !== null ? ["ignore", log, log] : [stdio === "stdin" ? "pipe" : "ignore", "pipe", "pipe"],
        env: { ...env, ...extraEnv },
      });
      if (log !== null) closeSync(log);
      return child;
    };

    // systemd-nspawn reports to NOTIFY_SOCKET: the container's leader PID once it runs, READY=1 once
    // systemd inside reports the boot finished (--notify-ready). Node has no Unix datagram sockets: socat reads them.
    const notifySocket = join(dir, "notify.sock");
    const notify = start(["socat", "-u", `UNIX-RECV:${notifySocket}`, "STDOUT"], "pipe");
    await whenExists(notifySocket, notify);

    const boot = start(
      [
        "unshare",
        "--mount",
        "--net",
        "--propagation",
        "private",
        "--",
        "sh",
        "-c",
        BOOT_SCRIPT,
        "boot",
        opts.image.rootfs,
        upper,
        work,
        root,
        "--quiet",
        "--boot",
        // This machine's PID 1 need not be systemd, nor a system bus be there: no machined, no scope unit.
        "--register=no",
        "--keep-unit",
        `--directory=${root}`,
        `--machine=${id}`,
        `--hostname=${hostname}`,
        "--resolv-conf=off",
        "--link-journal=no",
        "--console=read-only",
        "--notify-ready=yes",
        ...(opts.readOnlyBinds ?? []).map((folder) => `--bind-ro=${folder}`),
      ],
      "log",
      // Pure cgroup2 inside the guest, whatever mix the host has.
      { SYSTEMD_NSPAWN_UNIFIED_HIERARCHY: "1", NOTIFY_SOCKET: notifySocket },
      machineCgroup,
    );

    const ready = new Promise<void>((resolve, reject) => {
      let messages = "";
      let relaysStarted: Promise<void> | null = null;
      const startRelays = (namespacePid: number) => {
        const inGuestNet = (what: string, socatArgs: string[]) =>
          whenListening(
            start(["nsenter", "-t", String(namespacePid), "-n", "socat", "-d", "-d", ...socatArgs], "pipe"),
            what,
          );
        return Promise.all([
          inGuestNet("IMDS", [
            `TCP-LISTEN:80,bind=${IMDS_ADDRESS},reuseaddr,fork`,
            `UNIX-CONNECT:${join(dir, "imds.sock")}`,
          ]),
          inGuestNet("ARM", [
            `TCP-LISTEN:443,bind=${GUEST_ARM_ADDRESS},reuseaddr,fork`,
            `UNIX-CONNECT:${join(dir, "arm.sock")}`,
          ]),
          inGuestNet("SSH", [`UNIX-LISTEN:${join(dir, "ssh.sock")},fork,unlink-early`, `TCP:127.0.0.1:${SSH_PORT}`]),
        ]).then(() => undefined);
      };
      notify.stdout?.on("data", (chunk: Buffer) => {
        messages += chunk.toString();
        const pid = /X_NSPAWN_LEADER_PID=(\d+)/.exec(messages);
        // The container runs, so its namespaces exist: the relays can enter them (through nspawn's own PID,
        // which shares the guest's network namespace).
        if (pid && relaysStarted === null) {
          leader = Number(pid[1]);
          relaysStarted = startRelays(boot.pid as number);
          relaysStarted.catch(reject);
        }
        if (messages.includes("READY=1") && relaysStarted !== null) {
          relaysStarted.then(resolve, reject);
        }
      });
      boot.once("exit", (code, signal) => {
        if (closed) return;
        let tail = "";
        try {
          tail = readFileSync(join(dir, "console.log"), "utf8").trim().split("\n").slice(-3).join(" | ");
        } catch {
          // No log: nothing more to say.
        }
        reject(new Error(`systemd-nspawn exited (${signal ?? `exit ${code}`}) before the guest was ready: ${tail}`));
      });
    });
    ready.then(
      () => {
        sshGate?.open();
      },
      (error: Error) => {
        if (!closed) report(error);
      },
    );

    return {
      id,
      host: opts.publicIp,
      port: SSH_PORT,
      dir,
      ready,
      leaderPid: () => leader,
      // The host's side of a script (nsenter, systemd-run's client) is in the guest's cgroup, so it goes with the guest.
      runScript: (job) => runInGuest((argv) => start(argv, "stdin"), leader as number, job),
      userExists: (name) => userInGuest((argv) => start(argv, "stdin"), leader as number, name),
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
