import { spawn } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { HANG_GUARD_MS } from "../support/hangGuard";

/**
 * Real guests start whatever listens on the host's port 22 (issue 24, point 2). Most servers and CI
 * VMs run an sshd on 0.0.0.0:22, and Linux refuses to bind 127.x.y.z:22 beside it: the guests' SSH gate
 * listened there, so `npm run local -- --guest linux` printed `listen EADDRINUSE` and never reached its
 * guest. Now each guest's own nftables table sends <public IP>:22 to its gate (sshRedirect.ts).
 *
 * The scenario (fixtures/hostSshd.ts) runs in a network namespace of this test's own, loopback up and
 * a listener on 0.0.0.0:22 standing for the host's sshd, so that neither touches the machine's own
 * port 22 or the guests other Local Azures run on it; the namespace goes when the scenario ends.
 */

const FIXTURE = join(__dirname, "fixtures", "hostSshd.ts");
const REPO = join(__dirname, "..", "..");

interface Seen {
  runner: { code: number | null; last: string; error: string };
  reachedDuringRun: string[];
  sshHostname: { code: number | null; stdout: string };
  sshFromOtherSource: number | null;
  guestBanner: string;
  hostSshdBanner: string;
  tablesWhileRunning: string[];
  guestTable: string;
  reachedHostSshd: string[];
  tablesAfter: string[];
  leftovers: string[];
  failed?: string;
}

/** A scenario in `unshare --net` (killed with this test's process if it hangs), and what it printed. */
function inOwnNetworkNamespace<T = Seen>(...scenario: string[]): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      "unshare",
      [
        "--net",
        "--kill-child",
        "--",
        "sh",
        "-c",
        'ip link set lo up && exec "$@"',
        "sh",
        process.execPath,
        "--import",
        "tsx",
        FIXTURE,
        ...scenario,
      ],
      { cwd: REPO, stdio: ["ignore", "pipe", "inherit"], timeout: HANG_GUARD_MS },
    );
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => {
      const line = out.trim().split("\n").pop() ?? "";
      try {
        resolve(JSON.parse(line) as T);
      } catch {
        reject(new Error(`the scenario exited ${code} without its report: ${out.trim().slice(-500)}`));
      }
    });
  });
}

describe("real guests on a host whose sshd listens on 0.0.0.0:22", () => {
  it("boot and answer SSH on port 22 of their public IP, the NSG seeing each client's own address; the host's sshd keeps its port", async () => {
    const seen = await inOwnNetworkNamespace();
    expect(seen.failed).toBeUndefined();
    // npm run local -- --guest linux: verified, and nothing of it went to the host's sshd.
    expect(seen.runner).toMatchObject({
      code: 0,
      last: "VERIFIED: 1 of 1 check(s) proved access for identity user on 1 VM",
    });
    expect(seen.runner.error).not.toContain("EADDRINUSE");
    expect(seen.reachedDuringRun).toEqual([]);
    // OpenSSH's ssh, with the pinned host key, reaches the guest's sshd.
    expect(seen.sshHostname).toEqual({ code: 0, stdout: "sshd-host-vm" });
    expect(seen.guestBanner).toMatch(/^SSH-2\.0-OpenSSH_/);
    // Through the redirect the gate sees the client's own source: 127.0.0.9 is outside the NSG's rule.
    expect(seen.sshFromOtherSource).toBe(255);
    // The host's sshd still has port 22 of every other address, and met only the client sent to it.
    expect(seen.hostSshdBanner).toBe("SSH-2.0-HostSshd_9.2");
    expect(seen.reachedHostSshd).toEqual(["127.0.0.1"]);
    // The guest's own table while it ran, none once Local Azure stopped, and nothing else left.
    expect(seen.tablesWhileRunning).toEqual([seen.guestTable]);
    expect(seen.tablesAfter).toEqual([]);
    expect(seen.leftovers).toEqual([]);
  });
});

describe("real guests where port 22 cannot be sent to the guest", () => {
  type Failed = { runner: Seen["runner"]; leftovers: string[]; failed?: string };

  it("are not booted: the run's check says what it needs, in one line, exit 2", async () => {
    const seen = await inOwnNetworkNamespace<Failed>("nft-refuses-everything");
    expect(seen.failed).toBeUndefined();
    expect(seen.runner).toEqual({
      code: 2,
      last: "",
      error:
        "error: --guest linux needs nftables in this network namespace, to send port 22 of each VM's address to its guest whatever listens on port 22 here: nft --check of a nat table failed: Error: Could not process rule: No buffer space available",
    });
    expect(seen.leftovers).toEqual([]);
  });

  it("whose table nftables refuses after the check passed fail the run at once, one line naming why, nothing left", async () => {
    const seen = await inOwnNetworkNamespace<Failed>("nft-refuses-tables");
    expect(seen.failed).toBeUndefined();
    expect(seen.runner.code).toBe(1);
    expect(seen.runner.last).toMatch(
      /^NOT VERIFIED: creating azure-native:compute:VirtualMachine vmia-vm0: Status=500 Code="InternalServerError" Message="port 22 of 127\.77\.\d+\.\d+ cannot reach the VM's guest: nft -f - failed: Error: Could not process rule: No buffer space available"$/,
    );
    expect(seen.leftovers).toEqual([]);
  });
});
