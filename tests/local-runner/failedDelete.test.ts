import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { deployLocal, destroyLocal, type LocalRunResult } from "../../local/deploy";
import { cloudDir } from "../../local/engineStack";
import type { StateEntry } from "../../local/mocks";
import { settle, stateToWrite } from "../../local/stackInCloud";
import { readState } from "../../local/state";
import { callsOf, fakeArm } from "./fakeArm";

/**
 * A deletion that fails at the end of a successful run (review R3, finding 4). `pulumi up` then fails,
 * and its checkpoint keeps what the update created and updated and the resource it could not delete;
 * the runner's state must too, or the next run creates duplicates under new autonames and `destroy`
 * (which deletes by state) never finds the first ones.
 */

const RG = "/subscriptions/s/resourceGroups/rg1";
const entry = (type: string, name: string, id: string): StateEntry => ({ type, name, id, inputs: {}, outputs: {} });
const group = entry("azure-native:resources:ResourceGroup", "vmia-rg", RG);
const nsg = entry("azure-native:network:NetworkSecurityGroup", "vmia-nsg", `${RG}/providers/x/nsg`);
const ip = entry("azure-native:network:PublicIPAddress", "vmia-ip0", `${RG}/providers/x/ip`);
const nic = entry("azure-native:network:NetworkInterface", "vmia-nic0", `${RG}/providers/x/nic`);
const byKey = (entries: StateEntry[]) => Object.fromEntries(entries.map((e) => [`${e.type}::${e.name}`, e]));

describe("settle when ARM refuses a DELETE", () => {
  it("stops there, keeps this run's resources and every one not deleted, and reports ARM's error", async () => {
    const arm = fakeArm();
    const refused = arm.deleteAndWait.bind(arm);
    // The public IP is still on something: ARM refuses its DELETE.
    arm.deleteAndWait = async (path) => {
      if (path.startsWith(ip.id)) {
        arm.calls.push({ method: "DELETE", path });
        throw Object.assign(new Error("in use"), {
          status: 400,
          code: "PublicIPAddressCannotBeDeleted",
          message: "Public IP address … can not be deleted since it is still allocated",
        });
      }
      return refused(path);
    };
    const settled = await settle(arm, byKey([group, nsg, ip, nic]), [group], true, () => undefined);
    // Dependents first: the NIC went, the IP was refused, the NSG was never reached.
    expect(callsOf(arm, "DELETE")).toEqual([
      `DELETE ${nic.id}?api-version=2024-05-01`,
      `DELETE ${ip.id}?api-version=2024-05-01`,
    ]);
    expect(settled).toEqual({
      held: [nsg, ip, group],
      error:
        'deleting azure-native:network:PublicIPAddress vmia-ip0: Status=400 Code="PublicIPAddressCannotBeDeleted" Message="Public IP address … can not be deleted since it is still allocated"',
    });
  });
});

describe("the state a run writes", () => {
  it("is what the run holds, even nothing, while the previous run's resources are in the cloud", () => {
    expect(stateToWrite([group], false)).toEqual([group]);
    expect(stateToWrite([], true)).toEqual([]);
  });

  it("stays as it was when the run holds nothing in a cloud that no longer holds the previous run's resources", () => {
    // A run that failed before creating anything keeps the autonames and key pairs the state remembers.
    expect(stateToWrite([], false)).toBeNull();
  });
});

// The two runner suites below share nothing (each its own state folder and Local Azure): they run at
// the same time ({ concurrent: true } on each suite), while the runs within each stay in order
// (it.sequential), since each test goes on from the state the one before it left.
describe("npm run local whose deletion ARM refuses", { concurrent: true }, () => {
  const stateDir = mkdtempSync(join(tmpdir(), "failed-delete-"));
  afterAll(() => rmSync(stateDir, { recursive: true, force: true }));
  const PROGRAM = join(__dirname, "fixtures", "failedDelete", "index.ts");
  const run = (step: string) => deployLocal({ stateDir, programPath: PROGRAM, config: { step } });
  const NSG = "azure-native:network:NetworkSecurityGroup::del-nsg";
  const UAMI = "azure-native:managedidentity:UserAssignedIdentity::del-uami";
  const operationOf = (result: LocalRunResult, name: string) =>
    result.timeline.find((event) => event.name === name)?.operation ?? "create";

  it.sequential("fails the run with ARM's refusal, and the state keeps what it created and what it could not delete", async () => {
    const first = await run("1");
    expect(first.timeline.filter((event) => !event.ok)).toEqual([]);
    const second = await run("2");
    expect(second.ok).toBe(false);
    expect(second.error).toMatch(
      /^deleting azure-native:network:NetworkSecurityGroup del-nsg: Status=400 Code="InUseNetworkSecurityGroupCannotBeDeleted" Message=".*Network security group \/subscriptions\/[^ ]+\/networkSecurityGroups\/nsg-in-use cannot be deleted because it is in use by the following resources: /,
    );
    const state = readState(stateDir)?.resources ?? {};
    // The identity this run created, under the autoname the next run must reuse.
    expect(state[UAMI]?.id).toBe(second.outputs.identityId);
    expect(state[UAMI]?.autoname).toMatch(/^del-uami[0-9a-f]{8}$/);
    // The group ARM would not delete stays in the stack, for the next run to delete and for destroy.
    expect(state[NSG]?.id).toMatch(/\/networkSecurityGroups\/nsg-in-use$/);
  });

  it.sequential("the next run creates no duplicate: the identity is left alone, and the deletion is tried again", async () => {
    const before = readState(stateDir)?.resources[UAMI];
    const third = await run("2");
    expect(operationOf(third, "del-uami")).toBe("same");
    expect(third.outputs.identityId).toBe(before?.id);
    expect(third.error).toMatch(/^deleting azure-native:network:NetworkSecurityGroup del-nsg: Status=400 /);
    expect(readState(stateDir)?.resources[UAMI]).toEqual(before);
  });

  it.sequential("destroy deletes everything the state lists, the group ARM refused included", async () => {
    const lines: string[] = [];
    expect(await destroyLocal({ stateDir, onProgress: (line) => lines.push(line) })).toBe("deleted");
    expect(
      lines.some((line) => /^ {2}- azure-native:managedidentity:UserAssignedIdentity {2}del-uami /.test(line)),
    ).toBe(true);
    expect(lines.some((line) => /^ {2}- azure-native:network:NetworkSecurityGroup {2}del-nsg /.test(line))).toBe(true);
  });
});

describe("npm run local failing before it creates anything, in a cloud emptied since the last run", {
  concurrent: true,
}, () => {
  const stateDir = mkdtempSync(join(tmpdir(), "emptied-cloud-"));
  afterAll(() => rmSync(stateDir, { recursive: true, force: true }));
  const PROGRAM = join(__dirname, "fixtures", "failedDelete", "index.ts");

  it.sequential("leaves the state as it was: its autonames are still there for the next run", async () => {
    await deployLocal({ stateDir, programPath: PROGRAM, config: { step: "1" } });
    const before = readState(stateDir)?.resources;
    expect(Object.keys(before ?? {})).toHaveLength(4);
    rmSync(cloudDir(stateDir), { recursive: true, force: true });
    // No step: the program stops before it registers anything.
    const failed = await deployLocal({ stateDir, programPath: PROGRAM });
    expect(failed.error).toContain("Missing required configuration variable 'vm-identity-access:step'");
    expect(readState(stateDir)?.resources).toEqual(before);
  });
});
