import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { renderHostKeyCloudConfig } from "../../components/cloudInit";
import { roleAssignmentName } from "../../components/roleAssignment";
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

/**
 * The component's own revocation through examples/existing-vm, with the real engine (issue 24): the stack
 * grants the VM's identity Reader on the VM's group (grantReader true), then drops that grant in the same
 * update that switches the group from readable to refused (grantReader false), then grants it again. Each
 * switch verifies within two `pulumi up` runs, with no --replace, --target or state edits: the component
 * asks ARM whether the grant is still there and, through a stash, knows the update that removes it. And a
 * grant that is not going away (one made outside the stack, under the name the component watches) fails
 * the third update that sees it, naming it.
 */
describe.skipIf(!engineBuilt || !commandProviderInstalled)("examples/existing-vm through a revocation", () => {
  const { stateDir: revokeState, stack: revokeStack } = isolatedStack("existing-vm-revoke");
  const revokeConfig = join(EXAMPLE, `Pulumi.${revokeStack}.yaml`);
  const READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
  let seeded: { resourceGroupId: string; principalId: string } | undefined;

  const cli = (context: EngineContext, ...args: string[]) => {
    const dashes = args.indexOf("--");
    const [flags, values] = dashes < 0 ? [args, []] : [args.slice(0, dashes), args.slice(dashes)];
    return runPulumi(["--cwd", EXAMPLE, "--non-interactive", ...flags, "--stack", revokeStack, ...values], context.env);
  };

  /** One `pulumi up` with grantReader as given, in a Local Azure started with `faults` on the kept cloud. */
  async function up(grantReader: "true" | "false", faults: Record<string, unknown> = {}) {
    const context = await startEngineContext(revokeState, { rbacDelaySeconds: 0, ...faults });
    try {
      if (seeded === undefined) {
        const vm = await seedVm(context.azure, {
          identity: "user",
          grant: false,
          resourceGroup: "revoke-rg",
          vmName: "revoke-vm",
          sshPublicKey: sshKey.publicKeyOpenssh.trim(),
          customData: Buffer.from(
            renderHostKeyCloudConfig({ privateKey: hostKey.privateKeyOpenssh, publicKey: hostKey.publicKeyOpenssh }),
          ).toString("base64"),
        });
        seeded = { resourceGroupId: vm.resourceGroupId, principalId: String(vm.userIdentity?.principalId) };
        const select = await cli(context, "stack", "select");
        if (select.code !== 0) await cli(context, "stack", "init", "--secrets-provider", "passphrase");
        const secret = await cli(context, "config", "set", "--secret", "sshPrivateKey", "--", sshKey.privateKeyOpenssh);
        expect(secret.code, secret.output).toBe(0);
      }
      const config = {
        resourceGroupName: "revoke-rg",
        vmName: "revoke-vm",
        sshPort: context.azure.sshPort,
        sshHostKey: hostKey.publicKeyOpenssh.trim(),
        armEndpoint: context.azure.armEndpoint,
        grantReader,
      };
      for (const [key, value] of Object.entries(config)) {
        const set = await cli(context, "config", "set", key, "--", String(value));
        expect(set.code, set.output).toBe(0);
      }
      const run = await cli(context, "up", "--yes", "--skip-preview", "--color", "never");
      const shown = await cli(context, "stack", "output", "--json");
      return {
        code: run.code,
        output: run.output,
        outputs: JSON.parse(shown.output) as Record<string, unknown>,
        context,
      };
    } finally {
      await stopEngineContext(context);
    }
  }

  /** Adds, through ARM directly, the assignment the component watches (made outside the stack). */
  async function grantOutsideTheStack(): Promise<string> {
    const context = await startEngineContext(revokeState, { rbacDelaySeconds: 0 });
    try {
      const { resourceGroupId, principalId } = seeded as { resourceGroupId: string; principalId: string };
      const role = `/subscriptions/${context.azure.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${READER}`;
      const id = `${resourceGroupId}/providers/Microsoft.Authorization/roleAssignments/${roleAssignmentName(resourceGroupId, principalId, role)}`;
      await context.azure.arm.putAndWait(`${id}?api-version=2022-04-01`, {
        properties: { roleDefinitionId: role, principalId, principalType: "ServicePrincipal" },
      });
      return id;
    } finally {
      await stopEngineContext(context);
    }
  }

  async function deleteOutsideTheStack(id: string): Promise<void> {
    const context = await startEngineContext(revokeState, { rbacDelaySeconds: 0 });
    try {
      await context.azure.arm.deleteAndWait(`${id}?api-version=2022-04-01`);
    } finally {
      await stopEngineContext(context);
    }
  }

  const evidenceOf = (outputs: Record<string, unknown>) => (outputs.evidence as Array<Record<string, unknown>>)[0];
  const checkNames = (outputs: Record<string, unknown>) =>
    (outputs.checks as Array<{ name: string; ok: boolean }>).map((check) => [check.name, check.ok]);

  afterAll(async () => {
    const context = await startEngineContext(revokeState, { rbacDelaySeconds: 0 });
    try {
      await cli(context, "destroy", "--yes", "--skip-preview");
      await cli(context, "stack", "rm", "--yes", "--force");
    } finally {
      await stopEngineContext(context);
    }
    rmSync(revokeConfig, { force: true });
    rmSync(revokeState, { recursive: true, force: true });
  }, 240_000);

  it("granted: the stack's own Reader grant is proven", async () => {
    const granted = await up("true");
    expect(granted.code, granted.output).toBe(0);
    expect(granted.outputs.verified).toBe(true);
    expect(evidenceOf(granted.outputs)).toMatchObject({ expectation: "granted", readStatus: 200 });
  }, 240_000);

  it("denied: the update that drops the grant succeeds, probes nothing and says the next one proves the denial", async () => {
    const dropping = await up("false");
    expect(dropping.code, dropping.output).toBe(0);
    expect(dropping.outputs.verified).toBe(false);
    expect(checkNames(dropping.outputs)).toEqual([["revocation-pending", false]]);
    expect(dropping.output).toMatch(
      /Access to \/subscriptions\/[^ ]+\/resourceGroups\/revoke-rg is revoked at the end of this update \(Pulumi deletes removed role assignments last\): run pulumi up again to prove the denial\./,
    );
    expect(dropping.output).toMatch(/azure-native:authorization:RoleAssignment existing-vm-reader deleted/);
  }, 240_000);

  it("denied: the next update probes the refusal in place and waits out the revocation's lag", async () => {
    const proven = await up("false", { revocationLag: { count: 2 } });
    expect(proven.code, proven.output).toBe(0);
    expect(proven.outputs.verified).toBe(true);
    expect(evidenceOf(proven.outputs)).toMatchObject({
      expectation: "denied",
      readStatus: 403,
      readErrorCode: "AuthorizationFailed",
      readAttempts: 3,
    });
    // The stash that remembered the pending update went with the grant.
    expect(proven.output).toMatch(/pulumi:index:Stash existing-vm-check-grant-seen-[0-9a-f]{8} deleted/);
  }, 240_000);

  it("granted again: verified in one update", async () => {
    const again = await up("true");
    expect(again.code, again.output).toBe(0);
    expect(again.outputs.verified).toBe(true);
  }, 240_000);

  it("a grant that is not going away: not verified yet twice, then the update fails naming it; deleted, the denial is proven", async () => {
    // Back to denied, proven (two updates), then a grant appears that the stack did not make.
    expect((await up("false")).code).toBe(0);
    expect((await up("false")).outputs.verified).toBe(true);
    const id = await grantOutsideTheStack();
    const first = await up("false");
    expect(first.code, first.output).toBe(0);
    expect(checkNames(first.outputs)).toEqual([["revocation-pending", false]]);
    const second = await up("false");
    expect(second.code, second.output).toBe(0);
    expect(second.output).toContain(`the grant ${id} on `);
    expect(second.output).toContain("is still there after the update that should have removed it");
    const third = await up("false");
    expect(third.code).not.toBe(0);
    expect(third.output).toContain(`grant-removed: the role assignment ${id} still grants access to`);
    expect(third.output).toContain("it is not going away");
    expect(third.output).toContain(`az role assignment delete --ids ${id}`);
    // Deleted by hand, as the error says: the next update proves the denial.
    await deleteOutsideTheStack(id);
    const healed = await up("false");
    expect(healed.code, healed.output).toBe(0);
    expect(healed.outputs.verified).toBe(true);
  }, 900_000);
});
