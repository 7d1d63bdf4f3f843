/**
 * The end-to-end suite, one entry for every target: Local Azure by default, real Azure with
 * E2E_TARGET=azure (and the CLI, login and backend it needs; otherwise skipped, saying why), and
 * E2E_TARGET=engine: the Automation API and the CLI built here against a kept Local Azure.
 * Each case is one ephemeral stack: up, re-judge accessCheck, second run changes nothing, destroy, remove.
 * Offline every case runs over SSH and through Run Command (E2E_CHECK_VIA picks one), and the stack's
 * network is read back from Local Azure before the second run: what the way to the VMs left open.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { ArmClient } from "../../local-azure/armClient";
import type { AccessCheck } from "../../verify/contract";
import { privateNetwork, readStackNetwork, type StackNetwork, sshNetwork } from "../support/stackNetwork";
import { needsTools } from "../support/systemTools";
import { automationDriver } from "./automationDriver";
import { decideEngineTarget, type EngineTarget, startEngineTarget } from "./engineTarget";
import {
  type CheckVia,
  type ConfigValue,
  checkViasFor,
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
  if (target === "engine")
    engine = await startEngineTarget(stateRoot, (values) => {
      for (const [name, value] of Object.entries(values)) vi.stubEnv(name, value);
    });
});

afterAll(async () => {
  try {
    await engine?.stop();
  } finally {
    // The engine's environment goes with it, even if stopping it failed: the next file in this process
    // starts without it.
    vi.unstubAllEnvs();
  }
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

// How the check reaches the VMs: over SSH (to the runner's own address) or through Run Command (nothing
// opened). Offline both, each case once per transport, unless E2E_CHECK_VIA names one; on Azure, the job's.
const checkVias: CheckVia[] = target === null ? [] : checkViasFor(process.env, target);

/** What the offline targets read back from their Local Azure after the up: its ARM, its portable guests' SSH port. */
interface OfflineCloud {
  arm: ArmClient;
  sshPort: number;
}

interface EphemeralCase {
  report: EphemeralReport;
  /** The stack's network as Local Azure holds it after the up (offline targets only). */
  network?: StackNetwork;
  sshPort?: number;
}

async function ephemeral(
  identity: IdentityMode,
  via: CheckVia,
  extra: Record<string, ConfigValue> = {},
): Promise<EphemeralCase> {
  const runId = process.env.E2E_RUN_ID ?? "local";
  const label = via === "ssh" ? identity : `${identity}-rc`;
  const name = ephemeralStackName(runId, randomBytes(3).toString("hex"), label);
  // Through Run Command no address is opened to anything: the runner's own is not even looked up.
  const publicIp = via === "runCommand" ? undefined : target === "azure" ? await runnerPublicIp() : "127.0.0.1";
  const settings = { ...harnessSettings(process.env, identity, publicIp, via), ...engine?.settings(via), ...extra };
  if (target !== "azure") delete settings["azure-native:location"];
  const local = target === "local" ? localDriver(name, stateRoot) : undefined;
  const driver = local ?? (await automationDriver(name));
  const cloud = (): OfflineCloud | undefined => (local?.azure ?? engine) as OfflineCloud | undefined;
  const found: EphemeralCase = { report: undefined as unknown as EphemeralReport };
  const report = await runEphemeral(driver, {
    settings,
    log: target === "azure" ? (line) => console.log(line) : undefined,
    signals: process,
    inspect: async (outputs) => {
      const offline = cloud();
      if (!offline) return;
      found.network = await readStackNetwork(offline.arm, outputs.resourceGroupId as string);
      found.sshPort = offline.sshPort;
    },
  });
  reports.push(report);
  found.report = report;
  return found;
}

/** Who the probe ran as through Run Command on a portable guest: nobody when Local Azure runs as root, else its user. */
function portableRunAs(): { user: string; uid: number } {
  const uid = process.getuid?.() ?? 0;
  return uid === 0 ? { user: "nobody", uid: 65534 } : { user: userInfo().username, uid };
}

/**
 * What the way to the VMs left in the stack, offline: through Run Command no public IP on any NIC, no
 * inbound allow rule, egress through the NAT gateway whose public IP no NIC carries, no address or key
 * in the outputs, and evidence that the probe ran through Run Command (the user it ran as); over SSH a
 * public IP per NIC and SSH from the runner's address only.
 */
function expectWayIn(found: EphemeralCase, via: CheckVia, vmCount: number) {
  const outputs = found.report.accessCheck;
  const evidence = (outputs?.results ?? []).map((result) => (result.probe as { runAs?: unknown }).runAs);
  if (target === "azure") return;
  if (via === "runCommand") {
    expect(found.network).toEqual(privateNetwork(vmCount));
    for (const runAs of evidence) expect(runAs).toEqual(portableRunAs());
  } else {
    expect(found.network).toEqual(sshNetwork(vmCount, "127.0.0.1/32", found.sshPort as number));
    for (const runAs of evidence) expect(runAs).toBeUndefined();
  }
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
describe.skipIf(target === null).concurrent(`ephemeral stacks on ${target ?? `nothing: ${skipReason}`}`, () => {
  // Offline, the probe runs on Local Azure's VMs, which are this machine: its curl.
  if (target !== "azure") needsTools("curl");

  describe.each(checkVias)("check via %s", (via) => {
    describe("each identity mode", () => {
      for (const identity of identities) {
        // Locally, identity user runs 3 VMs sharing the one identity: vmCount 3 without a deploy of its own.
        const vmCount = target === "local" && identity === "user" ? 3 : 1;
        it(
          `identity ${identity}, ${vmCount} VM(s): deployed, access proven from the VM, a second run changes nothing, cleaned up`,
          async () => {
            const extra: Record<string, ConfigValue> =
              vmCount > 1 ? { "vm-identity-access:vmCount": { value: String(vmCount) } } : {};
            const found = await ephemeral(identity, via, extra);
            const { report } = found;
            expectProven(report, "granted", (identity === "both" ? 2 : 1) * vmCount);
            expect(new Set(report.accessCheck?.results.map((r) => r.vm)).size).toBe(vmCount);
            // One shared user-assigned identity: every VM's token names the same principal.
            if (identity === "user") {
              expect(new Set(report.accessCheck?.results.map((r) => r.expected.principalId)).size).toBe(1);
            }
            expectWayIn(found, via, vmCount);
          },
          CASE_TIMEOUT_MS,
        );
      }
    });

    describe.skipIf(target === "azure")("Local Azure only", () => {
      it(
        "grantAccess false proves the denial",
        async () => {
          const found = await ephemeral("user", via, { "vm-identity-access:grantAccess": { value: "false" } });
          expectProven(found.report, "denied", 1);
          const probe = found.report.accessCheck?.results[0].probe as { resourceGroup: { status: number } };
          expect(probe.resourceGroup.status).toBe(403);
          expectWayIn(found, via, 1);
        },
        CASE_TIMEOUT_MS,
      );
    });
  });
});

if (target === null) {
  describe(`end-to-end suite skipped: ${skipReason}`, () => {
    it("states why it did not run", () => {
      expect(skipReason).not.toBe("");
    });
  });
}
