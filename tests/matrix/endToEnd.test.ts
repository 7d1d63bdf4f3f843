import { beforeAll, describe, expect, it } from "vitest";
import { needsTools } from "../support/systemTools";
import { BAD_SETTING_CASES, BAD_SETTINGS_THROUGH_DEPLOY, DEPLOY_CASES, type DeployCase } from "./cases";
import { type BadSettingDeployRun, type DeployCaseRun, runBadSettingDeploy, runDeployCase } from "./deployHarness";

/**
 * The rows where the program itself matters, through deployLocal (the program in the mock runtime,
 * Local Azure, the probe over real SSH). All runs start at once in beforeAll; each row is then asserted,
 * and every run's outputs, state, progress and error are scanned for tokens and key material.
 */

const deployRuns = new Map<string, DeployCaseRun>();
const badSettingRuns = new Map<string, BadSettingDeployRun>();
const curlInstalled = needsTools("curl");

beforeAll(async () => {
  if (!curlInstalled) return;
  const badRows = BAD_SETTING_CASES.filter((row) => BAD_SETTINGS_THROUGH_DEPLOY.includes(row.id));
  const [deploys, bad] = await Promise.all([
    Promise.all(DEPLOY_CASES.map((row) => runDeployCase(row))),
    Promise.all(badRows.map((row) => runBadSettingDeploy(row))),
  ]);
  for (const run of deploys) deployRuns.set(run.row.id, run);
  for (const run of bad) badSettingRuns.set(run.row.id, run);
});

describe("end to end through deployLocal", () => {
  it.each(DEPLOY_CASES.map((row) => [row.id, row] as const))("%s", (id, _row: DeployCase) => {
    const run = deployRuns.get(id);
    expect(run?.problems).toEqual([]);
  });

  it("survives SSH not ready, an IMDS burst and RBAC propagation in one deploy, with every check passing", () => {
    const run = deployRuns.get("e2e-faults-survived");
    const accessCheck = run?.result.outputs.accessCheck as { results: Array<{ checks: Array<{ ok: boolean }> }> };
    expect(accessCheck.results).toHaveLength(1);
    expect(accessCheck.results[0].checks.every((check) => check.ok)).toBe(true);
  });

  it("a denial that cannot be proven fails the deployment with an error naming the failed check", () => {
    const run = deployRuns.get("e2e-denial-by-fault");
    expect(run?.result.ok).toBe(false);
    expect(run?.result.error).toMatch(/access-denied/);
  });

  it("writes the SSH private key to outputs.json only as [secret]", () => {
    for (const run of deployRuns.values()) {
      expect(JSON.parse(run.outputsJson ?? "{}").sshPrivateKey, run.row.id).toBe("[secret]");
    }
  });
});

describe("bad settings through deployLocal: a clear error and nothing created", () => {
  it.each(BAD_SETTINGS_THROUGH_DEPLOY)("%s", (id) => {
    const run = badSettingRuns.get(id);
    expect(run?.problems).toEqual([]);
    expect(run?.writes).toEqual([]);
  });
});
