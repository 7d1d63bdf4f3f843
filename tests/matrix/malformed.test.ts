import { describe, expect, it } from "vitest";
import { MALFORMED_PROBE_CASES } from "./cases";
import { judgeProblems, verifyCliProblems } from "./malformedHarness";

/** Malformed probe output fed to the judge and to `npm run verify`: no crash, a clear verdict. */

describe.each(MALFORMED_PROBE_CASES.map((row) => [row.id, row] as const))("malformed probe output: %s", (_id, row) => {
  it("the judge verifies it neither as granted nor as denied, and names a failed check", () => {
    expect(judgeProblems(row)).toEqual([]);
  });

  it("npm run verify re-judges the tampered outputs: exit 1 and the stored verdict's mismatch called out", async () => {
    expect(await verifyCliProblems(row)).toEqual([]);
  });
});
