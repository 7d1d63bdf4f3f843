import { spawn } from "node:child_process";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import {
  KEPT_FILE,
  KEPT_KEEPER_FILE,
  type KeepableAzure,
  readKeeper,
  readLiveKept,
  recordDestroySignal,
  removeStaleKept,
  writeKept,
} from "../../local/kept";
import { type ProcessIdentity, processAlive, processIdentity, sameProcess } from "../../local/processIdentity";
import { SERVICE_PID_FILE } from "../../local/service";
import { pidReuseFixtures } from "../support/pidReuse";

/**
 * kept.json names the process that keeps Local Azure (the service, `--keep`, `--engine` mid-run), and
 * stays behind after a crash, a SIGKILL or a reboot, when the kernel may give that PID to another
 * program. Its keeper's identity (keeper.json: start time and command line) tells the two apart: a
 * kept.json whose PID runs another program is stale, never signalled by `destroy`, never keeping
 * `start` from starting (review R3, finding 1; issue 24, point 5).
 */

const SERVICE_MAIN = resolve(__dirname, "../../local/serviceMain.ts");

const { stateDir, stranger, own, cli } = pidReuseFixtures("keeper-identity-");

/** What kept.json says of a Local Azure: only its shape matters here, nothing connects to it. */
const azure: KeepableAzure = {
  armEndpoint: "https://127.0.0.1:1",
  authorityHost: "https://127.0.0.1:1",
  tenantId: "t",
  subscriptionId: "s",
  sshPort: 1,
  caCertPem: "-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n",
  deployer: { clientId: "c", clientSecret: "secret" },
  vmRuntime: () => undefined,
};

/**
 * What a Local Azure service killed with SIGKILL leaves when its PID goes to `stranger` later:
 * kept.json and keeper.json name that PID with the service's start time and command line.
 */
function leftByCrashedService(dir: string, stranger: ProcessIdentity): void {
  const service = { pid: stranger.pid, startTime: "1", commandLine: ["node", SERVICE_MAIN, dir, "{}", "portable"] };
  writeKept(dir, azure, [], stranger.pid, null, () => service);
}

describe("the keeper beside kept.json", () => {
  it("is recorded by writeKept (mode 600), and removed with kept.json", () => {
    const dir = stateDir();
    writeKept(dir, azure, [], process.pid, null);
    expect(readKeeper(dir)).toEqual(processIdentity(process.pid));
    expect(readFileSync(join(dir, KEPT_KEEPER_FILE), "utf8")).toBe(`${JSON.stringify(processIdentity(process.pid))}\n`);
    expect(readLiveKept(dir)).toMatchObject({ keeper: processIdentity(process.pid) });
    recordDestroySignal(dir, "SIGUSR2");
    expect(readKeeper(dir)).toEqual({ ...processIdentity(process.pid), destroySignal: "SIGUSR2" });
  });

  it("makes kept.json live only while the recorded process runs under its PID", () => {
    const dir = stateDir();
    const recorded = { pid: 4242, startTime: "100", commandLine: ["node", SERVICE_MAIN, dir] };
    writeKept(dir, azure, [], 4242, null, () => recorded);
    const file = join(dir, KEPT_FILE);
    const reading = (live: ProcessIdentity | null) => () => live;
    expect(readLiveKept(dir, reading(recorded))).toMatchObject({ kept: { pid: 4242 }, keeper: recorded });
    expect(readLiveKept(dir, reading(null))).toEqual({
      none: `no Local Azure is running (${file} names process 4242, which is no longer running); start it with \`npm run local -- start\``,
      stale: true,
    });
    expect(readLiveKept(dir, reading({ pid: 4242, startTime: "777", commandLine: ["sleep", "1000"] }))).toEqual({
      none: `no Local Azure is running (${file} names process 4242, which is another program now: sleep 1000); start it with \`npm run local -- start\``,
      stale: true,
    });
    // The same program started again under the same PID is another process.
    expect(readLiveKept(dir, reading({ ...recorded, startTime: "101" }))).toMatchObject({ stale: true });
    // Reading removes nothing.
    expect(existsSync(file)).toBe(true);
    // A kept.json without its keeper (an older version's) cannot be told from another program's PID.
    rmSync(join(dir, KEPT_KEEPER_FILE));
    expect(readLiveKept(dir, reading(recorded))).toEqual({
      none: `no Local Azure is running (${file} names process 4242, but ${join(dir, KEPT_KEEPER_FILE)} does not record which process that was, so it may be any program now); start it with \`npm run local -- start\``,
      stale: true,
    });
  });

  it("is neither stale nor live while another keeper replaces the files (keeper.json first)", () => {
    const dir = stateDir();
    const first = { pid: 4242, startTime: "100", commandLine: ["a"] };
    const next = { pid: 4343, startTime: "200", commandLine: ["b"] };
    writeKept(dir, azure, [], 4242, null, () => first);
    const keptOfFirst = readFileSync(join(dir, KEPT_FILE), "utf8");
    writeKept(dir, azure, [], 4343, null, () => next);
    // kept.json of the first, keeper.json of the next: the moment between the next keeper's two writes.
    writeFileSync(join(dir, KEPT_FILE), keptOfFirst);
    const lookup = readLiveKept(dir, (pid) => (pid === 4242 ? first : next));
    expect(lookup).not.toHaveProperty("stale");
    expect(lookup).not.toHaveProperty("kept");
    expect(removeStaleKept(dir, (pid) => (pid === 4242 ? first : next))).toBeNull();
    expect(existsSync(join(dir, KEPT_FILE))).toBe(true);
  });
});

describe.runIf(process.platform === "linux")("a stale kept.json whose PID runs another program", () => {
  it("does not keep start from starting the service; the stranger runs on", async () => {
    const dir = stateDir();
    const sleep = stranger();
    leftByCrashedService(dir, sleep);
    const started = await cli(dir, "start");
    expect(started.stderr).toBe("");
    expect(started.code).toBe(0);
    const pid = Number(/^Local Azure is running \(pid (\d+)\)\./.exec(started.stdout)?.[1]);
    // kept.json and its keeper are the new service's now.
    expect(readLiveKept(dir)).toMatchObject({ kept: { pid }, keeper: { pid } });
    const stopped = await cli(dir, "stop");
    expect(stopped.code).toBe(0);
    expect(processAlive(pid)).toBe(false);
    expect(sameProcess(sleep, processIdentity(sleep.pid))).toBe(true);
    expect(existsSync(join(dir, SERVICE_PID_FILE))).toBe(false);
  }, 120_000);

  it("is never signalled by destroy, which removes the stale files and says so", async () => {
    const dir = stateDir();
    const sleep = stranger();
    leftByCrashedService(dir, sleep);
    const destroyed = await cli(dir, "destroy");
    expect(destroyed).toEqual({
      code: 0,
      stdout:
        `Removed a stale kept.json: no Local Azure is running (${join(dir, KEPT_FILE)} names process ${sleep.pid}, which is another program now: sleep 1000).\n` +
        "The local stack holds nothing; cleared the local state.\n",
      stderr: "",
    });
    expect(sameProcess(sleep, processIdentity(sleep.pid))).toBe(true);
    expect(existsSync(join(dir, KEPT_FILE))).toBe(false);
    expect(existsSync(join(dir, KEPT_KEEPER_FILE))).toBe(false);
  });
});

describe.runIf(process.platform === "linux")("destroy and a live keeper", () => {
  it("refuses, signalling nothing, when the keeper does not delete on request (the engine's run)", async () => {
    const dir = stateDir();
    const keeper = stranger();
    writeKept(dir, azure, [], keeper.pid, null);
    const destroyed = await cli(dir, "destroy");
    expect(destroyed).toEqual({
      code: 1,
      stdout: "",
      stderr: `error: process ${keeper.pid} keeps the Local Azure of ${dir} and does not delete on request: stop it first (Ctrl-C), then npm run local -- destroy\n`,
    });
    expect(sameProcess(keeper, processIdentity(keeper.pid))).toBe(true);
    expect(existsSync(join(dir, KEPT_FILE))).toBe(true);
  });

  it("asks a keeper that recorded its destroy signal, and waits until it removed kept.json", async () => {
    const dir = stateDir();
    // A keeper as `npm run local -- --keep` is one: on SIGUSR2 it deletes the stack and removes kept.json.
    const child = spawn(
      process.execPath,
      [
        "-e",
        `process.on("SIGUSR2", () => require("node:fs").rmSync(${JSON.stringify(join(dir, KEPT_FILE))}));
         setInterval(() => undefined, 1000);
         process.stdout.write("ready\\n");`,
      ],
      { stdio: ["ignore", "pipe", "ignore"] },
    );
    own(child);
    await new Promise<void>((ready) => child.stdout?.once("data", () => ready()));
    const pid = child.pid as number;
    writeKept(dir, azure, [], pid, null);
    recordDestroySignal(dir, "SIGUSR2", pid);
    const destroyed = await cli(dir, "destroy");
    expect(destroyed).toEqual({
      code: 0,
      stdout: `Deleted every resource through the Local Azure kept by process ${pid}; cleared the local state.\n`,
      stderr: "",
    });
    expect(processAlive(pid)).toBe(true);
  });
});
