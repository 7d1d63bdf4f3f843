import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { renderHostKeyCloudConfig } from "../../components/cloudInit";
import { type EngineContext, runPulumi, startEngineContext, stopEngineContext } from "../../engine/localRun";
import { seedVm } from "../../local-azure/index";
import { generatePrivateKey } from "../../local-azure/tlsKeys";
import { commandProviderInstalled, engineBuilt, isolatedStack, REPO_ROOT } from "./support";

/**
 * examples/existing-vm with the real engine against a kept Local Azure: the VM, its network and a
 * user-assigned identity with Reader on the VM's group are created beforehand by Local Azure's ARM
 * directly (seedVm), as another team's stack or Bicep would; the example looks them up with
 * azure-native's get functions (served by the stand-in) and proves the access with VmAccessCheck.
 */

const EXAMPLE = join(REPO_ROOT, "examples", "existing-vm");
const PROJECT = "existing-vm-access-check";
const { stateDir, stack } = isolatedStack("existing-vm");
const stackConfig = join(EXAMPLE, `Pulumi.${stack}.yaml`);
const sshKey = generatePrivateKey("ED25519");
const hostKey = generatePrivateKey("ED25519");

/** Runs `body` with Local Azure up (its cloud kept in stateDir) and the environment the built CLI needs. */
async function withEngine<T>(body: (context: EngineContext) => Promise<T>): Promise<T> {
  const context = await startEngineContext(stateDir, { rbacDelaySeconds: 0 });
  try {
    return await body(context);
  } finally {
    await stopEngineContext(context);
  }
}

/** `pulumi <args> --stack <stack> [-- <values>]` in the example's folder. */
const pulumi = (context: EngineContext, ...args: string[]) => {
  const dashes = args.indexOf("--");
  const [flags, values] = dashes < 0 ? [args, []] : [args.slice(0, dashes), args.slice(dashes)];
  return runPulumi(["--cwd", EXAMPLE, "--non-interactive", ...flags, "--stack", stack, ...values], context.env);
};

describe.skipIf(!engineBuilt || !commandProviderInstalled)("examples/existing-vm under the real engine", () => {
  afterAll(async () => {
    await withEngine(async (context) => {
      await pulumi(context, "destroy", "--yes", "--skip-preview");
      await pulumi(context, "stack", "rm", "--yes", "--force");
    });
    rmSync(stackConfig, { force: true });
    rmSync(stateDir, { recursive: true, force: true });
  }, 180_000);

  it("proves a VM's user-assigned identity reads its resource group, from a stack that only looks the VM up", async () => {
    const { up, outputs } = await withEngine(async (context) => {
      const vm = await seedVm(context.azure, {
        identity: "user",
        resourceGroup: "team-rg",
        vmName: "team-vm",
        sshPublicKey: sshKey.publicKeyOpenssh.trim(),
        customData: Buffer.from(
          renderHostKeyCloudConfig({ privateKey: hostKey.privateKeyOpenssh, publicKey: hostKey.publicKeyOpenssh }),
        ).toString("base64"),
      });
      expect(vm.publicIp).not.toBe("");
      const config = {
        resourceGroupName: "team-rg",
        vmName: "team-vm",
        sshPort: context.azure.sshPort,
        sshHostKey: hostKey.publicKeyOpenssh.trim(),
        armEndpoint: context.azure.armEndpoint,
      };
      writeFileSync(
        stackConfig,
        stringify({ config: Object.fromEntries(Object.entries(config).map(([k, v]) => [`${PROJECT}:${k}`, v])) }),
      );
      const select = await pulumi(context, "stack", "select");
      if (select.code !== 0) await pulumi(context, "stack", "init", "--secrets-provider", "passphrase");
      // Declared secret in Pulumi.yaml: the CLI accepts it only encrypted.
      const secret = await pulumi(
        context,
        "config",
        "set",
        "--secret",
        "sshPrivateKey",
        "--",
        sshKey.privateKeyOpenssh,
      );
      expect(secret.code, secret.output).toBe(0);
      const run = await pulumi(context, "up", "--yes", "--skip-preview", "--color", "never");
      const shown = await pulumi(context, "stack", "output", "--json");
      return { up: run, outputs: JSON.parse(shown.output) as Record<string, unknown> };
    });
    expect(up.code, up.output).toBe(0);
    expect(outputs.verified).toBe(true);
    const [evidence] = outputs.evidence as Array<Record<string, unknown>>;
    expect(evidence).toMatchObject({ expectation: "granted", verified: true, selector: "client_id", readStatus: 200 });
    expect(String(evidence.scope).toLowerCase()).toMatch(/\/resourcegroups\/team-rg$/);
    expect((outputs.checks as Array<{ ok: boolean }>).every((check) => check.ok)).toBe(true);
    // Looked up, never managed: the stack holds the check alone.
    expect(up.output).toMatch(/\+ 3 created/);
    expect(up.output).not.toMatch(/PRIVATE KEY/);
  }, 240_000);
});
