import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runLocalCli } from "../../local/cli";
import { needsTools } from "../support/systemTools";

/**
 * `npm run local`, then `npm run local -- --no-grant --revocation-delay 20` twice: granted, then denied,
 * verified within two runs, as with the engine (tests/engine-tier/revocationDelay.test.ts). The run
 * that drops the grant proves nothing yet (Pulumi deletes the assignment at the end of the update); the
 * next one finds the check's inputs changed but not its triggers, so the engine runs the command's
 * `update` (the refusal probe with the full deadline), which waits out the 20 s the deleted assignment
 * keeps working. A runner that ran `create` again (the quick 10 s probe) would not: the issue 24 bug.
 */
describe("npm run local: granted, then --no-grant --revocation-delay 20, verified within two runs", () => {
  needsTools("curl");
  const stateDir = mkdtempSync(join(tmpdir(), "local-revocation-"));
  afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

  async function npmRunLocal(...argv: string[]) {
    let stdout = "";
    let stderr = "";
    const code = await runLocalCli([...argv, "--state-dir", stateDir], {
      stdout: (text) => {
        stdout += text;
      },
      stderr: (text) => {
        stderr += text;
      },
    });
    return { code, stdout, stderr };
  }

  it("npm run local: verified access", async () => {
    const run = await npmRunLocal();
    expect(run.stderr).toBe("");
    expect(run.stdout).toContain("\nVERIFIED: 1 of 1 check(s) proved access for identity user on 1 VM\n");
    expect(run.code).toBe(0);
  });

  it("the first --no-grant run says the denial comes with the next run, and deletes the grant at its end", async () => {
    const run = await npmRunLocal("--no-grant", "--revocation-delay", "20");
    expect(run.stdout).toMatch(
      /\nNOT VERIFIED YET: the grant on \/subscriptions\/[^ ]+\/resourceGroups\/[^ ]+ is removed at the end of this update, after the check: run pulumi up again to prove the denial\n/,
    );
    // The check is replaced (its trigger, the assignment's ID, is gone), and the assignment deleted last.
    expect(run.stdout).toMatch(/\n {2}\+- command:remote:Command {2}vmia-check-0-user {2}\d+\.\d\ds\n/);
    expect(run.stdout).toMatch(
      /Deleting what the previous run created and this one did not:\n {2}- azure-native:authorization:RoleAssignment {2}vmia-user-reader {2}\d+\.\d\ds\n/,
    );
    expect(run.code).toBe(1);
  });

  it("the second --no-grant run updates the check in place, waits out the revocation and verifies denial", async () => {
    const run = await npmRunLocal("--no-grant", "--revocation-delay", "20");
    expect(run.stderr).toBe("");
    expect(run.stdout).toMatch(/\n {2}~ command:remote:Command {2}vmia-check-0-user {2}\d+\.\d\ds\n/);
    expect(run.stdout).toContain("\nVERIFIED: 1 of 1 check(s) proved denial for identity user on 1 VM\n");
    expect(run.code).toBe(0);
  });
});
