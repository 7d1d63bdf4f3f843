import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deployLocal, type LocalRunOptions, type LocalRunResult } from "../../local/deploy";
import { stopIdleWorkers, workersSettled } from "../../local/workerProcess";
import type { Figure } from "../figures";
import { coveredLength, ratio, spread } from "../stats";

/**
 * Figures that need the whole program: the local main job (deployLocal and `npm run local`), the
 * critical path from deployLocal's timeline, and the fleet (vmCount 1, 3, 10).
 */

const REPO = join(__dirname, "..", "..");

export interface TimedDeploy {
  result: LocalRunResult;
  /** Wall time around the deployLocal() call, measured here (includes Local Azure start and stop). */
  outerSeconds: number;
}

/**
 * One deployLocal() in a throwaway state directory, so the bench never touches the user's local stack,
 * with a worker forked for it as `npm run local` forks one: the worker an earlier run left is stopped
 * first, so that every figure includes the worker's load (a reused worker would skip it).
 */
export async function timedDeploy(options: LocalRunOptions = {}): Promise<TimedDeploy> {
  const stateDir = mkdtempSync(join(tmpdir(), "bench-local-"));
  await workersSettled();
  stopIdleWorkers();
  try {
    const started = performance.now();
    const result = await deployLocal({ ...options, stateDir });
    return { result, outerSeconds: (performance.now() - started) / 1000 };
  } finally {
    rmSync(stateDir, { recursive: true, force: true });
  }
}

export async function mainJobFigures(
  runs: number,
  npmRuns: number,
): Promise<{ figures: Figure[]; first: TimedDeploy }> {
  const deploys: TimedDeploy[] = [];
  for (let i = 0; i < runs; i++) deploys.push(await timedDeploy());
  const failed = deploys.filter((d) => !d.result.ok).length;
  const inner = spread(deploys.map((d) => d.result.wallSeconds));
  const outer = spread(deploys.map((d) => d.outerSeconds));
  const section = "local main job";
  const figures: Figure[] = [
    {
      section,
      name: "deployLocal() wall, median",
      value: outer.median,
      unit: "s",
      how: `deployLocal() with default settings, ${runs} sequential runs, timed around the call (min ${outer.min.toFixed(2)} s, max ${outer.max.toFixed(2)} s); ${failed} not verified`,
    },
    {
      section,
      name: "deployLocal() own wallSeconds, median",
      value: inner.median,
      unit: "s",
      how: `LocalRunResult.wallSeconds over the same ${runs} runs (min ${inner.min.toFixed(2)} s, max ${inner.max.toFixed(2)} s)`,
    },
  ];
  if (npmRuns > 0) figures.push(...(await npmRunLocalFigures(npmRuns)));
  return { figures, first: deploys[0] };
}

/** The marks of `--timings` the bench reports, by the words their lines begin with (local/phases.ts). */
const PHASES = [
  "this process started",
  "runner loaded",
  "Local Azure started",
  "worker ready",
  "first resource began",
  "check began",
  "check ended",
  "verdict printed",
] as const;

/** The ms since launch of each PHASES mark in one `--timings` table (absent ones left out). */
export function phaseTimes(output: string): Map<string, number> {
  const times = new Map<string, number>();
  for (const line of output.split("\n")) {
    const match = /^\s+(\d+)\s{2}(.+?)\s{2,}\+\d+$/.exec(line);
    const phase = match && PHASES.find((name) => (match[2] as string).startsWith(name));
    if (match && phase) times.set(phase, Number(match[1]));
  }
  return times;
}

/**
 * `npm run local` as a user runs it, whole process: each run a fresh stack in a state folder of its own
 * (a second run into the same folder changes nothing and proves nothing new), with `--timings`; beside
 * it, in turn, `npm run local -- --help`, which starts npm, tsx and the runner and deploys nothing: the
 * floor any run pays before its own work, measured in the same bench.
 */
async function npmRunLocalFigures(runs: number): Promise<Figure[]> {
  const section = "local main job";
  const walls: number[] = [];
  const floors: number[] = [];
  const phases = new Map<string, number[]>();
  let failed = 0;
  for (let i = 0; i < runs; i++) {
    const stateDir = mkdtempSync(join(tmpdir(), "bench-npm-local-"));
    try {
      const run = await timeCommand("npm", ["run", "--silent", "local", "--", "--timings", "--state-dir", stateDir]);
      walls.push(run.seconds);
      if (run.exitCode !== 0) failed++;
      for (const [phase, ms] of phaseTimes(run.stdout)) phases.set(phase, [...(phases.get(phase) ?? []), ms]);
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
    floors.push((await timeCommand("npm", ["run", "--silent", "local", "--", "--help"])).seconds);
  }
  const wall = spread(walls);
  const floor = spread(floors);
  const figures: Figure[] = [
    {
      section,
      name: "npm run local (a new stack), wall, median",
      value: wall.median,
      unit: "s",
      how: `child_process: \`npm run local -- --timings --state-dir <new folder>\` from ${REPO}, ${runs} runs (min ${wall.min.toFixed(2)} s, max ${wall.max.toFixed(2)} s), npm and tsx start-up included; ${failed} not verified (goal 3.0 s, issue 25)`,
    },
    {
      section,
      name: "npm run local -- --help (start-up floor), median",
      value: floor.median,
      unit: "s",
      how: `the same way, in turn with the runs above (min ${floor.min.toFixed(2)} s, max ${floor.max.toFixed(2)} s): npm, tsx and the runner's modules, nothing deployed`,
    },
    {
      section,
      name: "npm run local : its start-up floor",
      value: ratio(wall.median, floor.median),
      unit: "ratio",
      how: "the two medians above, taken in the same bench",
    },
  ];
  for (const phase of PHASES) {
    const samples = phases.get(phase);
    if (!samples) continue;
    figures.push({
      section,
      name: `--timings: "${phase}", median`,
      value: spread(samples).median / 1000,
      unit: "s",
      how: `since npm run local began, from each run's --timings table (${samples.length} runs)`,
    });
  }
  return figures;
}

function timeCommand(
  command: string,
  args: string[],
): Promise<{ seconds: number; exitCode: number | null; stdout: string }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: REPO, stdio: ["ignore", "pipe", "ignore"] });
    let stdout = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.on("error", reject);
    child.on("close", (exitCode) => resolve({ seconds: (performance.now() - started) / 1000, exitCode, stdout }));
  });
}

interface TimelineEventLike {
  type: string;
  name: string;
  startedAt: number;
  finishedAt: number;
}

const LRO_TYPES = /^azure-native:(network|compute):/;

/** Critical path and waiting share from one default deploy's timeline (ms since the run started). */
export function criticalPathFigures(deploy: TimedDeploy): Figure[] {
  const timeline = deploy.result.timeline as unknown as TimelineEventLike[];
  const section = "critical path";
  const by = (pattern: RegExp) => timeline.filter((e) => pattern.test(e.type));
  const assignments = by(/RoleAssignment$/);
  const vms = by(/compute:VirtualMachine$/);
  const commands = by(/^command:remote:Command$/);
  const wallMs = deploy.result.wallSeconds * 1000;
  if (assignments.length === 0 || vms.length === 0) {
    return [
      {
        section,
        name: "timeline",
        value: null,
        unit: "text",
        how: "the deploy's timeline has no role assignment or VM",
      },
    ];
  }
  const firstAssignmentStart = Math.min(...assignments.map((e) => e.startedAt));
  const lastAssignmentEnd = Math.max(...assignments.map((e) => e.finishedAt));
  const firstVmReady = Math.min(...vms.map((e) => e.finishedAt));
  const lroMs = coveredLength(by(LRO_TYPES).map((e) => [e.startedAt, e.finishedAt]));
  const commandMs = coveredLength(commands.map((e) => [e.startedAt, e.finishedAt]));
  const probeSeconds = Math.max(
    0,
    ...deploy.result.commandStdouts.map((c) => {
      try {
        const elapsed = (JSON.parse(c.stdout) as { elapsedSeconds?: unknown }).elapsedSeconds;
        return typeof elapsed === "number" ? elapsed : 0;
      } catch {
        return 0;
      }
    }),
  );
  const firstStart = Math.min(...timeline.map((e) => e.startedAt));
  const allMs = coveredLength(timeline.map((e) => [e.startedAt, e.finishedAt]));
  return [
    {
      section,
      name: "role assignment created before the VM is ready",
      value: firstAssignmentStart < firstVmReady,
      unit: "verdict",
      how: `timeline: first RoleAssignment started at ${(firstAssignmentStart / 1000).toFixed(2)} s, finished ${(lastAssignmentEnd / 1000).toFixed(2)} s; first VM ready at ${(firstVmReady / 1000).toFixed(2)} s`,
    },
    {
      section,
      name: "share waiting on long-running operations",
      value: ratio(lroMs, wallMs),
      unit: "share",
      how: `union of network/compute PUT intervals (${(lroMs / 1000).toFixed(2)} s) / deployLocal wallSeconds (${deploy.result.wallSeconds.toFixed(2)} s); Local Azure lroSeconds default`,
    },
    {
      section,
      name: "share in the remote command (SSH + probe)",
      value: ratio(commandMs, wallMs),
      unit: "share",
      how: `union of command:remote:Command intervals (${(commandMs / 1000).toFixed(2)} s), of which the probe itself reported ${probeSeconds.toFixed(1)} s (elapsedSeconds, includes retries during RBAC delay)`,
    },
    {
      section,
      name: "share before the first resource (runtime start-up)",
      value: ratio(firstStart, wallMs),
      unit: "share",
      how: `first timeline event at ${(firstStart / 1000).toFixed(2)} s: child process, tsx, Pulumi mock runtime, program evaluation`,
    },
    {
      section,
      name: "share with no resource in flight",
      value: ratio(wallMs - firstStart - allMs, wallMs),
      unit: "share",
      how: "wall minus start-up minus the union of all resource intervals: output collection, state, shutdown",
    },
  ];
}

export async function fleetFigures(counts: number[]): Promise<Figure[]> {
  const section = "fleet";
  const walls = new Map<number, TimedDeploy>();
  for (const vmCount of counts) walls.set(vmCount, await timedDeploy({ vmCount }));
  const figures: Figure[] = counts.map((vmCount) => {
    const d = walls.get(vmCount) as TimedDeploy;
    return {
      section,
      name: `vmCount ${vmCount}`,
      value: d.outerSeconds,
      unit: "s",
      how: `deployLocal({ vmCount: ${vmCount} }), one run, timed around the call; verified ${d.result.ok}`,
    };
  });
  const first = walls.get(counts[0]);
  const last = walls.get(counts[counts.length - 1]);
  figures.push({
    section,
    name: `wall-time ratio ${counts[counts.length - 1]}:${counts[0]}`,
    value: ratio(last?.outerSeconds ?? null, first?.outerSeconds ?? null),
    unit: "ratio",
    how: "the two runs above (goal < 2: checks run concurrently)",
  });
  return figures;
}
