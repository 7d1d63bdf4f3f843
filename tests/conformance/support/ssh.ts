import { spawn, spawnSync } from "node:child_process";

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

/** Debian packages that provide each tool these tests run. */
export const TOOL_PACKAGES: Readonly<Record<string, string>> = {
  ssh: "openssh-client",
  "ssh-keygen": "openssh-client",
  "cloud-init": "cloud-init",
};

/** The path of a command on `searchPath` (default: this process's PATH), or undefined. */
export function whichTool(command: string, searchPath = process.env.PATH ?? ""): string | undefined {
  const found = spawnSync("/bin/sh", ["-c", 'command -v "$1"', "sh", command], {
    encoding: "utf8",
    env: { PATH: searchPath },
  });
  const path = found.stdout.trim();
  return found.status === 0 && path.startsWith("/") ? path : undefined;
}

/** Fails with the package to install when a tool is missing (.ci/run installs them all). */
export function requireTool(command: string, searchPath?: string): string {
  const path = whichTool(command, searchPath);
  if (path === undefined) {
    const pkg = TOOL_PACKAGES[command] ?? command;
    throw new Error(
      `${command} is not installed: these conformance tests run the real tool. Install Debian's ${pkg} ` +
        `(apt-get install -y --no-install-recommends ${pkg}); .ci/run does this on a clean machine.`,
    );
  }
  return path;
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
