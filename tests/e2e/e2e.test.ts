/**
 * The end-to-end suite, one entry for every target: Local Azure by default, real Azure with
 * E2E_TARGET=azure (and the CLI, login and backend it needs; otherwise skipped, saying why), and
 * E2E_TARGET=engine: the Automation API and the CLI built here against a kept Local Azure.
 * Each case is one ephemeral stack: up, re-judge accessCheck, second run changes nothing, destroy, remove.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AccessCheck } from "../../verify/contract";
import { needsTools } from "../support/systemTools";
import { automationDriver } from "./automationDriver";
import { decideEngineTarget, type EngineTarget, startEngineTarget } from "./engineTarget";
import {
  type ConfigValue,
  checkViaFrom,
  decideTarget,
  type EphemeralReport,
  ephemeralStackName,
  harnessSettings,
  type IdentityMode,
  runEphemeral,
} from "./harness";
import { localDriver } from "./localDriver";
import { REPO_ROOT } from "./paths";

function hasPulumiCli(): boolean {
  try {
    execFileSync("pulumi", ["version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

async function runnerPublicIp(): Promise<string> {
  const response = await fetch("https://api.ipify.org");
  return (await response.text()).trim();
}

const decision =
  process.env.E2E_TARGET === "engine"
    ? decideEngineTarget()
    : decideTarget(process.env, process.env.E2E_TARGET === "azure" && hasPulumiCli());
const target: "local" | "azure" | "engine" | null = "target" in decision ? decision.target : null;
const skipReason = "skip" in decision ? decision.skip : "";
const stateRoot = mkdtempSync(join(tmpdir(), "vmia-e2e-"));
const reports: EphemeralReport[] = [];
let engine: EngineTarget | undefined;

beforeAll(async () => {
  if (target === "engine") engine = await startEngineTarget(stateRoot);
});

afterAll(async () => {
  await engine?.stop();
  rmSync(stateRoot, { recursive: true, force: true });
  if (target === "azure") {
    mkdirSync(join(REPO_ROOT, ".e2e"), { recursive: true });
    writeFileSync(join(REPO_ROOT, ".e2e", "report.md"), markdownReport(reports));
  }
});

function markdownReport(all: EphemeralReport[]): string {
  const rows = all.flatMap((report) =>
    (report.accessCheck?.results ?? []).flatMap((result) =>
      result.checks.map(
        (c) =>
          `| ${report.stackName} | ${result.vm} | ${result.identity} | ${c.ok ? "✅" : "❌"} ${c.name} | ${c.detail.replace(/\|/g, "\\|")} |`,
      ),
    ),
  );
  const verdicts = all.map(
    (r) =>
      `- \`${r.stackName}\`: ${r.verified && r.errors.length === 0 ? "verified" : `NOT verified (${r.errors.map((e) => `${e.step}: ${e.message}`).join("; ")})`}`,
  );
  return [
    "## Access check on Azure",
    "",
    ...verdicts,
    "",
    "| stack | vm | identity | check | detail |",
    "|---|---|---|---|---|",
    ...rows,
    "",
  ].join("\n");
}

// How the check reaches the VMs: over SSH (to the runner's own address) or through Run Command (nothing opened).
const checkVia = checkViaFrom(process.env);

async function ephemeral(identity: IdentityMode, extra: Record<string, ConfigValue> = {}): Promise<EphemeralReport> {
  const runId = process.env.E2E_RUN_ID ?? "local";
  const label = checkVia === "ssh" ? identity : `${identity}-rc`;
  const name = ephemeralStackName(runId, randomBytes(3).toString("hex"), label);
  // Through Run Command no address is opened to anything: the runner's own is not even looked up.
  const publicIp = checkVia === "runCommand" ? undefined : target === "azure" ? await runnerPublicIp() : "127.0.0.1";
  const settings = { ...harnessSettings(process.env, identity, publicIp), ...engine?.settings(checkVia), ...extra };
  if (target !== "azure") delete settings["azure-native:location"];
  const driver = target === "local" ? localDriver(name, stateRoot) : await automationDriver(name);
  const report = await runEphemeral(driver, {
    settings,
    log: target === "azure" ? (line) => console.log(line) : undefined,
    signals: process,
  });
  reports.push(report);
  return report;
}

function expectProven(report: EphemeralReport, expectation: AccessCheck["expectation"], results: number) {
  expect(report.errors).toEqual([]);
  expect(report.verified).toBe(true);
  expect(report.accessCheck?.expectation).toBe(expectation);
  expect(report.accessCheck?.results).toHaveLength(results);
  expect(report.secondRunChanges).toBe(0);
  expect(report.cleanedUp).toBe(true);
}

// Azure deploys take minutes; Local Azure's take seconds, but five run at once on two cores.
// Hang guards: a case waits for its stack, however long a busy machine takes to get there.
const CASE_TIMEOUT_MS = target === "azure" ? 1_800_000 : 600_000;

const identities: IdentityMode[] =
  target === "azure" && process.env.E2E_IDENTITY
    ? [process.env.E2E_IDENTITY as IdentityMode]
    : ["user", "system", "both"];

// Concurrent: each case waits mostly on its own stack (LROs, RBAC propagation, probe backoff).
describe
  .skipIf(target === null)
  .concurrent(`ephemeral stacks on ${target ?? `nothing: ${skipReason}`}, check via ${checkVia}`, () => {
    // Offline, the probe runs on Local Azure's VMs, which are this machine: its curl.
    if (target !== "azure") needsTools("curl");

    describe("each identity mode", () => {
      for (const identity of identities) {
        // Locally, identity user runs 3 VMs sharing the one identity: vmCount 3 without a deploy of its own.
        const vmCount = target === "local" && identity === "user" ? 3 : 1;
        it(
          `identity ${identity}, ${vmCount} VM(s): deployed, access proven from the VM, a second run changes nothing, cleaned up`,
          async () => {
            const extra: Record<string, ConfigValue> =
              vmCount > 1 ? { "vm-identity-access:vmCount": { value: String(vmCount) } } : {};
            const report = await ephemeral(identity, extra);
            expectProven(report, "granted", (identity === "both" ? 2 : 1) * vmCount);
            expect(new Set(report.accessCheck?.results.map((r) => r.vm)).size).toBe(vmCount);
            // One shared user-assigned identity: every VM's token names the same principal.
            if (identity === "user") {
              expect(new Set(report.accessCheck?.results.map((r) => r.expected.principalId)).size).toBe(1);
            }
          },
          CASE_TIMEOUT_MS,
        );
      }
    });

    describe.skipIf(target === "azure")("Local Azure only", () => {
      it(
        "grantAccess false proves the denial",
        async () => {
          const report = await ephemeral("user", { "vm-identity-access:grantAccess": { value: "false" } });
          expectProven(report, "denied", 1);
          const probe = report.accessCheck?.results[0].probe as { resourceGroup: { status: number } };
          expect(probe.resourceGroup.status).toBe(403);
        },
        CASE_TIMEOUT_MS,
      );
    });
  });

if (target === null) {
  describe(`end-to-end suite skipped: ${skipReason}`, () => {
    it("states why it did not run", () => {
      expect(skipReason).not.toBe("");
    });
  });
}
