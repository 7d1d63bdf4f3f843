import { spawn, spawnSync } from "node:child_process";

/**
 * Port 22 of a real guest's public IP (a loopback address), whatever else listens on port 22.
 *
 * A host's own sshd usually listens on 0.0.0.0:22, and Linux refuses to bind 127.x.y.z:22 beside a
 * wildcard listener of the port, so the guest's SSH gate listens on a free port of the public IP and an
 * nftables rule of the guest's own sends connections to <public IP>:22 there: a `nat` chain on the
 * `output` hook (locally generated packets, which every client of a loopback address sends) with
 * `dnat to <public IP>:<gate port>`. DNAT rewrites the destination only: the gate, and so the VM's
 * NSG, still see the client's own source address; and the host's sshd, on every other address, is
 * untouched. During `--ssh-not-ready` the rule refuses instead (`reject with tcp reset`: the client
 * gets "connection refused", as from a VM whose sshd is not up yet).
 *
 * Each guest has a table of its own, named after it (`vm_identity_access_<hex>` for guest
 * `vm-<hex>`), made with the guest and replaced atomically (one `nft -f` batch), removed by reap.sh
 * with the guest's other leftovers, or swept with them after a crash. Tables of their own, rather than
 * rules in a shared one, need no lock between Local Azure processes and cannot be lost to another
 * process removing a shared table with its last guest. The table lives in the network namespace of
 * the Local Azure that made it, and goes with it.
 */

/** The prefix of every guest's table; reap.sh recognises leftovers by it (reaper.ts passes it on). */
export const NFT_TABLE_PREFIX = "vm_identity_access_";

/** A guest's table: `vm-0123456789abcdef` → `vm_identity_access_0123456789abcdef` (nft names take no "-"). */
export function redirectTable(guestId: string): string {
  const match = /^vm-([0-9a-f]+)$/.exec(guestId);
  if (match === null) throw new Error(`a guest ID is vm-<hex>; got "${guestId}"`);
  return `${NFT_TABLE_PREFIX}${match[1]}`;
}

const SSH_PORT = 22;

/**
 * The `nft -f` batch that makes a guest's table say this, atomically: `add` then `delete` make the
 * table's old content (if any) go, whatever it was; the new table follows in the same transaction, so no
 * connection ever meets the port without a rule. `to`: the gate's port, or "refuse".
 */
export function redirectBatch(table: string, publicIp: string, to: number | "refuse"): string {
  const rule =
    to === "refuse"
      ? [
          // A filter chain: nftables rejects in filter chains only.
          "  chain ssh_refuse {",
          "    type filter hook output priority 0; policy accept;",
          `    ip daddr ${publicIp} tcp dport ${SSH_PORT} reject with tcp reset`,
          "  }",
        ]
      : [
          "  chain ssh_redirect {",
          // -100: where DNAT of locally generated packets belongs (iptables' nat OUTPUT).
          "    type nat hook output priority -100; policy accept;",
          `    ip daddr ${publicIp} tcp dport ${SSH_PORT} dnat to ${publicIp}:${to}`,
          "  }",
        ];
  return [`add table ip ${table}`, `delete table ip ${table}`, `table ip ${table} {`, ...rule, "}", ""].join("\n");
}

/**
 * Another table of the project's that already sends port 22 of this address somewhere (another Local
 * Azure's guest with the same public IP, in the same network namespace), from `nft list ruleset ip`'s
 * text; null when none does. Pure.
 */
export function redirectedElsewhere(ruleset: string, publicIp: string, ownTable: string): string | null {
  let table: string | null = null;
  for (const line of ruleset.split("\n")) {
    const opened = /^table ip (\S+) \{/.exec(line);
    if (opened) table = opened[1];
    if (
      table !== null &&
      table !== ownTable &&
      table.startsWith(NFT_TABLE_PREFIX) &&
      line.includes(`ip daddr ${publicIp} tcp dport ${SSH_PORT} `)
    ) {
      return table;
    }
  }
  return null;
}

/** Runs nft with a batch on stdin (or other arguments); rejects with nft's own first error line. */
export function nft(args: string[], stdin?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("nft", args, { stdio: [stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on("error", (error) => reject(new Error(`nft ${args.join(" ")}: ${error.message}`)));
    child.on("close", (code) => {
      if (code === 0) resolve(stdout);
      else reject(new Error(`nft ${args.join(" ")} failed: ${stderr.trim().split("\n")[0] || `exit ${code}`}`));
    });
    if (stdin !== undefined && child.stdin) {
      // Should nft exit before reading it all, its own error says why.
      child.stdin.on("error", () => undefined);
      child.stdin.end(stdin);
    }
  });
}

/** Makes (or replaces) a guest's table: port 22 of its public IP sent to the gate's port, or refused. */
export async function redirectSsh(guestId: string, publicIp: string, to: number | "refuse"): Promise<void> {
  const table = redirectTable(guestId);
  const other = redirectedElsewhere(await nft(["list", "ruleset", "ip"]), publicIp, table);
  if (other !== null) {
    throw new Error(
      `port 22 of ${publicIp} is already sent elsewhere by nftables table ${other} (another guest with the same address: one of another Local Azure on this machine, or one not yet torn down)`,
    );
  }
  await nft(["-f", "-"], redirectBatch(table, publicIp, to));
}

/**
 * Why this network namespace cannot have a guest's table, in a few words, or null when it can: a dry
 * run (`nft --check`, which asks the kernel and changes nothing) of a table with a `nat` output chain.
 * nftables' kernel support and CAP_NET_ADMIN are what it needs beyond the `nft` program.
 */
export function sshRedirectUnavailable(run: typeof spawnSync = spawnSync): string | null {
  const checked = run("nft", ["--check", "-f", "-"], {
    input: redirectBatch(`${NFT_TABLE_PREFIX}check`, "127.0.0.1", 1),
    encoding: "utf8",
  });
  if (checked.status === 0) return null;
  // An nft that exits without reading its input leaves an EPIPE beside its status: its own words count.
  if (typeof checked.status !== "number") return `nft could not run (${checked.error?.message ?? checked.signal})`;
  const said = String(checked.stderr ?? "")
    .trim()
    .split("\n")[0];
  return `nft --check of a nat table failed: ${said || `exit ${checked.status}`}`;
}
