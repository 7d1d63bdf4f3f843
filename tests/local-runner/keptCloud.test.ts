import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { deployLocal, destroyLocal } from "../../local/deploy";
import { cloudDir } from "../../local/engineStack";
import { readState } from "../../local/state";
import { readCloud } from "../../local-azure/persist";
import { needsTools } from "../support/systemTools";

/**
 * `npm run local` keeps its cloud in the state folder between runs, as a real cloud keeps what `pulumi
 * up` made: a second run of an unchanged stack finds everything there and changes nothing (no PUT, no
 * probe run again), as a second `pulumi up` reports every resource unchanged; `destroy` deletes the
 * stack from that cloud.
 */
describe("npm run local on the kept cloud", () => {
  needsTools("curl");
  const stateDir = mkdtempSync(join(tmpdir(), "kept-cloud-"));
  afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

  it("a first run creates everything, in a cloud kept in the state folder", async () => {
    const first = await deployLocal({ stateDir });
    expect(first.error).toBeNull();
    expect(first.verdict).toBe("VERIFIED: 1 of 1 check(s) proved access for identity user on 1 VM");
    expect(first.timeline.every((event) => event.operation === undefined)).toBe(true);
    const cloud = readCloud(cloudDir(stateDir));
    expect(readState(stateDir)?.armEndpoint).toBe(`https://127.0.0.1:${cloud?.identity.armPort}`);
    expect(cloud?.store.resourceGroups.map((group) => group.name)).toEqual([first.outputs.resourceGroupName]);
  });

  it("a second run of the unchanged stack changes nothing: no resource touched, the check not run again", async () => {
    const before = readState(stateDir);
    const progress: string[] = [];
    const second = await deployLocal({ stateDir, onProgress: (line) => progress.push(line) });
    expect(second.error).toBeNull();
    expect(second.verdict).toBe("VERIFIED: 1 of 1 check(s) proved access for identity user on 1 VM");
    expect(second.timeline.map((event) => event.operation)).toEqual(second.timeline.map(() => "same"));
    expect(progress).toContain("  = command:remote:Command  vmia-check-0-user  unchanged");
    // The same resources, the same command (its ID), the same evidence.
    expect(readState(stateDir)?.resources).toEqual(before?.resources);
  });

  it("destroy deletes the stack from the kept cloud through its ARM, then clears the state", async () => {
    const lines: string[] = [];
    expect(await destroyLocal({ stateDir, onProgress: (line) => lines.push(line) })).toBe("deleted");
    expect(lines.at(-1)).toBe(
      "Deleted every resource of the stack through the kept cloud's ARM, dependents first; cleared the local state.",
    );
    expect(existsSync(join(stateDir, "state.json"))).toBe(false);
    const cloud = readCloud(cloudDir(stateDir));
    expect(cloud?.store.resourceGroups).toEqual([]);
    // What is left is the deployer's own Owner assignment, which Local Azure makes for itself.
    expect(cloud?.store.roleAssignments.map((assignment) => assignment.name)).toEqual(["deployer-owner"]);
  });
});
