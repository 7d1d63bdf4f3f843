import { afterAll, describe, expect, it } from "vitest";
import { destroyWithEngine, upWithEngine } from "../../engine/localRun";
import { deployOptionsFromFlags } from "../../local/cli";
import { commandProviderInstalled, engineBuilt, isolatedStack } from "./support";

/**
 * `npm run local -- --engine`, then `npm run local -- --engine --no-grant --revocation-delay 20` twice,
 * with the real engine: the same scenario as tests/local-runner/revocation.test.ts with the mock
 * runner, converging the same way (the second denied `up` runs the check's `update`, the refusal probe
 * with the full deadline, and waits out the 20 s the deleted assignment keeps working). The options
 * come from the flags as the CLI parses them; an isolated stack keeps the user's `local` stack out.
 * Over SSH and through Run Command (`--check-via runCommand`: the run command is PUT again with a
 * changed body, which runs the refusal), one stack each, one after the other.
 */

/** Each way to the VM, and the resource that runs its probe. */
const TRANSPORTS = [
  { via: "ssh", check: "command:remote:Command" },
  { via: "runCommand", check: "azure-native:compute:VirtualMachineRunCommandByVirtualMachine" },
] as const;

describe.skipIf(!engineBuilt || !commandProviderInstalled).each(TRANSPORTS)(
  "--engine --check-via $via: granted, then --no-grant --revocation-delay 20, verified within two ups",
  ({ via, check }) => {
    const { stateDir, stack } = isolatedStack(`revocation-delay-${via}`);
    const denied = { ...deployOptionsFromFlags({ grant: false, revocationDelay: 20, checkVia: via }), stateDir };

    afterAll(async () => {
      await destroyWithEngine(stateDir, () => undefined, stack);
    }, 180_000);

    it("pulumi up verifies access", async () => {
      const up = await upWithEngine(
        { ...deployOptionsFromFlags({ grant: true, checkVia: via }), stateDir },
        () => undefined,
        stack,
      );
      expect(up.error).toBeNull();
      expect(up.verdict).toBe("VERIFIED: 1 of 1 check(s) proved access for identity user on 1 VM");
    }, 150_000);

    it("the up that drops the grant proves nothing yet, and deletes the assignment at its end", async () => {
      expect(denied.faults).toEqual({ revocationDelaySeconds: 20 });
      expect(denied.accessCheckVia).toBe(via);
      const lines: string[] = [];
      const up = await upWithEngine(denied, (line) => lines.push(line), stack);
      expect(up.error).toBeNull();
      expect(up.verdict).toMatch(
        /^NOT VERIFIED YET: the grant on \/subscriptions\/[^ ]+ is removed at the end of this update/,
      );
      expect(
        lines.some((line) => /azure-native:authorization:RoleAssignment vmia-user-reader deleted/.test(line)),
      ).toBe(true);
    }, 150_000);

    it("the next up updates the check in place, waits out the 20 s revocation and verifies denial", async () => {
      const lines: string[] = [];
      const up = await upWithEngine(denied, (line) => lines.push(line), stack);
      expect(up.error).toBeNull();
      expect(lines.some((line) => line.includes(`${check} vmia-check-0-user updated`))).toBe(true);
      expect(up.verdict).toBe("VERIFIED: 1 of 1 check(s) proved denial for identity user on 1 VM");
    }, 180_000);
  },
);
