import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { deployLocal, type LocalRunOptions, type LocalRunResult } from "../../local/deploy";
import { processState } from "../../local/processIdentity";
import { readState } from "../../local/state";
import { stopIdleWorkers, workersSettled } from "../../local/workerProcess";
import { needsTools } from "../support/systemTools";

/**
 * deployLocal hands a process's next run to the worker its last run left (local/workerProcess.ts), so
 * the load is paid once per process. A run in a reused worker must give exactly what a fresh worker
 * gives: the same sequence of different runs (a policy rejection, a program failure, good runs with
 * other settings, an update of the previous run's stack) is run in one reused worker and in a fresh
 * worker each, and everything the runs report is compared.
 */

const REJECTED_INPUT = join(__dirname, "fixtures", "rejectedInput", "index.ts");
const OPEN_SSH = join(__dirname, "..", "policy", "fixtures", "openSsh", "index.ts");
const WIDE_ROLE = join(__dirname, "..", "policy", "fixtures", "wideRole", "index.ts");

const stateRoot = mkdtempSync(join(tmpdir(), "worker-reuse-"));
afterAll(() => {
  stopIdleWorkers();
  rmSync(stateRoot, { recursive: true, force: true });
});

/** What differs between two runs of the same program by nature: generated IDs, names' suffixes, addresses, ports. */
function masked(text: string | null | undefined): string | null {
  if (text === null || text === undefined) return null;
  return text
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, "<guid>")
    .replace(/\b([a-z][a-z0-9-]*?)[0-9a-f]{8}\b/g, "$1<suffix>")
    .replace(/\b127\.\d+\.\d+\.\d+\b/g, "<address>")
    .replace(/port \d+/g, "port <n>");
}

interface AccessCheckShape {
  verified?: boolean;
  expectation?: string;
  results?: Array<{ identity: string; vm: string; checks: Array<{ name: string; ok: boolean }> }>;
}

/** Everything a run reports and writes, without what differs by nature (IDs, timings, keys, addresses). */
function comparable(result: LocalRunResult, stateDir: string) {
  const accessCheck = result.outputs.accessCheck as AccessCheckShape | undefined;
  return {
    ok: result.ok,
    verdict: masked(result.verdict),
    error: masked(result.error),
    outputs: Object.keys(result.outputs),
    accessCheck: accessCheck && {
      verified: accessCheck.verified,
      expectation: accessCheck.expectation,
      results: accessCheck.results?.map((r) => ({
        identity: r.identity,
        vm: masked(r.vm),
        checks: r.checks.map((check) => [check.name, check.ok]),
      })),
    },
    // Resources created at once finish in any order.
    timeline: result.timeline.map((e) => `${e.operation ?? "create"} ${e.type} ${e.name} ${e.ok}`).sort(),
    commandStdouts: result.commandStdouts.map((c) => c.name),
    policyViolations: (result.policyViolations ?? []).map((v) => ({ ...v, message: masked(v.message) })),
    state: Object.keys(readState(stateDir)?.resources ?? {}).sort(),
  };
}

/** The sequence: each step's options, in a state folder of its own unless it goes on from an earlier step's. */
const STEPS: Array<{ name: string; stack: string; options: LocalRunOptions }> = [
  { name: "a program rejected by policy in the preview", stack: "open-ssh", options: { programPath: OPEN_SSH } },
  {
    name: "a program that fails with a rejection nobody handled",
    stack: "rejected",
    options: { programPath: REJECTED_INPUT, config: { waitOnGroup: "false" } },
  },
  { name: "a good run, system identity", stack: "main", options: { identity: "system" } },
  { name: "a policy violation as a resource registers", stack: "wide-role", options: { programPath: WIDE_ROLE } },
  { name: "an update of the good run's stack, both identities", stack: "main", options: { identity: "both" } },
];

/** Runs the sequence in stacks under `root`: in one reused worker, or a fresh worker for each run. */
async function runSequence(root: string, fresh: boolean) {
  const runs: Array<{ workerMarks: string[]; seen: ReturnType<typeof comparable> }> = [];
  for (const step of STEPS) {
    if (fresh) {
      await workersSettled();
      stopIdleWorkers();
    }
    const stateDir = join(root, step.stack);
    const marks: string[] = [];
    const result = await deployLocal({
      ...step.options,
      stateDir,
      onMark: (name) => {
        if (/^worker (forked|reused)/.test(name)) marks.push(name);
      },
    });
    runs.push({ workerMarks: marks, seen: comparable(result, stateDir) });
  }
  return runs;
}

describe("runs in a reused worker", () => {
  needsTools("curl");

  it("give exactly what fresh workers give, one run after another of different kinds", async () => {
    const fresh = await runSequence(mkdtempSync(join(stateRoot, "fresh-")), true);
    await workersSettled();
    stopIdleWorkers();
    const reused = await runSequence(mkdtempSync(join(stateRoot, "reused-")), false);

    expect(fresh.map((run) => run.workerMarks)).toEqual(STEPS.map(() => ["worker forked"]));
    // Every run after the first took the worker the one before left.
    expect(reused.map((run) => run.workerMarks)).toEqual(
      STEPS.map((_, i) => [i === 0 ? "worker forked" : `worker reused (it reported ${i} run(s) before)`]),
    );
    for (const [i, step] of STEPS.entries()) {
      expect({ step: step.name, ...reused[i].seen }).toEqual({ step: step.name, ...fresh[i].seen });
    }
    // The sequence is what it claims to be (a comparison of two empty results would prove nothing).
    const [policy, failed, good, wideRole, update] = fresh.map((run) => run.seen);
    expect(policy.verdict).toBe("REJECTED BY POLICY: 1 mandatory violation (nsg-no-ssh-from-internet)");
    expect(failed.error).toBe('error serializing property "tags": Could not read what the group needs: socket hang up');
    expect(good.verdict).toBe("VERIFIED: 1 of 1 check(s) proved access for identity system on 1 VM");
    expect(wideRole.verdict).toBe(
      "REJECTED BY POLICY: 1 mandatory violation (role-assignment-reader-at-resource-group)",
    );
    expect(update.ok).toBe(true);
    expect(update.accessCheck?.results?.map((r) => r.identity).sort()).toEqual(["system", "user"]);
    expect(update.timeline.some((line) => line.startsWith("same "))).toBe(true);
  });
});

describe("a worker that failed", () => {
  needsTools("curl");

  it("is never handed another run: a program that stopped halfway ends its worker, the next run forks one", async () => {
    const marks: string[][] = [];
    const run = async (options: LocalRunOptions) => {
      const seen: string[] = [];
      const result = await deployLocal({
        ...options,
        stateDir: mkdtempSync(join(stateRoot, "failed-")),
        onMark: (name) => {
          if (/^worker (forked|reused)/.test(name)) seen.push(name);
        },
      });
      marks.push(seen);
      return result;
    };
    await workersSettled();
    stopIdleWorkers();
    await run({ programPath: REJECTED_INPUT, config: { waitOnGroup: "false" } });
    const stopped = await run({ programPath: REJECTED_INPUT, config: { waitOnGroup: "true" } });
    expect(stopped.error).toBe(
      'the program stopped with resources still waiting: error serializing property "tags": Could not read what the group needs: socket hang up',
    );
    await run({ programPath: REJECTED_INPUT, config: { waitOnGroup: "false" } });
    expect(marks).toEqual([["worker forked"], ["worker reused (it reported 1 run(s) before)"], ["worker forked"]]);
  });
});

describe("a worker left idle", () => {
  const FIXTURE = join(__dirname, "fixtures", "reuseThenExit", "main.ts");

  /** Runs the fixture (one deploy, the worker then idle) to its end; the idle worker's PIDs. */
  async function idleWorkersOf(how: "exit" | "kill"): Promise<{ workers: number[]; code: number | null }> {
    const child = spawn(process.execPath, ["--import", "tsx", FIXTURE, how], {
      cwd: join(__dirname, "..", ".."),
      stdio: ["ignore", "pipe", "inherit"],
    });
    let stdout = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.on("close", (exitCode) => resolve(exitCode)));
    const { workers } = JSON.parse(stdout) as { workers: number[] };
    return { workers, code };
  }

  /** Until the process is gone (or a zombie nobody reaped yet): it was killed, its end is a matter of the kernel's turn. */
  async function gone(pid: number): Promise<void> {
    for (let state = processState(pid); state !== null && state !== "Z"; state = processState(pid)) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  it("keeps no process alive: a process that deployed ends by itself, and its worker with it", async () => {
    const { workers, code } = await idleWorkersOf("exit");
    expect(code).toBe(0);
    expect(workers).toHaveLength(1);
    await gone(workers[0]);
  });

  it("goes when its process is killed, which runs nothing: the channel to it closed", async () => {
    const { workers, code } = await idleWorkersOf("kill");
    expect(code).toBeNull();
    expect(workers).toHaveLength(1);
    await gone(workers[0]);
  });
});
