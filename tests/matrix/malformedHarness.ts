import type { AccessCheck, Expected } from "../../verify/contract";
import { judgeProbe, parseProbeOutput } from "../../verify/judge";
import { goodProbeJson, hasRawControlCharacters, type MalformedProbeCase } from "./cases";

/**
 * Feeds malformed probe output to the judge and to `npm run verify` (runVerifyCli, in process) and
 * reports every way the answer falls short of "no crash, a clear verdict".
 */

export const FACTS = {
  subscriptionId: "00000000-0000-4000-8000-000000000001",
  resourceGroup: "rg-matrix",
  armEndpoint: "https://127.0.0.1:8443",
  clientId: "3c1f6a5e-7d2b-4e8a-9f10-2b3c4d5e6f70",
  principalId: "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
  tenantId: "72f988bf-86f1-41af-91ab-2d7cd011db47",
  resourceId:
    "/subscriptions/00000000-0000-4000-8000-000000000001/resourcegroups/rg-matrix/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-matrix",
};

export const EXPECTED: Expected = {
  principalId: FACTS.principalId,
  clientId: FACTS.clientId,
  resourceId: FACTS.resourceId,
  tenantId: FACTS.tenantId,
  resourceGroupId: `/subscriptions/${FACTS.subscriptionId}/resourceGroups/${FACTS.resourceGroup}`,
  resource: `${FACTS.armEndpoint}/`,
};

/** A detail longer than this shows the judge echoing untrusted input without bound. */
export const MAX_DETAIL_LENGTH = 2_000;

export function malformedStdout(row: MalformedProbeCase): string {
  return row.stdout(goodProbeJson(FACTS));
}

/** Judges the row's stdout as granted and as denied; lists what is wrong with the answers. */
export function judgeProblems(row: MalformedProbeCase): string[] {
  const problems: string[] = [];
  let probe: unknown;
  try {
    probe = parseProbeOutput(malformedStdout(row));
  } catch (error) {
    return [`parseProbeOutput threw: ${(error as Error).message}`];
  }
  for (const expectation of ["granted", "denied"] as const) {
    let verdict: ReturnType<typeof judgeProbe>;
    try {
      verdict = judgeProbe(probe, EXPECTED, "user", expectation);
    } catch (error) {
      problems.push(`judgeProbe (${expectation}) threw: ${(error as Error).message}`);
      continue;
    }
    if (verdict.verified) problems.push(`verified as ${expectation}`);
    if (!verdict.checks.some((check) => !check.ok)) problems.push(`no failed check named (${expectation})`);
    for (const check of verdict.checks) {
      if (check.detail.length > MAX_DETAIL_LENGTH) {
        problems.push(`check ${check.name}: detail of ${check.detail.length} characters`);
      }
      if (hasRawControlCharacters(`${check.name}${check.detail}`)) {
        problems.push(`check ${check.name}: raw control characters in its detail`);
      }
    }
  }
  return problems;
}

/**
 * The stack outputs a tampered run would leave: the malformed probe output stored with a
 * `verified: true` verdict, as if someone had edited it. `npm run verify` must re-judge it.
 */
export function tamperedOutputs(row: MalformedProbeCase): string {
  const probe = parseProbeOutput(malformedStdout(row));
  const accessCheck: AccessCheck = {
    verified: true,
    expectation: "granted",
    results: [
      {
        vm: "vm-matrix-0",
        identity: "user",
        expected: EXPECTED,
        probe,
        checks: [{ name: "probe-output", ok: true, detail: "tampered" }],
        verified: true,
      },
    ],
  };
  // The probe's own text goes in verbatim where it is one JSON object: a body too deep for
  // JSON.stringify (deep-nesting) must still reach npm run verify as the stack would hold it.
  const stdout = malformedStdout(row).trim();
  const probeText = typeof probe === "object" && probe !== null ? stdout : JSON.stringify(probe);
  return JSON.stringify({
    accessCheck: { ...accessCheck, results: [{ ...accessCheck.results[0], probe: "@PROBE@" }] },
    resourceGroupName: FACTS.resourceGroup,
  }).replace('"@PROBE@"', () => probeText);
}

/**
 * Runs `npm run verify --outputs -` in process on the tampered outputs of the row: it must re-judge
 * (exit 1, not verified), call out the stored verdict's mismatch, and print no stack trace and no raw
 * control characters.
 */
export async function verifyCliProblems(row: MalformedProbeCase): Promise<string[]> {
  const { runVerifyCli } = await import("../../verify/cli");
  let stdout = "";
  let stderr = "";
  let code: number;
  try {
    code = await runVerifyCli(["--outputs", "-"], {
      stdin: tamperedOutputs(row),
      stdout: (text: string) => {
        stdout += text;
      },
      stderr: (text: string) => {
        stderr += text;
      },
    });
  } catch (error) {
    return [`runVerifyCli threw: ${(error as Error).message}`];
  }
  const problems: string[] = [];
  if (code !== 1) problems.push(`exit ${code}, expected 1 (not verified): ${stderr.slice(0, 300)}`);
  if (!/stored verdict/i.test(stdout + stderr)) problems.push("the stored verdict's mismatch is not called out");
  if (/\n\s+at .+:\d+:\d+/.test(stdout + stderr)) problems.push("a stack trace was printed");
  if (hasRawControlCharacters(stdout + stderr)) problems.push("raw control characters reached the terminal");
  return problems;
}
