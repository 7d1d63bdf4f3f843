import { afterAll, describe, expect, it } from "vitest";
import { renderHostKeyCloudConfig } from "../../components/cloudInit";
import { destroyWithEngine, pulumiWithEngine, rejudged, upWithEngine } from "../../engine/localRun";
import { cloudDir } from "../../local/engineStack";
import { readCloud, writeCloud } from "../../local-azure/persist";
import { generatePrivateKey } from "../../local-azure/tlsKeys";
import { commandProviderInstalled, engineBuilt, isolatedStack, stateFileText } from "./support";

/**
 * What only the real engine shows (issue 10, items 5 and 7), on one stack of the program against a kept
 * Local Azure, in the order a user meets it:
 * - preview before the first up;
 * - a check that heals on the next `pulumi up`: the first up fails because the grant has not reached
 *   ARM when the probe gives up; the next up, after propagation, runs the check again and verifies,
 *   with no --replace and nothing else changed;
 * - secrets in the state file, `pulumi stack output accessCheck`, a second run that changes nothing,
 *   refresh (Read);
 * - the command provider's host-key pinning: the VM comes back with another host key than the one its
 *   cloud-init pinned (a machine in the middle), and the check is refused at the handshake.
 * One stack for all of it: each deployment of the program costs the machine more than any check here.
 */

const { stateDir, stack } = isolatedStack("stack");
const options = { stateDir, accessCheckTimeoutSeconds: 30 };
const pulumi = (...args: string[]) => pulumiWithEngine(options, stack, args);
const VERIFIED = "VERIFIED: 1 of 1 check(s) proved access for identity user on 1 VM";
/**
 * The first up's RBAC delay: a day, so the new grant cannot reach ARM while that up runs, however long
 * the machine makes it take. Propagation happens between the ups: the next one starts Local Azure with
 * its default delay, long past by then.
 */
const GRANT_HELD = { rbacDelaySeconds: 86_400 };

describe.skipIf(!engineBuilt || !commandProviderInstalled)("the program under the real engine", () => {
  afterAll(async () => {
    await destroyWithEngine(stateDir, () => undefined, stack);
  }, 180_000);

  it("pulumi preview before the first up shows the plan without error", async () => {
    const preview = await pulumi("preview", "--non-interactive", "--color", "never");
    expect(preview.output).not.toMatch(/error:/);
    expect(preview.code).toBe(0);
    for (const type of [
      "azure-native:resources:ResourceGroup",
      "azure-native:compute:VirtualMachine",
      "azure-native:authorization:RoleAssignment",
      "tls:index:PrivateKey",
      "command:remote:Command",
    ]) {
      expect(preview.output).toContain(type);
    }
    expect(preview.output).toMatch(/\+ 18 to create/);
  }, 120_000);

  it("the first up fails: the grant has not reached ARM when the probe gives up after 30 s", async () => {
    const first = await upWithEngine({ ...options, faults: GRANT_HELD }, () => undefined, stack);
    expect(first.ok).toBe(false);
    // The remote command itself failed, with the probe's evidence: the engine will run it again.
    expect(first.error).toMatch(/^command:remote:Command vmia-check-0-user: Process exited with status 1/);
    expect(first.verdict).toMatch(/^NOT VERIFIED: vmia-check-0-user: the probe exited 1: arm 403 AuthorizationFailed/);
  }, 180_000);

  it("the next up, after propagation, runs the check again and verifies, without --replace", async () => {
    const lines: string[] = [];
    const second = await upWithEngine(options, (line) => lines.push(line), stack);
    expect(second.error).toBeNull();
    expect(second.ok).toBe(true);
    expect(second.verdict).toBe(VERIFIED);
    // Only the check ran: every Azure resource and key was already there (a kept cloud, not a new one).
    expect(lines.some((line) => /command:remote:Command vmia-check-0-user created/.test(line))).toBe(true);
    expect(lines.some((line) => /17 unchanged/.test(line))).toBe(true);
  }, 150_000);

  it("the state file holds no private key, customData or cloud-config in clear, and encrypts them", () => {
    const state = stateFileText(stateDir, stack);
    expect(state).not.toContain("PRIVATE KEY");
    expect(state).not.toContain("ed25519_private");
    // customData is base64 of the cloud-config, which starts "#cloud-config".
    expect(state).not.toContain(Buffer.from("#cloud-config").toString("base64").slice(0, 16));
    expect(state).toContain('"ciphertext"');
    // No probe is pointed at Azure's IMDS address: the guest's own IMDS applies.
    const commands = [...state.matchAll(/"create":"([^"]*)"/g)].map((match) => match[1]);
    expect(commands.length).toBeGreaterThan(0);
    for (const command of commands) expect(command).not.toContain("169.254");
  });

  it("pulumi stack output accessCheck is readable without --show-secrets, and re-judges as verified", async () => {
    const output = await pulumi("stack", "output", "accessCheck", "--json");
    expect(output.code).toBe(0);
    expect(output.output).not.toContain("[secret]");
    expect(rejudged(JSON.parse(output.output))?.verified).toBe(true);
    const key = await pulumi("stack", "output", "sshPrivateKey");
    expect(key.output.trim()).toBe("[secret]");
  }, 120_000);

  it("a second run changes nothing: preview --expect-no-changes passes", async () => {
    const preview = await pulumi("preview", "--expect-no-changes", "--non-interactive", "--color", "never");
    expect(preview.output).not.toMatch(/error:/);
    expect(preview.code).toBe(0);
  }, 120_000);

  it("pulumi refresh reads every resource back through the stand-ins, and a preview after it changes nothing", async () => {
    const refresh = await pulumi("refresh", "--yes", "--skip-preview", "--non-interactive", "--color", "never");
    expect(refresh.output).not.toMatch(/error:/);
    expect(refresh.code).toBe(0);
    const preview = await pulumi("preview", "--expect-no-changes", "--non-interactive", "--color", "never");
    expect(preview.code).toBe(0);
  }, 120_000);

  // Last: it leaves the stack with a failed check.
  it("the command provider refuses a guest whose host key is not the pinned one", async () => {
    const cloud = readCloud(cloudDir(stateDir));
    if (!cloud) throw new Error("no kept cloud");
    for (const resource of cloud.store.resources.filter((r) => r.type === "Microsoft.Compute/virtualMachines")) {
      const key = generatePrivateKey("ED25519");
      const osProfile = (resource.body.properties as { osProfile: { customData?: string } }).osProfile;
      osProfile.customData = Buffer.from(
        renderHostKeyCloudConfig({ privateKey: key.privateKeyOpenssh, publicKey: key.publicKeyOpenssh }),
      ).toString("base64");
    }
    writeCloud(cloudDir(stateDir), cloud);
    const urn = `urn:pulumi:${stack}::vm-identity-access::vm-identity-access:index:VmAccessCheck$command:remote:Command::vmia-check-0-user`;
    // sshDialErrorLimit 2: three dials, refused within seconds, instead of the default 60 (about four and a
    // half minutes of dialling, for a VM still booting).
    const up = await upWithEngine({ ...options, config: { sshDialErrorLimit: "2" } }, () => undefined, stack, [
      "--replace",
      urn,
    ]);
    expect(up.ok).toBe(false);
    // Each of the 3 dials (dialErrorLimit 2) is refused at the handshake, before any command runs.
    // The real provider says: "after 2 failed attempts: ssh: handshake failed: ssh: host key mismatch".
    expect(up.error).toMatch(/^command:remote:Command vmia-check-0-user: after 2 failed attempts: .*host key mismatch/);
    expect(up.verdict).toMatch(/^NOT VERIFIED: .*host key mismatch/);
  }, 150_000);
});
