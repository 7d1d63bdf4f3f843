import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LocalAzure } from "../../local-azure/index";
import { NSPAWN_RUNTIME_ROOT } from "../../local-azure/linuxGuest/host";
import { bootVm, footprint, leftovers, run, startCloud } from "./support";

/**
 * Nothing a real guest starts outlives it: not when its Local Azure stops (the other files check that
 * after each run too), nor on Ctrl-C, SIGTERM or a crash (its watcher removes the guest), nor when the
 * watcher dies too (the next Local Azure with real guests sweeps what is left). "Nothing" is what
 * leftovers() looks for: the guest's folder, cgroups and processes, its namespaces, mounts and Unix
 * sockets, and what systemd-nspawn keeps on the host (propagate folder, image lock).
 */

const HOLDER = join(__dirname, "fixtures", "holder.ts");
const REPO = join(__dirname, "..", "..");

/** Starts the holder in a process group of its own (as a terminal's foreground job) and waits for its guest. */
async function holder(): Promise<{ child: ChildProcess; guestId: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", HOLDER], {
    cwd: REPO,
    detached: true,
    stdio: ["ignore", "pipe", "inherit"],
  });
  const guestId = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const ready = /ready (\S+)\n/.exec(out);
      if (ready) resolve(ready[1]);
    });
    child.once("exit", (code) => reject(new Error(`the holder exited (${code}) before its guest was up`)));
  });
  return { child, guestId };
}

/** An empty folder where systemd-nspawn would have put a guest's propagate folder on the host. */
function strayPropagateFolder(id: string): string {
  const folder = join(NSPAWN_RUNTIME_ROOT, "propagate", id);
  mkdirSync(folder, { recursive: true, mode: 0o600 });
  return folder;
}

/** The PID of the watcher that cleans up after `owner`, from the process table. */
function watcherOf(owner: number): number {
  for (const pid of readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
    let args: string[] = [];
    try {
      args = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    } catch {
      continue;
    }
    if (args.some((arg) => arg.endsWith("reap.sh")) && args.includes("watch") && args.includes(String(owner))) {
      return Number(pid);
    }
  }
  throw new Error(`no watcher for process ${owner}`);
}

/** Resolves when a process that is not our child exits (tail --pid waits for it without polling here). */
async function exited(pid: number): Promise<void> {
  await run("tail", [`--pid=${pid}`, "-f", "/dev/null"]);
}

describe("a guest's Local Azure stopped", () => {
  it("removes the guest and everything it held on the host", async () => {
    const azure = await startCloud();
    let print: ReturnType<typeof footprint> | undefined;
    try {
      const vm = await bootVm(azure, { vmName: "stopped-vm" });
      print = footprint(vm.guest.id);
      expect(print.namespaces.map((ns) => ns.split(":")[0])).toEqual(expect.arrayContaining(["mnt", "net"]));
      expect(leftovers({ footprints: [print] })).toContain(`folder ${vm.guest.id}`);
    } finally {
      await azure.stop();
    }
    expect(leftovers({ footprints: [print] })).toEqual([]);
  });
});

describe("a guest's Local Azure ended any way: its watcher removes the guest", () => {
  it.each([
    ["Ctrl-C (SIGINT to its process group)", "SIGINT", true],
    ["SIGTERM", "SIGTERM", false],
    ["a crash (SIGKILL)", "SIGKILL", false],
  ] as const)("%s", async (_label, signal, toGroup) => {
    const { child, guestId } = await holder();
    const owner = child.pid as number;
    const watcher = watcherOf(owner);
    const print = footprint(guestId);
    expect(leftovers({ footprints: [print] })).toContain(`folder ${guestId}`);
    process.kill(toGroup ? -owner : owner, signal);
    await exited(watcher);
    expect(leftovers({ footprints: [print] })).toEqual([]);
  });
});

describe("after a crash that took the watcher too", () => {
  it("the next Local Azure with real guests sweeps what was left before it starts any", async () => {
    const { child, guestId } = await holder();
    const owner = child.pid as number;
    const watcher = watcherOf(owner);
    const print = footprint(guestId);
    process.kill(watcher, "SIGKILL");
    process.kill(owner, "SIGKILL");
    await Promise.all([exited(watcher), exited(owner)]);
    const left = leftovers({ footprints: [print] });
    expect(left).toContain(`folder ${guestId}`);
    expect(left.some((line) => line.startsWith("process "))).toBe(true);
    expect(left.some((line) => line.startsWith("namespace net:"))).toBe(true);
    const next = await LocalAzure.start({ guests: "linux" });
    try {
      expect(leftovers({ footprints: [print] })).toEqual([]);
    } finally {
      await next.stop();
    }
  });

  it("the sweep also removes a propagate folder systemd-nspawn left on the host for a guest that is gone", async () => {
    // As a guest booted before systemd-nspawn's state had a tmpfs of its own left it, once killed.
    const id = "vm-0123456789";
    const folder = strayPropagateFolder(id);
    expect(leftovers({ ids: [id] })).toContain(`nspawn ${folder}`);
    const next = await LocalAzure.start({ guests: "linux" });
    try {
      expect(leftovers({ ids: [id] })).toEqual([]);
    } finally {
      await next.stop();
    }
  });
});
