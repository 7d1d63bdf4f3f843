import { describe, expect, it } from "vitest";
import { runLocalCli } from "../../local/cli";
import { type LocalRunResult, markChecks } from "../../local/deploy";
import { isLauncher, launchedAt, parentPidOf, phaseTable, processStartedAt } from "../../local/phases";

/** npm run local -- --timings: where a run's time goes, from when npm run local began. */

// A /proc/PID/stat whose command name holds a space and a parenthesis, as `(sd-pam)` or `(tsx watch)) x` may.
const STAT = "4242 (node (x) y) S 4200 4242 4200 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 7 0 12345 1 2 3";

describe("reading a process's start from /proc", () => {
  it("counts the fields after the command name's last ')': the parent and the start in ticks since boot", () => {
    expect(parentPidOf(STAT)).toBe(4200);
    // Booted 200 s ago by the uptime; started 123.45 s after boot: 76.55 s before now.
    expect(processStartedAt(STAT, "200.00 380.00\n", 1_000_000)).toBeCloseTo(1_000_000 - 76_550, 6);
  });

  it("refuses a stat it cannot read, naming it", () => {
    expect(() => processStartedAt("4242 (node) S 1", "200.00 1\n", 0)).toThrow(
      "cannot read a process's start from /proc: 4242 (node) S 1",
    );
  });

  it("knows npm (retitled too), npx, tsx and the shell running the runner as launchers, nothing else", () => {
    expect(isLauncher("node\0/usr/lib/node_modules/npm/bin/npm-cli.js\0run\0local\0")).toBe(true);
    expect(isLauncher("npm run local\0")).toBe(true);
    expect(isLauncher("npm\0run\0local\0")).toBe(true);
    expect(isLauncher("node\0/repo/node_modules/.bin/tsx\0local/cli.ts\0")).toBe(true);
    expect(isLauncher("sh\0-c\0tsx local/main.ts\0")).toBe(true);
    expect(isLauncher("sh\0-c\0tsx local/cli.ts\0")).toBe(true);
    expect(isLauncher("node\0/repo/node_modules/tsx/dist/cli.mjs\0local/cli.ts\0")).toBe(true);
    expect(isLauncher("bash\0-c\0vitest\0")).toBe(false);
  });

  it("dates the launch by the oldest launcher above this process, stopping at the first that is not one", () => {
    // bash (1) ← npm (10, started 100.00 s after boot) ← sh -c tsx local/main.ts (11, 100.20 s) ← tsx
    // (12, 100.30 s) ← this process (13); uptime 101.00 s, now 50,000 ms.
    const stat = (pid: number, ppid: number, startTicks: number) =>
      `${pid} (x) S ${ppid} 0 0 0 0 0 0 0 0 0 0 0 0 0 20 0 1 0 ${startTicks} 0`;
    const proc: Record<string, string> = {
      "/proc/uptime": "101.00 5.00\n",
      "/proc/13/stat": stat(13, 12, 10_040),
      "/proc/12/stat": stat(12, 11, 10_030),
      "/proc/12/cmdline": "node\0/repo/node_modules/.bin/tsx\0local/main.ts\0",
      "/proc/11/stat": stat(11, 10, 10_020),
      "/proc/11/cmdline": "sh\0-c\0tsx local/main.ts\0",
      "/proc/10/stat": stat(10, 1, 10_000),
      "/proc/10/cmdline": "npm run local\0",
      "/proc/2/cmdline": "bash\0",
    };
    const read = (path: string) => {
      if (!(path in proc)) throw new Error(`ENOENT ${path}`);
      return proc[path];
    };
    // npm began 1.00 s before now.
    expect(launchedAt(13, 50_000, read, 49_600)).toBeCloseTo(49_000, 6);
    // Under bash directly (its parent not a launcher): this process's own start.
    expect(
      launchedAt(13, 50_000, (path) => (path === "/proc/13/stat" ? stat(13, 2, 10_040) : read(path)), 49_600),
    ).toBe(49_600);
    // Where /proc cannot be read (not Linux): this process's own start too.
    expect(
      launchedAt(
        13,
        50_000,
        () => {
          throw new Error("ENOENT");
        },
        49_600,
      ),
    ).toBe(49_600);
  });
});

describe("the marks a run's timeline gives", () => {
  it("the first resource, and the checks over SSH and through Run Command, from the first one's start to the last one's end", () => {
    const marks: Array<[string, number]> = [];
    const event = (type: string, startedAt: number, finishedAt: number, operation?: "same") => ({
      type,
      name: "x",
      startedAt,
      finishedAt,
      ok: true,
      ...(operation ? { operation } : {}),
    });
    markChecks(
      [
        event("azure-native:resources:ResourceGroup", 40, 60),
        event("command:remote:Command", 300, 900),
        event("azure-native:compute:VirtualMachineRunCommandByVirtualMachine", 200, 700),
        event("command:remote:Command", 100, 5000, "same"),
      ],
      1_000,
      (name, at) => marks.push([name, at]),
    );
    expect(marks).toEqual([
      ["first resource began", 1_040],
      ["check began (the probe on the first VM)", 1_200],
      ["check ended (the last VM's probe judged)", 1_900],
    ]);
  });
});

describe("the profile --timings prints", () => {
  it("lists the marks in the order they happened, in ms since the launch and since the line before", () => {
    expect(
      phaseTable(
        [
          { name: "worker ready", at: 1_900 },
          { name: "this process started", at: 1_400 },
          { name: "Local Azure started", at: 1_750.4 },
        ],
        1_000,
      ),
    ).toBe(
      [
        "Timings (ms since `npm run local` began; +ms since the line before):",
        "     400  this process started  +400",
        "     750  Local Azure started   +350",
        "     900  worker ready          +150",
      ].join("\n"),
    );
  });

  it("npm run local -- --timings prints the run's own marks and the runner's, after the verdict", async () => {
    let stdout = "";
    const result: LocalRunResult = {
      ok: true,
      outputs: {},
      error: null,
      commandStdouts: [],
      timeline: [],
      wallSeconds: 1,
      azure: null,
      verdict: "VERIFIED: 1 of 1 check(s) proved access for identity user on 1 VM",
    };
    const code = await runLocalCli(["--timings"], {
      stdout: (text) => {
        stdout += text;
      },
      stderr: () => undefined,
      launchedAt: () => performance.timeOrigin - 300,
      deploy: async (opts) => {
        opts.onMark?.("check ended (the last VM's probe judged)", Date.now());
        return result;
      },
    });
    expect(code).toBe(0);
    const [, table] = stdout.split(`${result.verdict}\n(1.00 s)\n\n`);
    expect(table.split("\n").map((line) => line.replace(/^ +\d+ {2}/, "").replace(/ +\+\d+$/, ""))).toEqual([
      "Timings (ms since `npm run local` began; +ms since the line before):",
      "this process started (node with tsx's loader)",
      "runner loaded (its modules imported)",
      "flags read, the run begins",
      "check ended (the last VM's probe judged)",
      "verdict printed",
      "",
    ]);
    expect(table).toMatch(/^ {5}300 {2}this process started/m);
  });

  it("without --timings, no profile", async () => {
    let stdout = "";
    await runLocalCli([], {
      stdout: (text) => {
        stdout += text;
      },
      stderr: () => undefined,
      deploy: async () => ({
        ok: true,
        outputs: {},
        error: null,
        commandStdouts: [],
        timeline: [],
        wallSeconds: 1,
        azure: null,
        verdict: "VERIFIED",
      }),
    });
    expect(stdout).not.toContain("Timings");
  });
});
