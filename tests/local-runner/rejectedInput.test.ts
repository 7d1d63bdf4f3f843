import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { deployLocal } from "../../local/deploy";

/**
 * A value a resource's input needs is rejected (fixtures/rejectedInput): `pulumi up`'s Node.js host
 * fails the program with that error, and so does `npm run local`, instead of a worker that exits with
 * Pulumi's "Leaving promises active" and nothing else (what a run command read on a dropped
 * connection left, before ArmClient sent such a request again).
 */

const PROGRAM = join(__dirname, "fixtures", "rejectedInput", "index.ts");
const CAUSE = 'error serializing property "tags": Could not read what the group needs: socket hang up';

describe("npm run local with a resource whose input is rejected", () => {
  const stateRoot = mkdtempSync(join(tmpdir(), "rejected-input-"));
  afterAll(() => rmSync(stateRoot, { recursive: true, force: true }));
  const run = (waitOnGroup: boolean) =>
    deployLocal({
      programPath: PROGRAM,
      stateDir: mkdtempSync(join(stateRoot, "stack-")),
      config: { waitOnGroup: String(waitOnGroup) },
    });

  it("an export waits on that resource forever: the run fails with the rejection, nothing created", async () => {
    const result = await run(true);
    expect(result.ok).toBe(false);
    expect(result.error).toBe(`the program stopped with resources still waiting: ${CAUSE}`);
    expect(result.verdict).toBe(`NOT VERIFIED: the program stopped with resources still waiting: ${CAUSE}`);
    expect(result.timeline).toEqual([]);
  });

  it("the exports resolve anyway: the run still fails with the rejection, as the engine's", async () => {
    const result = await run(false);
    expect(result.ok).toBe(false);
    expect(result.error).toBe(CAUSE);
    expect(result.outputs).toEqual({ name: "constant" });
    expect(result.timeline).toEqual([]);
  });
});
