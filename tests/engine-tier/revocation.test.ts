import { afterAll, describe, expect, it } from "vitest";
import { destroyWithEngine, upWithEngine } from "../../engine/localRun";
import { commandProviderInstalled, engineBuilt, isolatedStack } from "./support";

/**
 * Revocation as a first-class case (issue 18), with the real engine, the command provider and a Local
 * Azure kept between the runs: granted → denied → granted on one stack, each verified, with no
 * --replace, --target or state edits. Pulumi deletes the Reader assignment that left the program only at
 * the end of an update, after the check; so the update that drops it proves nothing yet and says so in
 * one line, and the next one runs the check again in place and waits out the revocation, as granting is
 * waited out. That revocation lags by a number of ARM requests the test chooses (Local Azure's
 * revocationLag), not by seconds: a busy machine can neither close the window before the probe's first
 * read nor keep it open. Over SSH and through Run Command, one stack each, one after the other: the
 * same updates, the check's resource updated in place either way (a remote command's `update`; a run
 * command PUT again with a changed body, since an identical one would not run the probe).
 */

const GRANTED = "VERIFIED: 1 of 1 check(s) proved access for identity user on 1 VM";
const PENDING_LINE =
  /is revoked at the end of this update \(Pulumi deletes removed role assignments last\): run pulumi up again to prove the denial\./;
/** How many of the probe's reads ARM still allows after the deletion: the first two, then it refuses. */
const LAGGING_READS = 2;
/** Each way to the VM, and the resource that runs its probe: over SSH a remote command, through Run Command a run command. */
const TRANSPORTS = [
  { via: "ssh", check: "command:remote:Command" },
  { via: "runCommand", check: "azure-native:compute:VirtualMachineRunCommandByVirtualMachine" },
] as const;

describe.skipIf(!engineBuilt || !commandProviderInstalled).each(TRANSPORTS)(
  "granted, denied, granted again on one stack, check via $via",
  ({ via, check }) => {
    const { stateDir, stack } = isolatedStack(`revoke-${via}`);
    const options = { stateDir, accessCheckTimeoutSeconds: 60, accessCheckVia: via };

    afterAll(async () => {
      await destroyWithEngine(stateDir, () => undefined, stack);
    }, 180_000);

    it("pulumi up verifies access", async () => {
      const up = await upWithEngine(options, () => undefined, stack);
      expect(up.error).toBeNull();
      expect(up.verdict).toBe(GRANTED);
    }, 150_000);

    it("the up that drops the grant succeeds, probes nothing and says in one line that the next up proves the denial", async () => {
      const lines: string[] = [];
      const up = await upWithEngine({ ...options, grantAccess: false }, (line) => lines.push(line), stack);
      expect(up.error).toBeNull();
      expect(up.verdict).toMatch(
        /^NOT VERIFIED YET: the grant on \/subscriptions\/[^ ]+\/resourceGroups\/[^ ]+ is removed at the end of this update, after the check: run pulumi up again to prove the denial$/,
      );
      expect(lines.some((line) => PENDING_LINE.test(line))).toBe(true);
      // Pulumi deleted the assignment at the end of this update: the next one can prove the denial.
      expect(
        lines.some((line) => /azure-native:authorization:RoleAssignment vmia-user-reader deleted/.test(line)),
      ).toBe(true);
    }, 150_000);

    it("the next up runs the check again in place and waits out the revocation until ARM refuses", async () => {
      const lines: string[] = [];
      // The deleted assignment still authorizes the identity's next LAGGING_READS requests, whenever they come.
      const up = await upWithEngine(
        { ...options, grantAccess: false, faults: { revocationLag: { count: LAGGING_READS } } },
        (line) => lines.push(line),
        stack,
      );
      expect(up.error).toBeNull();
      expect(up.verdict).toBe("VERIFIED: 1 of 1 check(s) proved denial for identity user on 1 VM");
      expect(lines.some((line) => line.includes(`${check} vmia-check-0-user updated`))).toBe(true);
      const [result] = (
        up.outputs.accessCheck as {
          results: Array<{ probe: { resourceGroup: { status: number; attempts: number }; error: { code: string } } }>;
        }
      ).results;
      // ARM still allowed the first LAGGING_READS reads: the probe asked again after each, until the 403.
      expect(result.probe.resourceGroup).toMatchObject({ status: 403, attempts: LAGGING_READS + 1 });
      expect(result.probe.error.code).toBe("AuthorizationFailed");
    }, 180_000);

    it("granting again verifies access, waiting out the new grant's propagation", async () => {
      const up = await upWithEngine({ ...options, faults: { rbacDelaySeconds: 3 } }, () => undefined, stack);
      expect(up.error).toBeNull();
      expect(up.verdict).toBe(GRANTED);
    }, 150_000);
  },
);
