import { afterAll, describe, expect, it } from "vitest";
import { destroyWithEngine, pulumiWithEngine, upWithEngine } from "../../engine/localRun";
import { cloudDir } from "../../local/engineStack";
import { LocalAzure } from "../../local-azure/index";
import { privateNetwork, readStackNetwork, type StackNetwork } from "../support/stackNetwork";
import { engineBuilt, isolatedStack } from "./support";

/**
 * The program's stack through Run Command (`npm run local -- --engine --check-via runCommand`) under
 * the real engine, in the order a user meets it, as stack.test.ts does over SSH:
 * - preview before the first up: a NAT gateway and a run command, no remote command, no public IP per VM;
 * - a check that heals on the next `pulumi up`: the first up fails because the grant has not reached
 *   ARM when the probe gives up; the run command records that run cleanly, and the next up PUTs it
 *   again with PROBE_RUN 2, so Azure runs the probe again, and verifies, with no --replace;
 * - what Local Azure holds then: no public IP on any NIC, no inbound allow rule, the NAT gateway's IP
 *   on no NIC;
 * - a second up and a preview that change nothing, a refresh that reads the run command back;
 * - the documented fresh check (docs/transports.md): `pulumi up --replace <the run command's URN>`
 *   deletes it and creates it again, and the new run verifies.
 * A file of its own beside stack.test.ts, so that the tier runs the two stacks side by side.
 */

const { stateDir, stack } = isolatedStack("run-command");
const options = { stateDir, accessCheckTimeoutSeconds: 30, accessCheckVia: "runCommand" as const };
const pulumi = (...args: string[]) => pulumiWithEngine(options, stack, args);
const RUN_COMMAND = "azure-native:compute:VirtualMachineRunCommandByVirtualMachine";
const URN = `urn:pulumi:${stack}::vm-identity-access::vm-identity-access:index:VmAccessCheck$${RUN_COMMAND}::vmia-check-0-user`;
const VERIFIED = "VERIFIED: 1 of 1 check(s) proved access for identity user on 1 VM";
/** The first up's RBAC delay: a day, so the new grant cannot reach ARM while that up runs (stack.test.ts). */
const GRANT_HELD = { rbacDelaySeconds: 86_400 };

interface HeldRunCommand {
  id: string;
  parameters: Array<{ name: string; value: string }>;
  instanceView: { executionState: string; exitCode: number; startTime: string };
}

/** What the kept cloud holds between ups: the check's run command (with its instance view) and the stack's network. */
async function keptCloud(
  outputs: Record<string, unknown>,
): Promise<{ runCommand: HeldRunCommand; network: StackNetwork }> {
  const azure = await LocalAzure.start({ persistDir: cloudDir(stateDir) });
  try {
    const [vm] = outputs.vms as Array<{ name: string }>;
    const group = outputs.resourceGroupId as string;
    const path = `${group}/providers/Microsoft.Compute/virtualMachines/${vm.name}/runCommands/vmia-check-0-user?api-version=2024-11-01&$expand=instanceView`;
    const response = await azure.arm.request("GET", path);
    if (response.status !== 200) throw new Error(`GET ${path}: ${response.status} ${JSON.stringify(response.body)}`);
    const { id, properties } = response.body as { id: string; properties: Omit<HeldRunCommand, "id"> };
    return { runCommand: { id, ...properties }, network: await readStackNetwork(azure.arm, group) };
  } finally {
    await azure.stop();
  }
}

const probeRun = (held: HeldRunCommand) => held.parameters.find((parameter) => parameter.name === "PROBE_RUN")?.value;

describe.skipIf(!engineBuilt)("the program through Run Command under the real engine", () => {
  let healed: HeldRunCommand;
  let outputs: Record<string, unknown>;

  afterAll(async () => {
    await destroyWithEngine(stateDir, () => undefined, stack);
  }, 180_000);

  it("pulumi preview before the first up: a NAT gateway and a run command, no remote command, no public IP per VM", async () => {
    const preview = await pulumi("preview", "--non-interactive", "--color", "never");
    expect(preview.output).not.toMatch(/error:/);
    expect(preview.code).toBe(0);
    for (const line of [
      "azure-native:network:NatGateway vmia-nat create",
      "azure-native:network:PublicIPAddress vmia-nat-ip create",
      `${RUN_COMMAND} vmia-check-0-user create`,
    ]) {
      expect(preview.output).toContain(line);
    }
    expect(preview.output).not.toContain("command:remote:Command");
    expect(preview.output).not.toContain("vmia-ip0");
    expect(preview.output).toMatch(/\+ 19 to create/);
  }, 120_000);

  it("the first up fails: the grant has not reached ARM when the probe gives up after 30 s; the run command records that run", async () => {
    const lines: string[] = [];
    const first = await upWithEngine({ ...options, faults: GRANT_HELD }, (line) => lines.push(line), stack);
    expect(first.ok).toBe(false);
    // The run command itself was created (treatFailureAsDeploymentFailure false); the program judged its evidence.
    expect(lines.some((line) => line.includes(`${RUN_COMMAND} vmia-check-0-user created`))).toBe(true);
    expect(first.error).toMatch(
      new RegExp(
        `^pulumi:pulumi:Stack vm-identity-access-${stack}: The access check did not verify the expected access \\(granted\\):\\n {2}vmia-vm0[0-9a-f]{8} \\(user\\): probe-output: the probe should report ok true, reported ok false with error \\{"stage":"arm","status":403,"code":"AuthorizationFailed"`,
      ),
    );
    expect(first.error).toContain('resource-group-read: reading the resource group answered 403 "AuthorizationFailed"');
    expect(first.verdict).toMatch(/^NOT VERIFIED: /);
  }, 180_000);

  it("the next up, after propagation, updates the run command in place with PROBE_RUN 2, which runs the probe again and verifies", async () => {
    const lines: string[] = [];
    const second = await upWithEngine(options, (line) => lines.push(line), stack);
    expect(second.error).toBeNull();
    expect(second.ok).toBe(true);
    expect(second.verdict).toBe(VERIFIED);
    expect(
      lines.some((line) => new RegExp(`${RUN_COMMAND} vmia-check-0-user updated .*\\[diff: ~parameters\\]`).test(line)),
    ).toBe(true);
    expect(lines.some((line) => /18 unchanged/.test(line))).toBe(true);
    outputs = second.outputs;
    expect(outputs.vms).toEqual([{ name: expect.stringMatching(/^vmia-vm0[0-9a-f]{8}$/) }]);
    expect(outputs).not.toHaveProperty("sshPrivateKey");
    const kept = await keptCloud(outputs);
    healed = kept.runCommand;
    expect(probeRun(healed)).toBe("2");
    expect(healed.instanceView).toMatchObject({ executionState: "Succeeded", exitCode: 0 });
    // Nothing reaches the VM from outside: no public IP on its NIC, no inbound rule; egress through the NAT gateway.
    expect(kept.network).toEqual(privateNetwork(1));
  }, 150_000);

  it("a second run changes nothing: preview --expect-no-changes passes, and up leaves all 19 unchanged without running the probe", async () => {
    const preview = await pulumi("preview", "--expect-no-changes", "--non-interactive", "--color", "never");
    expect(preview.output).not.toMatch(/error:/);
    expect(preview.code).toBe(0);
    const lines: string[] = [];
    const up = await upWithEngine(options, (line) => lines.push(line), stack);
    expect(up.verdict).toBe(VERIFIED);
    expect(lines.some((line) => /\b19 unchanged/.test(line))).toBe(true);
    expect(lines.filter((line) => / (created|updated|replaced|deleted)\b/.test(line))).toEqual([]);
    const { runCommand } = await keptCloud(up.outputs);
    expect(runCommand.instanceView.startTime).toBe(healed.instanceView.startTime);
  }, 150_000);

  it("pulumi refresh reads the run command back through the stand-in, and a preview after it changes nothing", async () => {
    const refresh = await pulumi("refresh", "--yes", "--skip-preview", "--non-interactive", "--color", "never");
    expect(refresh.output).not.toMatch(/error:/);
    expect(refresh.code).toBe(0);
    const preview = await pulumi("preview", "--expect-no-changes", "--non-interactive", "--color", "never");
    expect(preview.code).toBe(0);
  }, 120_000);

  it("pulumi up --replace <the run command's URN> deletes it, creates it again, and the new run verifies", async () => {
    const lines: string[] = [];
    const up = await upWithEngine(options, (line) => lines.push(line), stack, ["--replace", URN]);
    expect(up.error).toBeNull();
    expect(up.verdict).toBe(VERIFIED);
    // deleteBeforeReplace: its one name is free again before the new one is created.
    const deleted = lines.findIndex((line) => line.includes(`${RUN_COMMAND} vmia-check-0-user deleted original`));
    const created = lines.findIndex((line) => line.includes(`${RUN_COMMAND} vmia-check-0-user created replacement`));
    expect(deleted).toBeGreaterThanOrEqual(0);
    expect(created).toBeGreaterThan(deleted);
    expect(lines.some((line) => /18 unchanged/.test(line))).toBe(true);
    const { runCommand } = await keptCloud(up.outputs);
    expect(runCommand.id).toBe(healed.id);
    expect(runCommand.instanceView).toMatchObject({ executionState: "Succeeded", exitCode: 0 });
    expect(Date.parse(runCommand.instanceView.startTime)).toBeGreaterThan(Date.parse(healed.instanceView.startTime));
  }, 150_000);
});
