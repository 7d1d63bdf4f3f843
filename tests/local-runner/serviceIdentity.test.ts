import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { processAlive } from "../../local/kept";
import {
  type ProcessIdentity,
  processIdentity,
  procIdentity,
  psIdentity,
  sameProcess,
} from "../../local/processIdentity";
import { lookUpPidFile, parsePidFile, pidFileText, SERVICE_PID_FILE, serviceStatus } from "../../local/service";
import { pidReuseFixtures } from "../support/pidReuse";

/**
 * `npm run local -- stop` signals the process `start` started and no other (issue 24, point 5): the
 * pid file records the service's start time and command line beside its PID, and a PID that names
 * another program now (the kernel reuses PIDs after a crash or a reboot) is a stale pid file, removed,
 * its program left alone; `start` then starts a service instead of waiting forever for that program.
 */

const SERVICE_MAIN = resolve(__dirname, "../../local/serviceMain.ts");

const { stateDir, stranger, cli } = pidReuseFixtures("service-identity-");
// The time zone and locale a test gives ps are this process's: back as they were before the next test.
afterEach(() => vi.unstubAllEnvs());

const fakeProc = stateDir("fake-proc-");
function fakeProcess(pid: number, stat: string, cmdline: string): void {
  mkdirSync(join(fakeProc, String(pid)), { recursive: true });
  writeFileSync(join(fakeProc, String(pid), "stat"), stat);
  writeFileSync(join(fakeProc, String(pid), "cmdline"), cmdline);
}

describe("a process's identity", () => {
  it("is its start time (field 22 of /proc/PID/stat, after a command name with spaces and parentheses) and its arguments", () => {
    fakeProcess(
      201,
      "201 (no de) x)) S 1 201 201 0 -1 4194560 1 0 0 0 3 1 0 0 20 0 11 0 424242 1000 100",
      "node\0--import\0tsx\0serviceMain.ts\0",
    );
    expect(procIdentity(201, fakeProc)).toEqual({
      pid: 201,
      startTime: "424242",
      commandLine: ["node", "--import", "tsx", "serviceMain.ts"],
    });
  });

  it("is none for a zombie (it has exited) or a PID that runs nothing", () => {
    fakeProcess(202, "202 (node) Z 1 202 202 0 -1 4194560 1 0 0 0 3 1 0 0 20 0 11 0 424243 0 0", "");
    expect(procIdentity(202, fakeProc)).toBeNull();
    expect(procIdentity(203, fakeProc)).toBeNull();
  });

  it("is the same process only with the same PID, start time and every argument", () => {
    const recorded = { pid: 7, startTime: "100", commandLine: ["node", SERVICE_MAIN, "/s"] };
    expect(sameProcess(recorded, { ...recorded })).toBe(true);
    expect(sameProcess(recorded, { ...recorded, startTime: "101" })).toBe(false);
    expect(sameProcess(recorded, { ...recorded, commandLine: ["sleep", "1000"] })).toBe(false);
    expect(sameProcess(recorded, { ...recorded, commandLine: ["node", SERVICE_MAIN] })).toBe(false);
    expect(sameProcess(recorded, null)).toBe(false);
  });

  it("where there is no /proc, comes from ps: the start to the second and the command as one line", () => {
    const self = psIdentity(process.pid);
    expect(self?.pid).toBe(process.pid);
    expect(self?.startTime).toMatch(/^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$/);
    expect(self?.commandLine).toHaveLength(1);
    expect(self?.commandLine[0]).toContain(process.execPath.split("/").pop());
    const gone = spawnSync("true").pid as number;
    expect(psIdentity(gone)).toBeNull();
  });

  it("from ps, is the same whatever the time zone and locale of the shell that asks", () => {
    // The shell's TZ and LANG are this process's environment, which ps inherits.
    const asked = (TZ: string, LANG: string) => {
      vi.stubEnv("TZ", TZ);
      vi.stubEnv("LANG", LANG);
      vi.stubEnv("LC_ALL", LANG);
      return psIdentity(process.pid);
    };
    const utc = asked("UTC", "C");
    expect(utc?.startTime).toMatch(/^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$/);
    expect(asked("Asia/Tokyo", "C")).toEqual(utc);
    expect(asked("America/Los_Angeles", "de_DE.UTF-8")).toEqual(utc);
  });

  it("of this very process, read from the running system, names this process", () => {
    const self = processIdentity(process.pid);
    expect(self?.pid).toBe(process.pid);
    expect(self?.commandLine.join(" ")).toContain(process.execPath.split("/").pop());
    expect(sameProcess(self as ProcessIdentity, processIdentity(process.pid))).toBe(true);
  });
});

describe("the pid file", () => {
  it("records the identity as JSON, and reads back an older version's bare PID as a PID without one", () => {
    const identity = { pid: 42, startTime: "9", commandLine: ["node", "a b"] };
    expect(pidFileText(identity)).toBe('{"pid":42,"startTime":"9","commandLine":["node","a b"]}\n');
    expect(parsePidFile(pidFileText(identity))).toEqual({ pid: 42, identity });
    expect(parsePidFile("42\n")).toEqual({ pid: 42, identity: null });
    for (const junk of ["", "0\n", "-3", "pid", '{"pid":42}', '{"pid":"42","startTime":"9","commandLine":[]}']) {
      expect(parsePidFile(junk)).toBeNull();
    }
  });

  it("names the service only when the live process is the recorded one; a bare PID, only a service of this folder", () => {
    const dir = stateDir();
    const service = {
      pid: 300,
      startTime: "5",
      commandLine: ["node", "--import", "tsx", SERVICE_MAIN, dir, "{}", "portable"],
    };
    const reading = (live: ProcessIdentity | null) => () => live;
    writeFileSync(join(dir, SERVICE_PID_FILE), pidFileText(service));
    expect(lookUpPidFile(dir, reading(service))).toEqual({ service });
    expect(lookUpPidFile(dir, reading(null))).toEqual({ gone: 300 });
    const reused = { pid: 300, startTime: "77", commandLine: ["sleep", "1000"] };
    expect(lookUpPidFile(dir, reading(reused))).toEqual({ stranger: reused });
    // The same program started again under the same PID is another process.
    expect(lookUpPidFile(dir, reading({ ...service, startTime: "6" }))).toEqual({
      stranger: { ...service, startTime: "6" },
    });
    writeFileSync(join(dir, SERVICE_PID_FILE), "300\n");
    expect(lookUpPidFile(dir, reading(service))).toEqual({ service });
    expect(lookUpPidFile(dir, reading(reused))).toEqual({ stranger: reused });
    const otherFolder = { ...service, commandLine: ["node", "--import", "tsx", SERVICE_MAIN, `${dir}-other`, "{}"] };
    expect(lookUpPidFile(dir, reading(otherFolder))).toEqual({ stranger: otherFolder });
  });
});

describe.runIf(process.platform === "linux")("a stranger with the recorded PID", () => {
  it.each([
    [
      "the service's recorded identity",
      (sleep: ProcessIdentity, dir: string) =>
        pidFileText({
          pid: sleep.pid,
          startTime: "1",
          commandLine: ["node", "--import", "tsx", SERVICE_MAIN, dir, "{}", "portable"],
        }),
    ],
    ["a bare PID (an older version's pid file)", (sleep: ProcessIdentity) => `${sleep.pid}\n`],
  ])("survives stop, which removes the stale pid file (%s); status says it is not running", async (_, pidFile) => {
    const dir = stateDir();
    const sleep = stranger();
    writeFileSync(join(dir, SERVICE_PID_FILE), pidFile(sleep, dir));
    const status = await cli(dir, "status");
    expect(status).toEqual({
      code: 3,
      stdout: `Local Azure is not running (${join(dir, SERVICE_PID_FILE)} names process ${sleep.pid}, which is another program now (sleep 1000)); start it with npm run local -- start\n`,
      stderr: "",
    });
    const stopped = await cli(dir, "stop");
    expect(stopped).toEqual({
      code: 0,
      stdout: `Local Azure is not running: removed the stale ${join(dir, SERVICE_PID_FILE)} (it named process ${sleep.pid}, which is another program now (sleep 1000), left alone).\n`,
      stderr: "",
    });
    expect(sameProcess(sleep, processIdentity(sleep.pid))).toBe(true);
    expect(existsSync(join(dir, SERVICE_PID_FILE))).toBe(false);
  });

  it("does not keep start from starting the service, which stop then stops, the stranger still running", async () => {
    const dir = stateDir();
    const sleep = stranger();
    writeFileSync(join(dir, SERVICE_PID_FILE), `${sleep.pid}\n`);
    const started = await cli(dir, "start");
    expect(started.stderr).toBe("");
    expect(started.code).toBe(0);
    expect(started.stdout).toMatch(/^Local Azure is running \(pid (\d+)\)\.\n/);
    const recorded = parsePidFile(readFileSync(join(dir, SERVICE_PID_FILE), "utf8"));
    const pid = Number(/pid (\d+)/.exec(started.stdout)?.[1]);
    expect(recorded?.pid).toBe(pid);
    expect(recorded?.identity).toEqual(processIdentity(pid));
    // serviceMain.ts's arguments: the state folder, the faults, the guests.
    expect(recorded?.identity?.commandLine.slice(-4)).toEqual([SERVICE_MAIN, resolve(dir), "{}", "portable"]);
    expect("running" in serviceStatus(dir)).toBe(true);
    const stopped = await cli(dir, "stop");
    expect(stopped.code).toBe(0);
    expect(stopped.stdout).toMatch(/^Local Azure stopped; /);
    expect(processAlive(pid)).toBe(false);
    expect(sameProcess(sleep, processIdentity(sleep.pid))).toBe(true);
  }, 120_000);
});
