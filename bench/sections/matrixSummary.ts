import { LocalAzure } from "../../local-azure";
import { buildAuthzWorld, runAuthzCase } from "../../tests/matrix/authzHarness";
import {
  AUTHZ_CASES,
  BAD_SETTING_CASES,
  BAD_SETTINGS_THROUGH_DEPLOY,
  badSettingProblems,
  DEPLOY_CASES,
  MALFORMED_PROBE_CASES,
  secretLeaks,
} from "../../tests/matrix/cases";
import { runBadSettingDeploy, runDeployCase } from "../../tests/matrix/deployHarness";
import { judgeProblems, verifyCliProblems } from "../../tests/matrix/malformedHarness";
import { settingsErrorOf } from "../../tests/matrix/settingsHarness";
import { runProbeRows } from "./probeCost";

/**
 * `npm run bench -- --matrix`: runs the rows of tests/matrix/cases.ts (the same rows and the same
 * checks the vitest files assert) and prints, per row, what was tried and whether it held.
 */

export interface MatrixRow {
  group: string;
  id: string;
  tried: string;
  held: boolean;
  /** What was observed when it held; the problems when it did not. */
  detail: string;
}

function row(group: string, id: string, tried: string, problems: string[], observed: string): MatrixRow {
  return {
    group,
    id,
    tried,
    held: problems.length === 0,
    detail: problems.length === 0 ? observed : problems.join("; "),
  };
}

export async function runMatrix(opts: { quick: boolean; progress: (line: string) => void }): Promise<MatrixRow[]> {
  const rows: MatrixRow[] = [];

  opts.progress("matrix: faults (probe.sh against Local Azure, rows concurrently)...");
  const probeRows = await runProbeRows(undefined, 6);
  for (const { row: r, run, problems } of probeRows) {
    const o = run.observation;
    const leaks = secretLeaks({ stdout: run.run.stdout, stderr: run.run.stderr });
    rows.push(
      row(
        "fault survived",
        r.id,
        r.tried,
        [...problems, ...leaks],
        `exit ${o.exitCode}; verified as granted ${o.verifiedWhenGranted}, as denied ${o.verifiedWhenDenied}; ` +
          `${o.requests} requests; error ${o.error ? `${o.error.stage} ${o.error.status} ${o.error.code}` : "none"}`,
      ),
    );
  }

  opts.progress("matrix: bad settings...");
  for (const r of BAD_SETTING_CASES) {
    const message = settingsErrorOf(r);
    rows.push(row("bad setting", r.id, JSON.stringify(r.raw), badSettingProblems(r, message), message ?? ""));
  }
  for (const id of BAD_SETTINGS_THROUGH_DEPLOY) {
    const r = BAD_SETTING_CASES.find((c) => c.id === id);
    if (!r) continue;
    const run = await runBadSettingDeploy(r);
    rows.push(
      row(
        "bad setting (deployLocal)",
        r.id,
        JSON.stringify(r.raw),
        run.problems,
        `refused, ${run.writes.length} writes`,
      ),
    );
  }

  opts.progress("matrix: malformed probe output...");
  for (const r of MALFORMED_PROBE_CASES) {
    rows.push(row("malformed → judge", r.id, r.tried, judgeProblems(r), "not verified either way, failed check named"));
    rows.push(
      row("malformed → npm run verify", r.id, r.tried, await verifyCliProblems(r), "exit 1, mismatch called out"),
    );
  }

  opts.progress("matrix: authorization table...");
  const azure = await LocalAzure.start({ faults: { rbacDelaySeconds: 0, directoryReplicationSeconds: 0 } });
  try {
    const world = await buildAuthzWorld(azure);
    for (const r of AUTHZ_CASES) {
      const decision = await runAuthzCase(world, r);
      rows.push(
        row(
          "authorization",
          `${r.principal} | ${r.action} | ${r.scope}`,
          `expect ${r.expected}`,
          decision === r.expected ? [] : [`got ${decision}, expected ${r.expected}`],
          decision,
        ),
      );
    }
  } finally {
    await azure.stop();
  }

  opts.progress("matrix: end to end through deployLocal (faults, denial, secrets)...");
  const deployRuns = await Promise.all(DEPLOY_CASES.map((r) => runDeployCase(r)));
  for (const run of deployRuns) {
    rows.push(
      row(
        "end to end",
        run.row.id,
        run.row.tried,
        run.problems,
        `ok ${run.result.ok} in ${run.result.wallSeconds.toFixed(1)} s; no token or key leaked into outputs, state, progress`,
      ),
    );
  }
  return rows;
}

export function renderMatrix(rows: MatrixRow[]): string {
  const lines: string[] = [];
  let group = "";
  for (const r of rows) {
    if (r.group !== group) {
      group = r.group;
      const inGroup = rows.filter((x) => x.group === group);
      lines.push("", `${group}: ${inGroup.filter((x) => x.held).length}/${inGroup.length} held`);
    }
    lines.push(`  ${r.held ? "✓" : "✗"} ${r.id}: ${r.tried}`, `      ${r.detail}`);
  }
  const failed = rows.filter((r) => !r.held).length;
  lines.push("", `${rows.length - failed} of ${rows.length} rows held${failed ? `; ${failed} did not` : ""}`);
  return lines.join("\n").trimStart();
}
