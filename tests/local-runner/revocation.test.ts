import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runLocalCli } from "../../local/cli";
import { startVirtualClock, type VirtualClock } from "../../local-azure/virtualClock";
import { inTurn } from "../support/inTurn";
import { needsTools } from "../support/systemTools";

/**
 * `npm run local`, then `npm run local -- --no-grant --revocation-delay 20` twice, then `npm run local`
 * again: granted, denied, granted, each verified within two runs, as with the engine
 * (tests/engine-tier/revocation.test.ts, revocationDelay.test.ts), over SSH and through Run Command,
 * side by side on two stacks. The run that drops the grant proves nothing yet (Pulumi deletes the
 * assignment at the end of the update); the next one runs the check's refusal with the full deadline,
 * which waits out the 20 s the deleted assignment keeps working. Over SSH the engine runs the
 * command's `update` (a runner that ran `create` again, the quick 10 s probe, would not: the issue 24
 * bug); through Run Command the run command is PUT again with a changed body (PROBE_RUN), since an
 * identical PUT would not run the probe at all. Each stack's Local Azures run on a virtual clock of the
 * stack's own (local-azure/virtualClock.ts): the probe sleeps through the 20 s instead of waiting them.
 */

const TRANSPORTS = [
  // The dropped grant replaces the command (its trigger, the assignment's ID, is gone).
  { via: "ssh", check: "command:remote:Command", dropped: "+-" },
  // The run command is updated in place to a body that probes nothing.
  { via: "runCommand", check: "azure-native:compute:VirtualMachineRunCommandByVirtualMachine", dropped: "~" },
] as const;

/** One `npm run local` of a stack: its exit code and what it printed. */
interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

async function npmRunLocal(argv: string[], clock: VirtualClock): Promise<CliRun> {
  let stdout = "";
  let stderr = "";
  const code = await runLocalCli(argv, {
    clock,
    stdout: (text) => {
      stdout += text;
    },
    stderr: (text) => {
      stderr += text;
    },
  });
  return { code, stdout, stderr };
}

const DENIED = ["--no-grant", "--revocation-delay", "20"];

describe("npm run local: granted, --no-grant --revocation-delay 20 twice, granted again", () => {
  const curlInstalled = needsTools("curl");
  const stateRoot = mkdtempSync(join(tmpdir(), "local-revocation-"));
  const runs = new Map<string, Array<Promise<CliRun>>>();
  const clocks = new Map<string, VirtualClock>();
  // Both stacks' runs start at once, each stack's in turn; each block below asserts its own, in order.
  beforeAll(() => {
    if (!curlInstalled) return;
    for (const { via } of TRANSPORTS) {
      const argv = (flags: string[]) => [...flags, "--check-via", via, "--state-dir", join(stateRoot, via)];
      const clock = startVirtualClock();
      clocks.set(via, clock);
      runs.set(via, inTurn([[], DENIED, DENIED, []].map((flags) => () => npmRunLocal(argv(flags), clock))));
    }
  });
  afterAll(async () => {
    await Promise.allSettled([...runs.values()].flat());
    rmSync(stateRoot, { recursive: true, force: true });
    for (const clock of clocks.values()) clock.remove();
  });

  for (const { via, check, dropped } of TRANSPORTS) {
    describe(`check via ${via}`, () => {
      const run = (step: number) => runs.get(via)?.[step] as Promise<CliRun>;
      const line = (symbol: string) =>
        new RegExp(`\\n {2}${symbol.replace("+", "\\+")} ${check} {2}vmia-check-0-user {2}\\d+\\.\\d\\ds\\n`);

      it("npm run local: verified access", async () => {
        const granted = await run(0);
        expect(granted.stderr).toBe("");
        expect(granted.stdout).toContain("\nVERIFIED: 1 of 1 check(s) proved access for identity user on 1 VM\n");
        expect(granted.code).toBe(0);
      });

      it("the first --no-grant run says the denial comes with the next run, and deletes the grant at its end", async () => {
        const dropping = await run(1);
        expect(dropping.stdout).toMatch(
          /\nNOT VERIFIED YET: the grant on \/subscriptions\/[^ ]+\/resourceGroups\/[^ ]+ is removed at the end of this update, after the check: run pulumi up again to prove the denial\n/,
        );
        expect(dropping.stdout).toMatch(line(dropped));
        expect(dropping.stdout).toMatch(
          /Deleting what the previous run created and this one did not:\n {2}- azure-native:authorization:RoleAssignment {2}vmia-user-reader {2}\d+\.\d\ds\n/,
        );
        expect(dropping.code).toBe(1);
      });

      it("the second --no-grant run updates the check in place, waits out the revocation and verifies denial", async () => {
        const denied = await run(2);
        expect(denied.stderr).toBe("");
        expect(denied.stdout).toMatch(line("~"));
        expect(denied.stdout).toContain("\nVERIFIED: 1 of 1 check(s) proved denial for identity user on 1 VM\n");
        expect(denied.code).toBe(0);
      });

      it("granting again creates the assignment and verifies access in the same run", async () => {
        const regranted = await run(3);
        expect(regranted.stderr).toBe("");
        expect(regranted.stdout).toMatch(
          /\n {2}\+ azure-native:authorization:RoleAssignment {2}vmia-user-reader {2}\d+\.\d\ds\n/,
        );
        expect(regranted.stdout).toMatch(line(via === "ssh" ? "+-" : "~"));
        expect(regranted.stdout).toContain("\nVERIFIED: 1 of 1 check(s) proved access for identity user on 1 VM\n");
        expect(regranted.code).toBe(0);
      });
    });
  }
});
