import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { onPath } from "../../local-azure/linuxGuest/host";
import {
  NFT_TABLE_PREFIX,
  redirectBatch,
  redirectedElsewhere,
  redirectTable,
  sshRedirectUnavailable,
} from "../../local-azure/linuxGuest/sshRedirect";

// Port 22 of a real guest's public IP, sent to its SSH gate by an nftables table of the guest's own
// (local-azure/linuxGuest/sshRedirect.ts): the batches, the checks, the names reap.sh relies on. The
// tables themselves, made and removed in a network namespace with a host sshd on 0.0.0.0:22, are
// tests/guest/hostSshd.test.ts's (npm run test:guest).

describe("a guest's nftables table", () => {
  it("is named after the guest, with the prefix reap.sh sweeps by", () => {
    expect(redirectTable("vm-0a1b2c3d4e")).toBe("vm_identity_access_0a1b2c3d4e");
    expect(NFT_TABLE_PREFIX).toBe("vm_identity_access_");
    expect(() => redirectTable("vm-x; flush ruleset")).toThrow('a guest ID is vm-<hex>; got "vm-x; flush ruleset"');
  });

  it("sends port 22 of the public IP to the gate's port, replacing the table's content in one transaction", () => {
    expect(redirectBatch("vm_identity_access_0a1b2c3d4e", "127.77.5.2", 40123)).toBe(
      [
        "add table ip vm_identity_access_0a1b2c3d4e",
        "delete table ip vm_identity_access_0a1b2c3d4e",
        "table ip vm_identity_access_0a1b2c3d4e {",
        "  chain ssh_redirect {",
        "    type nat hook output priority -100; policy accept;",
        "    ip daddr 127.77.5.2 tcp dport 22 dnat to 127.77.5.2:40123",
        "  }",
        "}",
        "",
      ].join("\n"),
    );
  });

  it("refuses port 22 while the VM is not ready (--ssh-not-ready), as a closed port does", () => {
    expect(redirectBatch("vm_identity_access_0a1b2c3d4e", "127.77.5.2", "refuse")).toContain(
      [
        "  chain ssh_refuse {",
        "    type filter hook output priority 0; policy accept;",
        "    ip daddr 127.77.5.2 tcp dport 22 reject with tcp reset",
        "  }",
      ].join("\n"),
    );
  });

  it.runIf(process.getuid?.() === 0 && onPath("nft") !== undefined)(
    "is a batch nft accepts, both ways (nft --check: the kernel is asked, nothing changes)",
    () => {
      for (const to of [40123, "refuse"] as const) {
        const checked = spawnSync("nft", ["--check", "-f", "-"], {
          input: redirectBatch(`${NFT_TABLE_PREFIX}0a1b2c3d4e`, "127.77.5.2", to),
          encoding: "utf8",
        });
        expect({ status: checked.status, stderr: checked.stderr }).toEqual({ status: 0, stderr: "" });
      }
    },
  );
});

describe("another guest's redirect of the same address", () => {
  const ruleset = [
    "table ip filter {",
    "\tchain output {",
    "\t\tip daddr 127.77.5.2 tcp dport 22 accept",
    "\t}",
    "}",
    "table ip vm_identity_access_1111111111 {",
    "\tchain ssh_redirect {",
    "\t\ttype nat hook output priority -100; policy accept;",
    "\t\tip daddr 127.77.5.2 tcp dport 22 dnat to 127.77.5.2:40001",
    "\t}",
    "}",
    "",
  ].join("\n");

  it("is found in the project's tables only, and never the guest's own", () => {
    expect(redirectedElsewhere(ruleset, "127.77.5.2", "vm_identity_access_0a1b2c3d4e")).toBe(
      "vm_identity_access_1111111111",
    );
    expect(redirectedElsewhere(ruleset, "127.77.5.2", "vm_identity_access_1111111111")).toBeNull();
    expect(redirectedElsewhere(ruleset, "127.77.5.20", "vm_identity_access_0a1b2c3d4e")).toBeNull();
  });
});

describe("whether this network namespace can have the tables", () => {
  const ran = (result: Partial<ReturnType<typeof spawnSync>>) => (() => result) as unknown as typeof spawnSync;

  it("is a dry run of a nat table: fine, or nft's own first error line", () => {
    expect(sshRedirectUnavailable(ran({ status: 0, stderr: "" }))).toBeNull();
    expect(
      sshRedirectUnavailable(
        ran({ status: 1, stderr: "Error: Could not process rule: Operation not supported\nmore\n" }),
      ),
    ).toBe("nft --check of a nat table failed: Error: Could not process rule: Operation not supported");
    expect(sshRedirectUnavailable(ran({ status: null, error: new Error("spawnSync nft ENOENT") }))).toBe(
      "nft could not run (spawnSync nft ENOENT)",
    );
    // An nft that exits before reading the batch: its status and words, not the EPIPE of writing to it.
    expect(
      sshRedirectUnavailable(ran({ status: 1, stderr: "Error: no\n", error: new Error("spawnSync nft EPIPE") })),
    ).toBe("nft --check of a nat table failed: Error: no");
  });

  it.runIf(process.getuid?.() === 0 && onPath("nft") !== undefined)("can, as root with nft here", () => {
    expect(sshRedirectUnavailable()).toBeNull();
  });
});
