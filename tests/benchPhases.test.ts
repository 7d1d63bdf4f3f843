import { describe, expect, it } from "vitest";
import { phaseTimes } from "../bench/sections/deployRuns";
import { phaseTable } from "../local/phases";

/** npm run bench reads each run's --timings table: what it reads is what the runner prints. */

describe("the bench's reading of npm run local -- --timings", () => {
  it("finds each phase it reports in the table the runner prints, by the words its line begins with", () => {
    const table = phaseTable(
      [
        { name: "this process started (node with tsx's loader)", at: 1_250 },
        { name: "runner loaded (its modules imported)", at: 1_500 },
        { name: "worker: policy pack judged the preview's registrations", at: 2_100 },
        { name: "check began (the probe on the first VM)", at: 2_600 },
        { name: "verdict printed", at: 3_000 },
      ],
      1_000,
    );
    expect([...phaseTimes(`VERIFIED: …\n(2.10 s)\n\n${table}\n`)]).toEqual([
      ["this process started", 250],
      ["runner loaded", 500],
      ["check began", 1_600],
      ["verdict printed", 2_000],
    ]);
  });

  it("reads nothing from output without the table", () => {
    expect(phaseTimes("VERIFIED: 1 of 1 check(s) proved access\n(2.10 s)\n").size).toBe(0);
  });
});
