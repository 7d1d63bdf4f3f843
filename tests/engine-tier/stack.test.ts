import { afterAll, describe, expect, it } from "vitest";
import { destroyWithEngine, pulumiWithEngine, rejudged, upWithEngine } from "../../engine/localRun";
import { commandProviderInstalled, engineBuilt, isolatedStack, stateFileText } from "./support";

/**
 * What only the real engine shows (issue 10, item 7), on one stack of the program against a kept
 * Local Azure: preview before the first up, secrets in the state file, `pulumi stack output
 * accessCheck`, a second run that changes nothing, refresh (Read), destroy. The host-key pinning is
 * hostKey.test.ts: its 60 refused dials take minutes, which run beside this file.
 */

const { stateDir, stack } = isolatedStack("stack");
const options = { stateDir, accessCheckTimeoutSeconds: 30 };
const pulumi = (...args: string[]) => pulumiWithEngine(options, stack, args);

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

  it("pulumi up verifies access", async () => {
    const up = await upWithEngine(options, () => undefined, stack);
    expect(up.error).toBeNull();
    expect(up.verdict).toBe("VERIFIED: 1 of 1 check(s) proved access for identity user on 1 VM");
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
});
