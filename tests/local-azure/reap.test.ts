import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { processStartTime } from "../../local-azure/linuxGuest/host";

// reap.sh's bookkeeping on folders alone (no cgroup filesystem, no root): which guests it removes.
// Killing a real guest's cgroup is npm run test:guest's (tests/guest/leftovers.test.ts).

const REAP = join(__dirname, "..", "..", "local-azure", "linuxGuest", "reap.sh");
let base = "";

afterEach(() => rmSync(base, { recursive: true, force: true }));

function layout(guests: Record<string, string | null>) {
  base = mkdtempSync(join(tmpdir(), "reap-"));
  const runtime = join(base, "run");
  const cgroups = [join(base, "unified", "vm-identity-access"), join(base, "systemd", "vm-identity-access")];
  for (const [id, owner] of Object.entries(guests)) {
    mkdirSync(join(runtime, id, "upper", "etc"), { recursive: true });
    if (owner !== null) writeFileSync(join(runtime, id, "owner"), `${owner}\n`);
    for (const root of cgroups) mkdirSync(join(root, id, "machine", "payload"), { recursive: true });
  }
  const reap = (...args: string[]) =>
    execFileSync("sh", [REAP, ...args], {
      env: { PATH: process.env.PATH, GUEST_RUNTIME_ROOT: runtime, GUEST_CGROUPS: cgroups.join(" ") },
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
  const left = () => ({
    folders: existsSync(runtime) ? readdirSync(runtime).sort() : [],
    cgroups: cgroups.map((root) => (existsSync(root) ? readdirSync(root).sort() : [])),
  });
  return { reap, left };
}

const alive = `${process.pid} ${processStartTime(process.pid)}`;

describe("reap.sh", () => {
  it("sweep removes guests whose owner is gone or was another process with that PID, and keeps live owners'", () => {
    const { reap, left } = layout({
      "vm-live": alive,
      "vm-dead": "999999999 1",
      "vm-reused": `${process.pid} 1`,
      "vm-noowner": null,
    });
    reap("sweep");
    expect(left()).toEqual({ folders: ["vm-live"], cgroups: [["vm-live"], ["vm-live"]] });
  });

  it("sweep removes a cgroup whose folder is gone (a crash between making one and the other)", () => {
    const { reap, left } = layout({ "vm-live": alive });
    rmSync(join(base, "run", "vm-live"), { recursive: true });
    reap("sweep");
    expect(left()).toEqual({ folders: [], cgroups: [[], []] });
  });

  it("guest removes exactly the guests named, whoever owns them, and ignores names that are not guest IDs", () => {
    const { reap, left } = layout({ "vm-a": alive, "vm-b": alive });
    reap("guest", "vm-a", "..", "vm-b/../vm-b", "");
    expect(left()).toEqual({ folders: ["vm-b"], cgroups: [["vm-b"], ["vm-b"]] });
  });

  it("says how to call it when the mode is unknown", () => {
    const { reap } = layout({});
    expect(() => reap("everything")).toThrow(/usage: reap\.sh guest ID\.\.\. \| sweep \| watch PID START/);
  });
});
