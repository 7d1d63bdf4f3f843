import { createPrivateKey, type KeyObject, timingSafeEqual } from "node:crypto";
import { Client, type ClientChannel, type ParsedKey, utils } from "ssh2";
import { fingerprintSha256, openSshEd25519PrivateKey } from "../local-azure/tlsKeys";

/**
 * What @pulumi/command 1.x `remote.Command` does with its `connection`, done for real with ssh2 so
 * `npm run local` runs the probe over SSH exactly as the provider would (defaults included).
 */
export interface RemoteConnection {
  host: string;
  /** Defaults to 22. */
  port?: number;
  /** Defaults to "root", like the provider. */
  user?: string;
  /** OpenSSH or PEM private key text. */
  privateKey?: string;
  /** OpenSSH public key line the server must present. Unset: the host key is not checked (provider default). */
  hostKey?: string;
  /**
   * Failed dials tolerated, like the provider's: the run gives up when failed dials exceed it, so 10
   * (the default) means at most 11 dials and 0 means one dial without retry. -1 retries forever.
   */
  dialErrorLimit?: number;
  /** Seconds one dial (TCP connect, handshake and authentication) may take. Defaults to 15. */
  perDialTimeout?: number;
}

export interface RemoteRun {
  stdout: string;
  stderr: string;
  exitCode: number;
  /** Dials made, the successful one included (1 when the host answered at once). */
  dials: number;
}

export interface RunRemoteCommandOptions {
  connection: RemoteConnection;
  command: string;
  stdin?: string;
  /** Sent as SSH `env` requests, which sshd drops unless AcceptEnv lists them: put values inline instead. */
  environment?: Record<string, string>;
  signal?: AbortSignal;
  /** Pause between dials. Defaults to 200 ms. */
  retryDelayMs?: number;
}

/** The remote command ran and failed (non-zero exit, killed by a signal, or no exit status at all). */
export class RemoteCommandError extends Error {
  readonly stdout: string;
  readonly stderr: string;
  /** null when the command died from a signal or the session ended without an exit status. */
  readonly exitCode: number | null;

  constructor(message: string, result: { stdout: string; stderr: string; exitCode: number | null }) {
    super(message);
    this.name = "RemoteCommandError";
    this.stdout = result.stdout;
    this.stderr = result.stderr;
    this.exitCode = result.exitCode;
  }
}

/** No SSH session could be established: host unreachable past dialErrorLimit, wrong host key, or aborted. */
export class SshDialError extends Error {
  readonly reason: "unreachable" | "host-key-mismatch" | "aborted";
  readonly dials: number;

  constructor(message: string, reason: SshDialError["reason"], dials: number) {
    super(message);
    this.name = "SshDialError";
    this.reason = reason;
    this.dials = dials;
  }
}

export interface ResolvedConnection {
  host: string;
  port: number;
  user: string;
  privateKey: string;
  pinnedHostKey: ParsedKey | undefined;
  dialErrorLimit: number;
  perDialTimeoutMs: number;
}

export const defaultRetryDelayMs = 200;

/** Applies the provider's defaults and rejects bad connection settings with a message naming the field. */
export function resolveConnection(connection: RemoteConnection): ResolvedConnection {
  if (typeof connection.host !== "string" || connection.host.trim() === "") {
    throw new Error("connection.host must be a host name or IP address; got an empty value");
  }
  const port = connection.port ?? 22;
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`connection.port must be an integer 1..65535; got ${connection.port}`);
  }
  const user = connection.user ?? "root";
  if (user === "") throw new Error('connection.user must be a non-empty user name (default "root")');
  if (connection.privateKey === undefined || connection.privateKey.trim() === "") {
    throw new Error("connection.privateKey is required: only public key authentication is supported");
  }
  const privateKey = privateKeyForSsh2(connection.privateKey);
  let pinnedHostKey: ParsedKey | undefined;
  if (connection.hostKey !== undefined && connection.hostKey.trim() !== "") {
    const parsedHostKey = utils.parseKey(connection.hostKey);
    if (parsedHostKey instanceof Error) {
      throw new Error(
        `connection.hostKey must be an OpenSSH public key line ("ssh-ed25519 AAAA..."); ${parsedHostKey.message}`,
      );
    }
    pinnedHostKey = parsedHostKey;
  }
  const dialErrorLimit = connection.dialErrorLimit ?? 10;
  if (!Number.isInteger(dialErrorLimit) || dialErrorLimit < -1) {
    throw new Error(`connection.dialErrorLimit must be an integer >= 0, or -1 for unlimited; got ${dialErrorLimit}`);
  }
  const perDialTimeout = connection.perDialTimeout ?? 15;
  if (!Number.isFinite(perDialTimeout) || perDialTimeout <= 0) {
    throw new Error(`connection.perDialTimeout must be a number of seconds > 0; got ${connection.perDialTimeout}`);
  }
  return {
    host: connection.host,
    port,
    user,
    privateKey,
    pinnedHostKey,
    dialErrorLimit,
    perDialTimeoutMs: perDialTimeout * 1000,
  };
}

/**
 * The key text ssh2 can use. The provider (Go's ssh.ParsePrivateKey) also takes PKCS#8 "PRIVATE KEY" PEM,
 * such as @pulumi/tls's privateKeyPemPkcs8 and its ED25519 privateKeyPem, which ssh2 cannot read: those
 * are re-encoded (RSA as PKCS#1, ECDSA as SEC1, ED25519 as OpenSSH).
 */
export function privateKeyForSsh2(text: string): string {
  const parsed = utils.parseKey(text);
  if (!(parsed instanceof Error)) {
    if (!parsed.isPrivateKey()) {
      throw new Error("connection.privateKey is a public key; it must be the private half (OpenSSH or PEM text)");
    }
    return text;
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(text);
  } catch {
    throw new Error(
      `connection.privateKey is not a usable private key (${parsed.message}); expected OpenSSH or PEM text`,
    );
  }
  switch (key.asymmetricKeyType) {
    case "rsa":
      return key.export({ type: "pkcs1", format: "pem" }).toString();
    case "ec":
      return key.export({ type: "sec1", format: "pem" }).toString();
    case "ed25519":
      return openSshEd25519PrivateKey(key);
    default:
      throw new Error(
        `connection.privateKey is a ${key.asymmetricKeyType} key; SSH keys must be RSA, ECDSA or ED25519`,
      );
  }
}

/**
 * The provider's failure message for a finished command, as @pulumi/command 1.x words it
 * (`fmt.Errorf("%w: running %q:\n%s", err, cmd, stdoutAndStderr)` in its remote commandOutputs.go):
 * the exit, the command line, then everything the command printed, so the evidence is in the error.
 * stdout comes before stderr here; the provider interleaves them as they were written.
 */
export function exitFailureMessage(
  exit: { exitCode: number | null; signal?: string },
  command: string,
  output: { stdout: string; stderr: string },
): string {
  const head =
    exit.exitCode !== null
      ? `Process exited with status ${exit.exitCode}`
      : exit.signal !== undefined
        ? `Process exited with signal ${exit.signal}`
        : "Process exited without exit status or exit signal";
  return `${head}: running ${JSON.stringify(command)}:\n${output.stdout}${output.stderr}`;
}

/** The provider trims one trailing newline from stdout and stderr before storing them. */
function trimOneNewline(text: string): string {
  return text.endsWith("\n") ? text.slice(0, -1) : text;
}

type DialOutcome = { ok: true; client: Client } | { ok: false; error: Error; hostKeyMismatch?: string };

function dialOnce(conn: ResolvedConnection, signal: AbortSignal | undefined): Promise<DialOutcome> {
  return new Promise((resolve) => {
    const client = new Client();
    let settled = false;
    let mismatch: string | undefined;
    const onAbort = () => settle({ ok: false, error: new Error("aborted") });
    signal?.addEventListener("abort", onAbort, { once: true });
    const settle = (outcome: DialOutcome) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener("abort", onAbort);
      // destroy, not end: a half-finished handshake must not leave the socket open.
      if (!outcome.ok) client.destroy();
      resolve(outcome);
    };
    client.once("ready", () => settle({ ok: true, client }));
    client.on("error", (error) => settle({ ok: false, error, hostKeyMismatch: mismatch }));
    client.once("close", () => settle({ ok: false, error: new Error("connection closed during handshake") }));
    client.connect({
      host: conn.host,
      port: conn.port,
      username: conn.user,
      privateKey: conn.privateKey,
      readyTimeout: conn.perDialTimeoutMs,
      hostVerifier: (presented: Buffer) => {
        const pinned = conn.pinnedHostKey;
        if (pinned === undefined) return true;
        const expected = pinned.getPublicSSH();
        if (expected.length === presented.length && timingSafeEqual(expected, presented)) return true;
        mismatch =
          `ssh: host key mismatch for ${conn.host}:${conn.port}: expected ${pinned.type} ${fingerprintSha256(expected)}, ` +
          `presented ${describeKeyBlob(presented)}`;
        return false;
      },
    });
  });
}

function describeKeyBlob(blob: Buffer): string {
  const parsed = utils.parseKey(blob);
  const type = parsed instanceof Error ? "key" : parsed.type;
  return `${type} ${fingerprintSha256(blob)}`;
}

function abortError(dials: number): SshDialError {
  return new SshDialError("ssh: aborted before a session was established", "aborted", dials);
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/**
 * Dials like the provider: every failure (refused, timeout, handshake, authentication) is retried after a
 * fixed pause until failed dials exceed dialErrorLimit; a wrong host key fails at once.
 */
export async function dialWithRetries(
  conn: ResolvedConnection,
  opts: { retryDelayMs?: number; signal?: AbortSignal } = {},
): Promise<{ client: Client; dials: number }> {
  const retryDelayMs = opts.retryDelayMs ?? defaultRetryDelayMs;
  let dials = 0;
  for (;;) {
    if (opts.signal?.aborted) throw abortError(dials);
    dials += 1;
    const outcome = await dialOnce(conn, opts.signal);
    if (opts.signal?.aborted && !outcome.ok) throw abortError(dials);
    if (outcome.ok) {
      if (opts.signal?.aborted) {
        outcome.client.end();
        throw abortError(dials);
      }
      return { client: outcome.client, dials };
    }
    // A different host key is not a booting VM: retrying would only hide a man in the middle.
    if (outcome.hostKeyMismatch !== undefined) {
      throw new SshDialError(outcome.hostKeyMismatch, "host-key-mismatch", dials);
    }
    if (conn.dialErrorLimit !== -1 && dials > conn.dialErrorLimit) {
      throw new SshDialError(
        `ssh: could not dial ${conn.user}@${conn.host}:${conn.port} after ${dials} attempts ` +
          `(dialErrorLimit ${conn.dialErrorLimit}): ${outcome.error.message}`,
        "unreachable",
        dials,
      );
    }
    await sleep(retryDelayMs, opts.signal);
  }
}

function execOnClient(
  client: Client,
  opts: RunRemoteCommandOptions,
): Promise<{ stdout: string; stderr: string; exitCode: number | null; signal?: string }> {
  return new Promise((resolve, reject) => {
    client.exec(opts.command, { env: opts.environment }, (error: Error | undefined, channel: ClientChannel) => {
      if (error) {
        reject(new Error(`ssh: could not start the remote command: ${error.message}`));
        return;
      }
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      let exitCode: number | null = null;
      let exitSignal: string | undefined;
      channel.on("data", (chunk: Buffer) => stdout.push(chunk));
      channel.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
      channel.on("exit", (code: number | null, signal?: string) => {
        if (typeof code === "number") exitCode = code;
        // ssh2 reports "SIGTERM"; the provider (Go's ExitError) names signals as the protocol does: "TERM".
        else if (signal !== undefined) exitSignal = signal.replace(/^SIG/, "");
      });
      channel.on("close", () =>
        resolve({
          stdout: Buffer.concat(stdout).toString("utf8"),
          stderr: Buffer.concat(stderr).toString("utf8"),
          exitCode,
          signal: exitSignal,
        }),
      );
      // Stdin then EOF, so a command reading its script from stdin (bash -s) sees the end of it.
      channel.end(opts.stdin ?? "");
    });
  });
}

/**
 * Runs one command over SSH the way remote.Command's create does and returns what the provider would
 * store. A non-zero exit throws RemoteCommandError (the provider fails the resource); stdout and
 * stderr stay on the error for diagnosis.
 */
export async function runRemoteCommand(opts: RunRemoteCommandOptions): Promise<RemoteRun> {
  const conn = resolveConnection(opts.connection);
  const { client, dials } = await dialWithRetries(conn, opts);
  client.on("error", () => {});
  const onAbort = () => client.end();
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    const result = await execOnClient(client, opts);
    if (opts.signal?.aborted) throw new SshDialError("ssh: aborted while the remote command ran", "aborted", dials);
    const stdout = trimOneNewline(result.stdout);
    const stderr = trimOneNewline(result.stderr);
    if (result.exitCode !== 0) {
      throw new RemoteCommandError(exitFailureMessage(result, opts.command, result), {
        stdout,
        stderr,
        exitCode: result.exitCode,
      });
    }
    return { stdout, stderr, exitCode: 0, dials };
  } finally {
    opts.signal?.removeEventListener("abort", onAbort);
    client.end();
  }
}
