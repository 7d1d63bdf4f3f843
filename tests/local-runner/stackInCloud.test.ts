import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { StateEntry } from "../../local/mocks";
import { heldInCloud, settle } from "../../local/stackInCloud";
import { readState, writeState } from "../../local/state";
import { callsOf, fakeArm } from "./fakeArm";

/** What a run leaves the stack holding, and what it deletes at its end, as `pulumi up` does. */

const RG = "/subscriptions/s/resourceGroups/rg1";
const entry = (type: string, name: string, id: string): StateEntry => ({ type, name, id, inputs: {}, outputs: {} });
const group = entry("azure-native:resources:ResourceGroup", "vmia-rg", RG);
const reader = entry(
  "azure-native:authorization:RoleAssignment",
  "vmia-user-reader",
  `${RG}/providers/Microsoft.Authorization/roleAssignments/a1`,
);
const check = (id: string) => entry("command:remote:Command", "vmia-check-0-user", id);
const byKey = (entries: StateEntry[]) => Object.fromEntries(entries.map((e) => [`${e.type}::${e.name}::${e.id}`, e]));

describe("settle: what a run deletes at its end", () => {
  it("after a successful run, deletes what left the program (dependents first) and keeps the rest", async () => {
    const arm = fakeArm();
    const lines: string[] = [];
    const held = await settle(arm, byKey([group, reader, check("c1")]), [group, check("c2")], true, (l) =>
      lines.push(l),
    );
    expect(held).toEqual({ held: [group, check("c2")], error: null });
    expect(callsOf(arm)).toEqual([`DELETE ${reader.id}?api-version=2022-04-01`]);
    expect(lines[0]).toBe("Deleting what the previous run created and this one did not:");
    expect(lines[1]).toMatch(/^ {2}- azure-native:authorization:RoleAssignment {2}vmia-user-reader {2}\d+\.\d\ds$/);
  });

  it("after a failed run deletes nothing and keeps both runs' resources listed", async () => {
    const arm = fakeArm();
    const held = await settle(arm, byKey([group, reader]), [group], false, () => undefined);
    expect(held).toEqual({ held: [reader, group], error: null });
    expect(arm.calls).toEqual([]);
  });
});

describe("heldInCloud", () => {
  it("is true when the previous run's first ARM resource is in the cloud, false in a fresh one", async () => {
    const arm = fakeArm();
    expect(await heldInCloud(arm, byKey([group, reader]))).toBe(true);
    expect(callsOf(arm)).toEqual([`GET ${RG}?api-version=2024-03-01`]);
    arm.notFound.add(RG);
    expect(await heldInCloud(arm, byKey([group, reader]))).toBe(false);
    expect(await heldInCloud(arm, {})).toBe(true);
  });
});

describe("writeState", () => {
  const dir = mkdtempSync(join(tmpdir(), "state-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("keys each resource by type and name; one a replacement superseded, still to delete, by its ID too", () => {
    const old = entry("azure-native:authorization:RoleAssignment", "vmia-user-reader", `${RG}/x/old`);
    writeState(dir, [old, group, reader], "https://127.0.0.1:1");
    expect(Object.keys(readState(dir)?.resources ?? {})).toEqual([
      `azure-native:authorization:RoleAssignment::vmia-user-reader@${RG}/x/old`,
      "azure-native:resources:ResourceGroup::vmia-rg",
      "azure-native:authorization:RoleAssignment::vmia-user-reader",
    ]);
    expect(readState(dir)?.resources["azure-native:authorization:RoleAssignment::vmia-user-reader"]).toEqual(reader);
  });
});
