import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { processAlive, processState } from "../../local/kept";

/**
 * `npm run local -- stop` waits until the service's process is gone. In a container whose PID 1 is a
 * shell, the stopped service stayed a zombie (never reaped), kill(pid, 0) kept succeeding, and stop
 * waited out its deadline: seen in scripts/freshDebian.sh's container.
 */

const fakeProc = mkdtempSync(join(tmpdir(), "fake-proc-"));
afterAll(() => rmSync(fakeProc, { recursive: true, force: true }));

function fakeStat(pid: number, text: string): void {
  mkdirSync(join(fakeProc, String(pid)), { recursive: true });
  writeFileSync(join(fakeProc, String(pid), "stat"), text);
}

describe("processState", () => {
  it("reads the state after the command name, even one with a parenthesis and spaces in it", () => {
    fakeStat(101, "101 (node) S 1 101 101 0 -1 4194560");
    fakeStat(102, "102 (a) b (c)) Z 1 102 102 0 -1 4227084");
    expect(processState(101, fakeProc)).toBe("S");
    expect(processState(102, fakeProc)).toBe("Z");
  });

  it("is null where there is no /proc entry", () => {
    expect(processState(999_999, fakeProc)).toBeNull();
  });
});

describe("processAlive", () => {
  it("is true for a running process and false for one that is gone", async () => {
    const child = spawn("sleep", ["30"]);
    const pid = child.pid as number;
    expect(processAlive(pid)).toBe(true);
    const exited = new Promise((done) => child.on("exit", done));
    child.kill("SIGKILL");
    await exited;
    expect(processAlive(pid)).toBe(false);
  });

  it.runIf(process.platform === "linux")("is false for a zombie that no one reaps", async () => {
    // The shell becomes `sleep`, which never reaps a child; its background child exits only once it
    // has (a child that exits earlier may be reaped by the shell before its exec). $$ in the subshell
    // is the shell's PID.
    const parent = spawn(
      "sh",
      ["-c", 'while [ "$(cat /proc/$$/comm)" != sleep ]; do sleep 0.01; done & echo $!; exec sleep 30'],
      { stdio: ["ignore", "pipe", "ignore"] },
    );
    try {
      const zombie = Number(
        await new Promise<string>((done) => parent.stdout.once("data", (chunk: Buffer) => done(chunk.toString()))),
      );
      // Until `true` has exited it is alive; wait for the kernel to say it is a zombie (bounded).
      for (let tries = 0; processState(zombie) !== "Z" && tries < 500; tries++) {
        await new Promise((wake) => setTimeout(wake, 10));
      }
      expect(processState(zombie)).toBe("Z");
      expect(() => process.kill(zombie, 0)).not.toThrow();
      expect(processAlive(zombie)).toBe(false);
    } finally {
      parent.kill("SIGKILL");
    }
  });
});
