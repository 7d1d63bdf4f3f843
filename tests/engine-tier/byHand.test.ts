import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rejudged } from "../../engine/localRun";
import { runLocalCli } from "../../local/cli";
import { processAlive } from "../../local/kept";
import { runningService } from "../../local/service";
import { type LocalStackTurn, takeLocalStackTurn } from "../support/localStackTurn";
import { userShellEnv } from "../support/userShell";
import { commandProviderInstalled, engineBuilt, REPO_ROOT } from "./support";

/**
 * Issue 19's sequence for a user of the real Pulumi CLI, typed into one shell as the docs print it
 * (with --state-dir, so the test never meets the developer's own .local-azure):
 *   npm run local -- start; npm run local -- --engine; eval "$(npm run -s local -- env)"
 *   pulumi preview; pulumi up; pulumi refresh; pulumi stack output accessCheck; pulumi destroy
 * then, with the service stopped, pulumi preview once more: the stand-in names the command to run.
 */

const stateDir = mkdtempSync(join(tmpdir(), "engine-tier-by-hand-"));
/** `npm run local -- --engine` works on stack `local`: the guest tier's by-hand test takes turns with this one. */
let turn: LocalStackTurn | undefined;

const SCRIPT = `
step() { name=$1; shift; "$@" >"$STATE/$name.out" 2>&1; echo "$name $?" >>"$STATE/steps"; }
step start npm run -s local -- --state-dir "$STATE" start
step engine npm run -s local -- --state-dir "$STATE" --engine
eval "$(npm run -s local -- --state-dir "$STATE" env)"
step preview pulumi preview --non-interactive --color never
step up pulumi up --yes --non-interactive --color never
step refresh pulumi refresh --yes --non-interactive --color never
step output pulumi stack output accessCheck --json
step destroy pulumi destroy --yes --non-interactive --color never
step stop npm run -s local -- --state-dir "$STATE" stop
step stopped-preview pulumi preview --non-interactive --color never
`;

function byHand(): Promise<void> {
  // The shell starts with none of the engine's or Local Azure's variables: env alone provides them.
  return new Promise((done, failed) =>
    execFile("bash", ["-c", SCRIPT], { cwd: REPO_ROOT, env: userShellEnv({ STATE: stateDir }) }, (error) =>
      error ? failed(error) : done(),
    ),
  );
}

const steps = () =>
  Object.fromEntries(
    readFileSync(join(stateDir, "steps"), "utf8")
      .trim()
      .split("\n")
      .map((line) => line.split(" "))
      .map(([name, code]) => [name, Number(code)]),
  );
const output = (step: string) => readFileSync(join(stateDir, `${step}.out`), "utf8");

describe.skipIf(!engineBuilt || !commandProviderInstalled)("the real pulumi by hand against the service", () => {
  beforeAll(async () => {
    turn = await takeLocalStackTurn(REPO_ROOT);
  }, 660_000);

  afterAll(async () => {
    // Whatever failed: no service outlives the test, and the developer's stack config is as it was.
    await runLocalCli(["--state-dir", stateDir, "stop"], { stdout: () => undefined, stderr: () => undefined });
    await turn?.end();
    rmSync(stateDir, { recursive: true, force: true });
  }, 60_000);

  it("start, --engine, eval env: then pulumi preview, up, refresh, stack output and destroy work", async () => {
    await byHand();
    const codes = steps();
    const failed = Object.entries(codes).filter(([name, code]) => code !== 0 && name !== "stopped-preview");
    expect(failed.map(([name]) => `${name}:\n${output(name)}`)).toEqual([]);
    expect(output("engine")).toContain("VERIFIED: 1 of 1 check(s) proved access for identity user on 1 VM");
    expect(output("preview")).toMatch(/\n\s+18 unchanged\n/);
    expect(output("up")).toMatch(/\n\s+18 unchanged\n/);
    expect(output("refresh")).toMatch(/\n\s+18 unchanged\n/);
    expect(rejudged(JSON.parse(output("output")))?.verified).toBe(true);
    expect(output("destroy")).toMatch(/\n\s+- 18 deleted\n/);
  }, 900_000);

  it("with the service stopped, pulumi says the one command that starts Local Azure", () => {
    expect(steps()["stopped-preview"]).not.toBe(0);
    expect(output("stopped-preview")).toContain("refuses to start: no Local Azure is running (LOCAL_AZURE_KEPT=");
    expect(output("stopped-preview")).toContain("Start Local Azure with `npm run local -- start`");
    const service = runningService(stateDir);
    expect(service === null || !processAlive(service.pid)).toBe(true);
  });
});
