import { beforeAll, describe, expect, it } from "vitest";
import { announcedWaits, CUT_OFF_DEADLINE_SECONDS } from "../support/probeRunner";
import { needsTools } from "../support/systemTools";
import { PROBE_FAULT_CASES, probeFaultProblems, secretLeaks } from "./cases";
import { type ProbeCaseRun, runProbeFaultCase } from "./probeHarness";

/**
 * Faults survived with the right verdict and no false one: each row runs the real probe against a
 * Local Azure of its own with the fault injected, then judges the probe's JSON both as "granted" and
 * as "denied". All rows run at once in beforeAll, then each is asserted. The probe's backoffs and
 * deadlines pass on a virtual clock (tests/support/probeClock.ts); a window of Local Azure's own (an
 * attach delay, RBAC propagation, a revocation's lag) is held open until the probe has met it once
 * (cases.ts, windowShutAfter), so no row depends on how fast the machine is.
 */

const runs = new Map<string, ProbeCaseRun>();
const curlInstalled = needsTools("curl");

beforeAll(async () => {
  if (!curlInstalled) return;
  const results = await Promise.all(
    PROBE_FAULT_CASES.map(async (row) => [row.id, await runProbeFaultCase(row, "virtual")] as const),
  );
  for (const [id, run] of results) runs.set(id, run);
});

describe("fault matrix (probe.sh against Local Azure)", () => {
  it.each(PROBE_FAULT_CASES.map((row) => [row.id, row] as const))("%s", (id, row) => {
    const run = runs.get(id);
    expect(run, `row ${id} did not run`).toBeDefined();
    expect(probeFaultProblems(row, run?.observation as ProbeCaseRun["observation"])).toEqual([]);
    expect(secretLeaks({ stdout: run?.run.stdout ?? "", stderr: run?.run.stderr ?? "" })).toEqual([]);
  });

  it("the deadline ends a denial: the probe gives up there, having waited no longer than the deadline", () => {
    const run = runs.get("deadline-no-grant");
    expect(run?.observation.exitCode).toBe(1);
    const stderr = run?.run.stderr ?? "";
    const waits = announcedWaits(stderr, "arm resourceGroup");
    expect(waits.reduce((sum, wait) => sum + wait, 0)).toBeLessThanOrEqual(CUT_OFF_DEADLINE_SECONDS);
    expect(run?.observation.resourceGroupAttempts).toBe(waits.length + 1);
    expect(stderr).toContain(`probe: arm resourceGroup: deadline of ${CUT_OFF_DEADLINE_SECONDS}s reached; giving up\n`);
  });

  it("retries IMDS bursts with exactly one token request per failed answer", () => {
    for (const status of [404, 410, 429, 500, 503]) {
      expect(runs.get(`imds-${status}-burst`)?.observation.tokenAttempts, `IMDS ${status}`).toBe(3);
    }
  });
});
