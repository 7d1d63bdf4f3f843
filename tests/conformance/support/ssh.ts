import { spawn } from "node:child_process";

/**
 * Helpers for the conformance tests that hold Local Azure and the program to real tools: OpenSSH's
 * `ssh`/`ssh-keygen` and cloud-init. Every tool runs as a child process with an argument array
 * (never a shell string), so no key, host or path is ever interpreted by a shell.
 */

/**
 * The known_hosts line that pins a host key for one SSH endpoint, as OpenSSH writes it: the bare host
 * on port 22, `[host]:port` on any other (sshd(8), SSH_KNOWN_HOSTS FILE FORMAT). The key's comment is
 * dropped: only its type and base64 blob take part in the match.
 */
export function knownHostsLine(host: string, port: number, hostPublicKey: string): string {
  // A space, comma or bracket would split the host pattern; a newline would add a line of its own.
  if (!/^[A-Za-z0-9.:-]+$/.test(host)) {
    throw new Error(
      `host must be a host name or IP address (letters, digits, ".", ":", "-"); got ${JSON.stringify(host)}`,
    );
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`port must be an integer 1..65535; got ${port}`);
  }
  const [type, blob] = hostPublicKey.trim().split(/\s+/);
  if (
    type === undefined ||
    !/^[a-z0-9@.-]+$/.test(type) ||
    blob === undefined ||
    !/^[A-Za-z0-9+/]+={0,2}$/.test(blob)
  ) {
    throw new Error(
      `hostPublicKey must be an OpenSSH public key line ("ssh-ed25519 AAAA..."); got ${JSON.stringify(hostPublicKey)}`,
    );
  }
  const pattern = port === 22 ? host : `[${host}]:${port}`;
  return `${pattern} ${type} ${blob}`;
}

export interface ToolResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a tool with an argument array, feeding `stdin` (or nothing), and collects its output. */
export function runTool(
  command: string,
  args: readonly string[],
  opts: { stdin?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: "pipe", env: opts.env ?? process.env });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    // A tool that exits without reading stdin: the write fails with EPIPE, which is not our failure.
    child.stdin.on("error", () => {});
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(opts.stdin ?? "");
  });
}
