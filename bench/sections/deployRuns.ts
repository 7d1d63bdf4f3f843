import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deployLocal, type LocalRunOptions, type LocalRunResult } from "../../local/deploy";
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

/** One deployLocal() in a throwaway state directory, so the bench never touches the user's local stack. */
export async function timedDeploy(options: LocalRunOptions = {}): Promise<TimedDeploy> {
  const stateDir = mkdtempSync(join(tmpdir(), "bench-local-"));
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
  for (let i = 0; i < npmRuns; i++) {
    const npm = await timeCommand("npm", ["run", "--silent", "local"]);
    figures.push({
      section,
      name: `npm run local, run ${i + 1}`,
      value: npm.seconds,
      unit: "s",
      how: `child_process: \`npm run local\` from ${REPO}, exit ${npm.exitCode} (includes npm and tsx start-up; the user-facing figure; goal < 5 s)`,
    });
  }
  return { figures, first: deploys[0] };
}

function timeCommand(command: string, args: string[]): Promise<{ seconds: number; exitCode: number | null }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: REPO, stdio: "ignore" });
    child.on("error", reject);
    child.on("close", (exitCode) => resolve({ seconds: (performance.now() - started) / 1000, exitCode }));
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
