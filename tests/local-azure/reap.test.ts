import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { processStartTime } from "../../local-azure/linuxGuest/host";

// reap.sh's bookkeeping on folders alone (no cgroup filesystem, no root): which guests it removes,
// with what systemd-nspawn left of them, and when the folders all guests share go.
// Killing a real guest's cgroup is npm run test:guest's (tests/guest/leftovers.test.ts).

const REAP = join(__dirname, "..", "..", "local-azure", "linuxGuest", "reap.sh");
let base = "";

afterEach(() => rmSync(base, { recursive: true, force: true }));

/**
 * Guests as folders: each one's runtime folder (with its owner file, unless null) and cgroups, and
 * systemd-nspawn's propagate folder for those listed in `propagate` (as a guest booted before
 * systemd-nspawn's state had a tmpfs left it), beside other machines' that are not guests.
 */
function layout(guests: Record<string, string | null>, propagate: string[] = [], tables: string[] = []) {
  base = mkdtempSync(join(tmpdir(), "reap-"));
  // nft, as far as reap.sh uses it, over a file of this network namespace's tables (family ip).
  const bin = join(base, "bin");
  const tableList = join(base, "nft-tables");
  mkdirSync(bin);
  writeFileSync(tableList, tables.map((name) => `table ip ${name}\n`).join(""));
  writeFileSync(
    join(bin, "nft"),
    `#!/bin/sh
case "$*" in
  "list tables ip") cat "${tableList}" ;;
  "delete table ip "*) grep -qx "table ip $4" "${tableList}" || exit 1
    grep -vx "table ip $4" "${tableList}" > "${tableList}.new"; mv "${tableList}.new" "${tableList}" ;;
  *) echo "nft: unexpected $*" >&2; exit 2 ;;
esac
`,
    { mode: 0o755 },
  );
  const project = join(base, "run", "project");
  const runtime = join(project, "guests");
  const cgroups = [join(base, "unified", "vm-identity-access"), join(base, "systemd", "vm-identity-access")];
  const nspawnPropagate = join(base, "nspawn", "propagate");
  mkdirSync(join(nspawnPropagate, "other-machine"), { recursive: true });
  for (const [id, owner] of Object.entries(guests)) {
    mkdirSync(join(runtime, id, "upper", "etc"), { recursive: true });
    if (owner !== null) writeFileSync(join(runtime, id, "owner"), `${owner}\n`);
    for (const root of cgroups) mkdirSync(join(root, id, "machine", "payload"), { recursive: true });
  }
  for (const id of propagate) mkdirSync(join(nspawnPropagate, id));
  const reap = (...args: string[]) =>
    execFileSync("sh", [REAP, ...args], {
      env: {
        PATH: `${bin}:${process.env.PATH}`,
        GUEST_RUNTIME_ROOT: runtime,
        GUEST_CGROUPS: cgroups.join(" "),
        NSPAWN_PROPAGATE: nspawnPropagate,
        GUEST_SHARED_FOLDERS: [...cgroups, runtime, project].join(" "),
        GUEST_NFT_TABLE_PREFIX: "vm_identity_access_",
      },
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
  const list = (dir: string) => (existsSync(dir) ? readdirSync(dir).sort() : null);
  const left = () => ({
    folders: list(runtime),
    cgroups: cgroups.map(list),
    propagate: list(nspawnPropagate),
    project: list(project),
    tables: readFileSync(tableList, "utf8").split("\n").filter(Boolean),
  });
  return { reap, left };
}

const alive = `${process.pid} ${processStartTime(process.pid)}`;

describe("reap.sh", () => {
  it("sweep removes guests whose owner is gone or was another process with that PID, and keeps live owners'", () => {
    const { reap, left } = layout(
      {
        "vm-live": alive,
        "vm-dead": "999999999 1",
        "vm-reused": `${process.pid} 1`,
        "vm-noowner": null,
      },
      ["vm-dead"],
    );
    reap("sweep");
    expect(left()).toEqual({
      folders: ["vm-live"],
      cgroups: [["vm-live"], ["vm-live"]],
      propagate: ["other-machine"],
      project: ["guests"],
      tables: [],
    });
  });

  it("sweep removes a cgroup whose folder is gone (a crash between making one and the other), then the shared folders", () => {
    const { reap, left } = layout({ "vm-live": alive });
    rmSync(join(base, "run", "project", "guests", "vm-live"), { recursive: true });
    reap("sweep");
    expect(left()).toEqual({
      folders: null,
      cgroups: [null, null],
      propagate: ["other-machine"],
      project: null,
      tables: [],
    });
  });

  it("sweep removes systemd-nspawn's propagate folder of a guest that is gone, and no other machine's", () => {
    const { reap, left } = layout({ "vm-0a1b2c3d4e": alive }, ["vm-0a1b2c3d4e", "vm-9f8e7d6c5b", "vm-notaguest"]);
    reap("sweep");
    expect(left()).toEqual({
      folders: ["vm-0a1b2c3d4e"],
      cgroups: [["vm-0a1b2c3d4e"], ["vm-0a1b2c3d4e"]],
      propagate: ["other-machine", "vm-0a1b2c3d4e", "vm-notaguest"],
      project: ["guests"],
      tables: [],
    });
  });

  it("guest removes exactly the guests named, whoever owns them, and ignores names that are not guest IDs", () => {
    const { reap, left } = layout({ "vm-a": alive, "vm-b": alive }, ["vm-a", "vm-b"]);
    reap("guest", "vm-a", "..", "vm-b/../vm-b", "");
    expect(left()).toEqual({
      folders: ["vm-b"],
      cgroups: [["vm-b"], ["vm-b"]],
      propagate: ["other-machine", "vm-b"],
      project: ["guests"],
      tables: [],
    });
  });

  it("guest removes the shared folders with the last guest", () => {
    const { reap, left } = layout({ "vm-a": alive });
    reap("guest", "vm-a");
    expect(left()).toEqual({
      folders: null,
      cgroups: [null, null],
      propagate: ["other-machine"],
      project: null,
      tables: [],
    });
  });

  it("sweep removes the nftables table of a guest that is gone (its port 22 redirect), and no other table", () => {
    const { reap, left } = layout(
      { "vm-0a1b2c3d4e": alive, "vm-1111111111": "999999999 1" },
      [],
      [
        "vm_identity_access_0a1b2c3d4e",
        "vm_identity_access_1111111111",
        // A guest whose folder is already gone: its table alone is left.
        "vm_identity_access_9f8e7d6c5b",
        "vm_identity_access_check",
        "filter",
      ],
    );
    reap("sweep");
    expect(left().tables).toEqual([
      "table ip vm_identity_access_0a1b2c3d4e",
      "table ip vm_identity_access_check",
      "table ip filter",
    ]);
    expect(left().folders).toEqual(["vm-0a1b2c3d4e"]);
  });

  it("guest removes the named guest's nftables table with it", () => {
    const { reap, left } = layout(
      { "vm-0a1b2c3d4e": alive, "vm-1111111111": alive },
      [],
      ["vm_identity_access_0a1b2c3d4e", "vm_identity_access_1111111111"],
    );
    reap("guest", "vm-0a1b2c3d4e");
    expect(left().tables).toEqual(["table ip vm_identity_access_1111111111"]);
  });

  it("says how to call it when the mode is unknown", () => {
    const { reap } = layout({});
    expect(() => reap("everything")).toThrow(/usage: reap\.sh guest ID\.\.\. \| sweep \| watch PID START/);
  });
});
