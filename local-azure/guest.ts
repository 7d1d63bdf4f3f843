import { type ChildProcess, spawn } from "node:child_process";
import { timingSafeEqual } from "node:crypto";
import { mkdirSync } from "node:fs";
import { isIP } from "node:net";
import { type AuthContext, type Connection, type ParsedKey, Server, type ServerChannel, utils } from "ssh2";
import { generatePrivateKey } from "./tlsKeys";

/** What the guest (Local Azure's stand-in for a VM's sshd) needs to know about its VM. */
export interface GuestOptions {
  /** The VM's public IP: a loopback address such as 127.77.0.3; the server binds exactly this address. */
  host: string;
  /** sshPort: the same for every VM, since each guest binds its own address. 0 picks a free port (tests). */
  port: number;
  /** The only user accepted. */
  adminUsername: string;
  /** OpenSSH public key lines; the only keys accepted (publickey auth only, like the VM's secure default). */
  authorizedKeys: string[];
  /** OpenSSH private host key, as cloud-init installs it from customData. Absent: a fresh ed25519 key. */
  hostKeyPrivate?: string;
  /** The VM's own endpoints (AZURE_POD_IDENTITY_AUTHORITY_HOST, CURL_CA_BUNDLE, ...), set for every command. */
  env: Record<string, string>;
  /** A booting VM: nothing listens (ECONNREFUSED) until this many seconds after start. Defaults to 0. */
  notReadyForSeconds?: number;
  /** HOME and cwd of every command; created when missing. */
  workDir: string;
  /** Whether a connection from this source address gets through (the VM's NSG); default: every source. */
  admits?: (sourceIp: string) => boolean;
  /** Where a failure to listen after the not-ready window is reported. Defaults to a line on stderr. */
  onError?: (error: Error) => void;
}

export interface Guest {
  /** The host key as an OpenSSH public key line ("ssh-ed25519 AAAA..."), for pinning. */
  readonly hostPublicKey: string;
  readonly host: string;
  /** The listening port (the requested one, or the one picked when 0 was requested and listening began). */
  readonly port: number;
  /** Kills running commands, drops every connection and stops listening. */
  close(): Promise<void>;
}

/** PATH of a stock Linux image; the host's PATH (and its proxy variables) must not leak into the VM. */
const guestPath = "/usr/local/bin:/usr/bin:/bin";

/**
 * The environment every command sees: clean like a fresh sshd session, plus the VM's endpoints.
 * SSH `env` requests never reach it (sshd without AcceptEnv), only inline `VAR=x cmd` does.
 */
export function guestCommandEnvironment(
  opts: Pick<GuestOptions, "adminUsername" | "workDir" | "env">,
): Record<string, string> {
  return {
    PATH: guestPath,
    HOME: opts.workDir,
    USER: opts.adminUsername,
    LOGNAME: opts.adminUsername,
    LANG: "C.UTF-8",
    ...opts.env,
  };
}

/** Parses OpenSSH key text, naming the setting when it is not a usable key. */
export function parseSshKey(text: string, what: string): ParsedKey {
  const parsed = utils.parseKey(text);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (key instanceof Error || key === undefined) {
    const reason = key instanceof Error ? key.message : "no key found";
    throw new Error(`${what} is not a valid OpenSSH key (${reason}); expected e.g. "ssh-ed25519 AAAA... comment"`);
  }
  return key;
}

/** "ssh-ed25519 AAAA..." for a parsed key (private or public). */
export function openSshPublicKeyLine(key: ParsedKey): string {
  return `${key.type} ${key.getPublicSSH().toString("base64")}`;
}

function validateOptions(opts: GuestOptions): void {
  // Loopback only: the guest must never be reachable from, or bind to, anything but this machine.
  if (isIP(opts.host) !== 4 || !opts.host.startsWith("127.")) {
    throw new Error(`guest host must be an IPv4 loopback address (127.x.y.z); got "${opts.host}"`);
  }
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) {
    throw new Error(`guest port must be an integer 0..65535; got ${opts.port}`);
  }
  if (!opts.adminUsername) throw new Error("guest adminUsername must be a non-empty user name");
  if (opts.authorizedKeys.length === 0) {
    throw new Error("guest authorizedKeys must hold at least one OpenSSH public key line (password login is off)");
  }
  const delay = opts.notReadyForSeconds ?? 0;
  if (!Number.isFinite(delay) || delay < 0) {
    throw new Error(`guest notReadyForSeconds must be a number of seconds >= 0; got ${opts.notReadyForSeconds}`);
  }
  if (!opts.workDir) throw new Error("guest workDir must be a directory path (HOME and cwd of commands)");
}

function isAuthorized(ctx: AuthContext, username: string, authorizedKeys: ParsedKey[]): boolean {
  if (ctx.method !== "publickey" || ctx.username !== username) return false;
  const offered = ctx.key.data;
  const match = authorizedKeys.find((key) => {
    const blob = key.getPublicSSH();
    return blob.length === offered.length && timingSafeEqual(blob, offered);
  });
  if (match === undefined) return false;
  // No signature yet: the client only asks whether this key would do; the signed retry proves possession.
  if (ctx.signature === undefined || ctx.blob === undefined) return true;
  return match.verify(ctx.blob, ctx.signature, ctx.hashAlgo) === true;
}

/** Starts the guest. Resolves at once; with notReadyForSeconds the server starts listening only after that. */
export async function startGuest(opts: GuestOptions): Promise<Guest> {
  validateOptions(opts);
  const authorizedKeys = opts.authorizedKeys.map((line, index) => parseSshKey(line, `guest authorizedKeys[${index}]`));
  // Our generator, not ssh2's: ssh2's ed25519 keys are occasionally unreadable (see local/tlsKeys.ts).
  const hostKeyText = opts.hostKeyPrivate ?? generatePrivateKey("ED25519").privateKeyOpenssh;
  const hostKey = parseSshKey(hostKeyText, "guest hostKeyPrivate");
  if (!hostKey.isPrivateKey()) throw new Error("guest hostKeyPrivate must be a private key; got a public key");
  mkdirSync(opts.workDir, { recursive: true });
  const commandEnv = guestCommandEnvironment(opts);

  const connections = new Set<Connection>();
  const children = new Set<ChildProcess>();
  let closed = false;

  const server = new Server({ hostKeys: [hostKeyText] }, (client, info) => {
    // Dropped by the network security group: the connection never reaches sshd.
    if (opts.admits && !opts.admits(info.ip.replace(/^::ffff:/, ""))) {
      client.end();
      return;
    }
    connections.add(client);
    client.on("close", () => connections.delete(client));
    // A client vanishing mid-handshake is the client's problem, not the guest's.
    client.on("error", () => {});
    client.on("authentication", (ctx) => {
      if (isAuthorized(ctx, opts.adminUsername, authorizedKeys)) ctx.accept();
      else ctx.reject(["publickey"]);
    });
    client.on("session", (acceptSession) => {
      const session = acceptSession();
      session.on("env", (_accept, reject) => reject?.());
      session.on("pty", (_accept, reject) => reject?.());
      session.on("shell", (_accept, reject) => reject?.());
      session.on("subsystem", (_accept, reject) => reject?.());
      session.on("x11", (_accept, reject) => reject?.());
      session.on("auth-agent", (_accept, reject) => reject?.());
      session.on("exec", (accept, _reject, info) => {
        const channel = accept();
        const child = runCommand(info.command, channel, opts.workDir, commandEnv);
        children.add(child);
        child.on("close", () => children.delete(child));
      });
    });
  });

  let listening = false;
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(opts.port, opts.host, () => {
        server.off("error", reject);
        listening = true;
        resolve();
      });
    });

  const delaySeconds = opts.notReadyForSeconds ?? 0;
  let bootTimer: NodeJS.Timeout | undefined;
  if (delaySeconds === 0) {
    await listen();
  } else {
    bootTimer = setTimeout(() => {
      bootTimer = undefined;
      if (closed) return;
      listen().catch((error: Error) => {
        const report =
          opts.onError ??
          ((e: Error) => process.stderr.write(`guest ${opts.host}:${opts.port} could not listen: ${e.message}\n`));
        report(error);
      });
    }, delaySeconds * 1000);
  }

  return {
    hostPublicKey: openSshPublicKeyLine(hostKey),
    host: opts.host,
    get port() {
      const address = listening ? server.address() : null;
      return address !== null && typeof address === "object" ? address.port : opts.port;
    },
    async close() {
      if (closed) return;
      closed = true;
      if (bootTimer !== undefined) clearTimeout(bootTimer);
      for (const child of children) killProcessGroup(child);
      for (const client of connections) client.end();
      if (!listening) return;
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Runs `bash -c command` like sshd's exec: stdin/stdout/stderr wired to the channel, exit status sent, then close. */
function runCommand(command: string, channel: ServerChannel, workDir: string, env: Record<string, string>) {
  // Own process group, so close() can kill what the command started in the background too.
  const child = spawn("bash", ["-c", command], { cwd: workDir, env, stdio: "pipe", detached: true });
  // A command that exits without reading its stdin makes our writes fail with EPIPE: harmless.
  child.stdin.on("error", () => {});
  channel.pipe(child.stdin);
  child.stdout.pipe(channel, { end: false });
  child.stderr.pipe(channel.stderr, { end: false });
  child.on("error", (error) => {
    channel.stderr.write(`bash: ${error.message}\n`);
  });
  child.on("close", (code, signal) => {
    if (signal !== null) channel.exit(signal, false, "");
    else channel.exit(code !== null && code >= 0 ? code : 127);
    channel.end();
  });
  // The client went away (or closed the channel): like sshd, the command does not outlive its session.
  channel.on("close", () => {
    if (child.exitCode === null && child.signalCode === null) killProcessGroup(child);
  });
  return child;
}

function killProcessGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}
