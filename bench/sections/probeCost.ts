import { PROBE_FAULT_CASES, type ProbeFaultCase, probeFaultProblems } from "../../tests/matrix/cases";
import { type ProbeCaseRun, runProbeFaultCase } from "../../tests/matrix/probeHarness";
import type { Figure } from "../figures";
import { mapLimited } from "../pool";

/**
 * Probe cost on the VM: the HTTP requests Local Azure saw from one probe run (IMDS + ARM, from its
 * requestLog), in the happy path and under each fault of the matrix. The same rows as the tests.
 */

export interface ProbeCostRow {
  row: ProbeFaultCase;
  run: ProbeCaseRun;
  problems: string[];
}

export async function runProbeRows(
  rows: ProbeFaultCase[] = PROBE_FAULT_CASES,
  concurrency = 4,
): Promise<ProbeCostRow[]> {
  return mapLimited(rows, concurrency, async (row) => {
    const run = await runProbeFaultCase(row);
    return { row, run, problems: probeFaultProblems(row, run.observation) };
  });
}

export function probeCostFigures(rows: ProbeCostRow[]): Figure[] {
  return rows.map(({ row, run }) => {
    const o = run.observation;
    return {
      section: "probe cost (HTTP requests)",
      name: row.id,
      value: o.requests,
      unit: "count",
      how: `${row.tried}; requestLog entries during the probe run; token attempts ${o.tokenAttempts ?? "-"}, RG reads ${o.resourceGroupAttempts ?? "-"}, exit ${o.exitCode}, ${o.elapsedSeconds.toFixed(2)} s${row.id.startsWith("happy") ? " (goal: 3)" : ""}`,
    } satisfies Figure;
  });
}
