import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rejudged } from "../../engine/localRun";
import { runLocalCli } from "../../local/cli";
import { engineMissing } from "../../local/engineBridge";
import { processAlive } from "../../local/kept";
import { type RunningService, runningService } from "../../local/service";
import { readOutputs } from "../../local/state";
import type { AccessCheck } from "../../verify/contract";
import { type LocalStackTurn, takeLocalStackTurn } from "../support/localStackTurn";
import { userShellEnv } from "../support/userShell";
import { leftovers } from "./support";

/**
 * Local Azure as a service with real guests, used as a user would, typed into a shell (with
 * --state-dir, so the test never meets the developer's own .local-azure):
 *   npm run local -- start --guest linux; npm run local; npm run local -- --engine;
 *   eval "$(npm run -s local -- env)"; pulumi preview; pulumi up; pulumi stack output; pulumi destroy
 * The runs into the service need no --guest: they deploy for the guests it was started with, so the
 * program has its production settings and its evidence names https://management.azure.com/.
 */

const REPO = join(__dirname, "..", "..");
const stateDir = mkdtempSync(join(tmpdir(), "guest-service-"));
/** `npm run local -- --engine` works on stack `local`: the engine tier's by-hand test takes turns with this one. */
let turn: LocalStackTurn | undefined;
const engine = engineMissing(REPO);

interface Step {
  code: number;
  out: string;
}

/** Commands typed into one bash, in a shell with none of Azure's, Pulumi's or Local Azure's variables. */
function shell(script: string): Promise<Step> {
  return new Promise((done) =>
    execFile(
      "bash",
      ["-c", `exec 2>&1\n${script}`],
      { cwd: REPO, env: userShellEnv({ STATE: stateDir }), timeout: 600_000 },
      (error, stdout) => done({ code: error ? Number((error as { code?: number }).code ?? -1) : 0, out: stdout }),
    ),
  );
}

const local = (args: string) => shell(`npm run -s local -- --state-dir "$STATE" ${args}`);

function expectProductionEvidence(accessCheck: AccessCheck | null | undefined): void {
  expect(accessCheck?.verified).toBe(true);
  for (const entry of accessCheck?.results ?? []) {
    expect(entry.expected.resource).toBe("https://management.azure.com/");
    expect((entry.probe as { token?: { claims?: { aud?: string } } }).token?.claims?.aud).toBe(
      "https://management.azure.com/",
    );
  }
}

let service: RunningService;

beforeAll(async () => {
  turn = await takeLocalStackTurn(REPO);
}, 660_000);

afterAll(async () => {
  // Whatever failed: no service outlives the test, and the developer's stack config is as it was.
  await runLocalCli(["--state-dir", stateDir, "stop"], { stdout: () => undefined, stderr: () => undefined });
  await turn?.end();
  rmSync(stateDir, { recursive: true, force: true });
}, 120_000);

describe("npm run local -- start --guest linux", () => {
  it("runs Local Azure in the background with real guests; status says so; a second start says it runs", async () => {
    const started = await local("start --guest linux");
    expect(started.code).toBe(0);
    service = runningService(stateDir) as RunningService;
    expect(service.guests).toBe("linux");
    expect(started.out).toContain("  guests        linux: a booted Debian per VM, SSH on port 22 of its public IP\n");
    expect(await local("start")).toEqual({
      code: 0,
      out: `Local Azure is already running (pid ${service.pid}, ARM ${service.kept.armEndpoint}).\n`,
    });
    expect(await local("start --guest portable")).toEqual({
      code: 2,
      out: `error: the Local Azure service (pid ${service.pid}) runs real guests (--guest linux): stop it (npm run local -- stop), then npm run local -- start for portable guests\n`,
    });
  }, 120_000);

  it("npm run local deploys into it for its real guests: the program's production settings, verified", async () => {
    const run = await local("");
    expect(run.out).toContain(`Into the Local Azure service (pid ${service.pid}, ARM ${service.kept.armEndpoint}).`);
    expect(run.out).toContain("VERIFIED: 1 of 1 check(s) proved access for identity user on 1 VM");
    expect(run.code).toBe(0);
    expectProductionEvidence(readOutputs(stateDir)?.accessCheck as AccessCheck);
    // SSH on port 22 of the VM's public IP: the command a user would type has no -p.
    const vms = readOutputs(stateDir)?.vms as Array<{ publicIp: string; sshCommand: string }>;
    expect(vms.map((vm) => vm.sshCommand)).toEqual([`ssh -i vm-key azureuser@${vms[0].publicIp}`]);
    expect((runningService(stateDir) as RunningService).kept.vms.map((vm) => vm.sshPort)).toEqual([22]);
    const portable = await local("--guest portable");
    expect(portable).toEqual({
      code: 2,
      out: `error: the Local Azure service (pid ${service.pid}) runs real guests (--guest linux): stop it (npm run local -- stop), then npm run local -- start for portable guests\n`,
    });
  }, 300_000);

  // Not built: the engine tier's own setup (npm run engine:build, Go needed) has not run on this machine.
  it.skipIf(engine !== null)(
    `npm run local -- --engine into it, then the real pulumi by hand in a shell that ran eval env${engine ? ` (skipped: ${engine})` : ""}`,
    async () => {
      const deployed = await local("--engine");
      expect(deployed.out).toContain("VERIFIED: 1 of 1 check(s) proved access for identity user on 1 VM");
      expect(deployed.code).toBe(0);
      const byHand = await shell(
        [
          'eval "$(npm run -s local -- --state-dir "$STATE" env)"',
          'step() { echo "== $1"; shift; "$@"; echo "== exit $?"; }',
          "step preview pulumi preview --non-interactive --color never",
          "step up pulumi up --yes --non-interactive --color never",
          "step output pulumi stack output accessCheck --json",
          "step destroy pulumi destroy --yes --non-interactive --color never",
        ].join("\n"),
      );
      const sections = Object.fromEntries(
        byHand.out
          .split(/^== (?=\w+\n)/m)
          .slice(1)
          .map((section) => [section.slice(0, section.indexOf("\n")), section]),
      );
      for (const name of ["preview", "up", "output", "destroy"]) expect(sections[name]).toMatch(/\n== exit 0\n$/);
      expect(sections.preview).toMatch(/\n\s+18 unchanged\n/);
      expect(sections.up).toMatch(/\n\s+18 unchanged\n/);
      const output = sections.output.slice(sections.output.indexOf("\n") + 1, sections.output.lastIndexOf("== exit"));
      expectProductionEvidence(rejudged(JSON.parse(output)));
      expect(sections.destroy).toMatch(/\n\s+- 18 deleted\n/);
    },
    600_000,
  );

  it("npm run local -- stop stops it and its guests: nothing of them is left", async () => {
    const stopped = await local("stop");
    expect(stopped.code).toBe(0);
    expect(processAlive(service.pid)).toBe(false);
    expect(leftovers({ owners: [service.pid] })).toEqual([]);
  }, 120_000);
});
