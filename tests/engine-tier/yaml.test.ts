/**
 * Engine tier: examples/yaml, a Pulumi YAML program, proves access to a VM it did not create with
 * VmAccessCheck from the plugin package in components/package, through the built CLI, Pulumi's YAML
 * language host (pulumi-language-yaml v1.25.0, built by `npm run engine:build`), the Node.js language host
 * stand-in running Pulumi's component provider host, and the command provider stand-in, against a VM that
 * Local Azure's ARM created beforehand (seedVm: resource group, user-assigned identity, Reader on the group):
 * the check verifies the read with the token's claims as evidence, keeps no token or key in the state, changes
 * nothing on a second run, and fails `pulumi up` with ARM's refusal for a group the identity cannot read.
 *
 * The example runs in place (its `packages:` path is relative to it), with its stack's config in a
 * temporary file (--config-file) and its state in a temporary file:// backend.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { type EngineContext, runPulumi, startEngineContext, stopEngineContext } from "../../engine/localRun";
import { lockedVersion } from "../../engine/versions";
import { ENGINE_DIR, engineBinDir, engineEnv } from "../../local/engineEnv";
import { LocalAzure, type SeededVm, seedVm } from "../../local-azure/index";
import { generatePrivateKey } from "../../local-azure/tlsKeys";
import { commandProviderInstalled, engineBuilt, isolatedStack, REPO_ROOT } from "./support";

const run = promisify(execFile);
const EXAMPLE = join(REPO_ROOT, "examples", "yaml");
const bin = engineBinDir(REPO_ROOT);
const STACK = `yaml-example-${process.pid}`;

type Output = { stdout: string; stderr: string };

describe("examples/yaml: a Pulumi YAML program runs VmAccessCheck through the real engine", () => {
  let azure: LocalAzure;
  let vm: SeededVm;
  let tmp: string;
  let home: string;
  let configFile: string;
  let env: NodeJS.ProcessEnv;
  const clientKey = generatePrivateKey("ED25519");
  const hostKey = generatePrivateKey("ED25519");
  const hostKeyLine = hostKey.publicKeyOpenssh.trim().split(" ").slice(0, 2).join(" ");

  const pulumi = async (...args: string[]): Promise<Output> => {
    // Flags before a "--", whatever follows it being values (a private key starts with dashes).
    const at = args.includes("--") ? args.indexOf("--") : args.length;
    const argv = [...args.slice(0, at), "--non-interactive", ...args.slice(at)];
    try {
      return await run(join(bin, "pulumi"), argv, { cwd: EXAMPLE, env, maxBuffer: 16 << 20 });
    } catch (e) {
      const err = e as Error & { stdout?: string; stderr?: string };
      throw new Error(`pulumi ${args.join(" ")} failed: ${err.message}\n${err.stdout ?? ""}\n${err.stderr ?? ""}`);
    }
  };
  const config = (key: string, value: string, secret = false) =>
    pulumi("config", "set", "--config-file", configFile, ...(secret ? ["--secret"] : []), key, "--", value);

  beforeAll(async () => {
    for (const name of ["pulumi", "pulumi-language-yaml", "pulumi-language-nodejs", "pulumi-resource-command"]) {
      if (!existsSync(join(bin, name)))
        throw new Error(`${join(bin, name)} is missing: run npm run engine:build first`);
    }
    tmp = mkdtempSync(join(tmpdir(), "engine-tier-yaml-"));
    mkdirSync(join(REPO_ROOT, ENGINE_DIR, "test-homes"), { recursive: true });
    home = mkdtempSync(join(REPO_ROOT, ENGINE_DIR, "test-homes", "yaml-"));
    configFile = join(tmp, `Pulumi.${STACK}.yaml`);
    env = {
      ...process.env,
      ...engineEnv({
        repoRoot: REPO_ROOT,
        stateDir: tmp,
        passphrase: "engine-tier-yaml",
        basePath: process.env.PATH,
        pulumiHome: home,
      }),
    };
    // The component's probe runs are command:remote:Command: the stand-in at the locked @pulumi/command's version.
    const lock = JSON.parse(readFileSync(join(REPO_ROOT, "package-lock.json"), "utf8"));
    await run(
      "bash",
      [
        join(REPO_ROOT, "engine", "installPlugin.sh"),
        "command",
        lockedVersion(lock, "@pulumi/command"),
        join(bin, "pulumi-resource-command"),
      ],
      { env },
    );

    azure = await LocalAzure.start();
    // The VM exists before the program: made through ARM, its host key installed by cloud-init.
    const cloudConfig = `#cloud-config\n${stringify({ ssh_keys: { ed25519_private: hostKey.privateKeyOpenssh, ed25519_public: hostKeyLine } })}`;
    vm = await seedVm(azure, {
      identity: "user",
      resourceGroup: "rg-yaml",
      vmName: "vm-yaml",
      sshPublicKey: clientKey.publicKeyOpenssh.trim(),
      customData: Buffer.from(cloudConfig).toString("base64"),
    });
    if (!vm.userIdentity) throw new Error("seedVm made no user-assigned identity");

    await pulumi("stack", "init", STACK, "--secrets-provider", "passphrase");
    await config("vmName", "vm-yaml");
    await config("host", vm.publicIp);
    await config("port", String(azure.sshPort));
    await config("privateKey", clientKey.privateKeyOpenssh, true);
    await config("hostKey", hostKeyLine);
    await config("principalId", vm.userIdentity.principalId);
    await config("clientId", vm.userIdentity.clientId);
    await config("tenantId", vm.userIdentity.tenantId);
    await config("resourceGroupId", vm.resourceGroupId);
    await config("armEndpoint", azure.armEndpoint);
    await config("deadlineSeconds", "60");
  }, 180_000);

  afterAll(async () => {
    if (env) {
      await pulumi("destroy", "--yes", "--skip-preview", "--config-file", configFile).catch(() => undefined);
      await pulumi("stack", "rm", "--yes", "--force", STACK).catch(() => undefined);
    }
    await azure?.stop();
    for (const dir of [tmp, home]) if (dir) rmSync(dir, { recursive: true, force: true });
    rmSync(join(EXAMPLE, `Pulumi.${STACK}.yaml`), { force: true });
  }, 180_000);

  it("pulumi up verifies the identity's read of the resource group, with the token's claims as evidence", async () => {
    const up = await pulumi("up", "--yes", "--skip-preview", "--config-file", configFile);
    expect(up.stdout).toContain("vm-identity-access:index:VmAccessCheck");
    // Neither the YAML host (it warns about config keys it does not know) nor the component complains.
    expect(`${up.stdout}${up.stderr}`).not.toMatch(/warning/i);
    const outputs = JSON.parse((await pulumi("stack", "output", "--json")).stdout);
    expect(outputs.verified).toBe(true);
    const evidence = outputs.evidence as Array<Record<string, unknown>>;
    expect(evidence).toHaveLength(1);
    expect(evidence[0]).toMatchObject({
      scope: vm.resourceGroupId,
      expectation: "granted",
      verified: true,
      selector: "client_id",
      tokenStatus: 200,
      readStatus: 200,
      actions: ["*/read"],
      notActions: [],
      claims: {
        aud: `${azure.armEndpoint}/`,
        oid: vm.userIdentity?.principalId,
        appid: vm.userIdentity?.clientId,
        tid: vm.userIdentity?.tenantId,
      },
    });
    const checks = outputs.checks as Array<{ scope: string; name: string; ok: boolean }>;
    expect(checks.map((check) => [check.scope, check.name, check.ok])).toEqual(
      [
        "probe-output",
        "token-obtained",
        "token-audience",
        "token-principal",
        "token-tenant",
        "token-client-id",
        "identity-selector",
        "target-resource-group",
        "resource-group-read",
        "permissions-read-only",
      ].map((name) => [vm.resourceGroupId, name, true]),
    );
  }, 240_000);

  it("the state holds no token and no private key in clear", async () => {
    const state = (await pulumi("stack", "export")).stdout;
    expect(state).not.toMatch(/eyJ[\w-]+\.eyJ[\w-]+\./);
    expect(state).not.toContain("PRIVATE KEY");
  }, 60_000);

  it("a second run changes nothing", async () => {
    await pulumi("preview", "--expect-no-changes", "--config-file", configFile);
  }, 180_000);

  it("a resource group the identity cannot read fails pulumi up, with ARM's refusal in the output", async () => {
    const other = `/subscriptions/${azure.subscriptionId}/resourceGroups/rg-yaml-other`;
    await azure.arm.putAndWait(`${other}?api-version=2024-03-01`, { location: azure.location });
    await config("resourceGroupId", other);
    // ARM refuses for good here, so the probe asks until its deadline: long enough that its first read is
    // answered (an IMDS token and a TLS handshake first) however busy the machine is, short enough to wait.
    await config("deadlineSeconds", "10");
    const failed = await pulumi("up", "--yes", "--skip-preview", "--config-file", configFile).then(
      () => "pulumi up succeeded",
      (e: Error) => e.message,
    );
    // The probe's run fails its command, so the next `pulumi up` probes again; its progress is the reason.
    expect(failed).toContain(`command:remote:Command (check):\n    error: Process exited with status 1: running "`);
    expect(failed).toContain("RESOURCE_GROUP='rg-yaml-other' PROBE_DEADLINE_SECONDS='10' bash -s");
    expect(failed).toContain("probe: arm resourceGroup attempt 1: HTTP 403 AuthorizationFailed");
    expect(failed).toContain("probe: arm resourceGroup: deadline of 10s reached; giving up");
    expect(failed).not.toMatch(/eyJ[\w-]+\.eyJ[\w-]+\./);
  }, 240_000);

  // Why examples/yaml writes its `packages:` entry itself: the YAML host built here answers the CLI's Link
  // call Unimplemented (pulumi-yaml gained Link in v1.26.2), so `pulumi package add` stops after reading the
  // schema and writing the YAML "SDK" (a lock file), before it records the package in Pulumi.yaml. When the
  // YAML host is upgraded this fails: then let `pulumi package add` write the entry, and update the README.
  it("pulumi package add reads the schema and writes the lock file, then stops at the YAML host's missing Link", async () => {
    const project = join(tmp, "add");
    mkdirSync(project);
    writeFileSync(join(project, "Pulumi.yaml"), "name: package-add\nruntime: yaml\n");
    const added = await run(join(bin, "pulumi"), ["package", "add", join(REPO_ROOT, "components", "package")], {
      cwd: project,
      env,
    }).then(
      () => ({ failed: false, output: "" }),
      (e: { stdout?: string; stderr?: string }) => ({ failed: true, output: `${e.stdout ?? ""}${e.stderr ?? ""}` }),
    );
    expect(added.failed).toBe(true);
    expect(added.output).toContain("error: linking package: method Link not implemented");
    const lock = parse(
      readFileSync(join(project, "sdks", "vm-identity-access", "vm-identity-access-0.1.0.yaml"), "utf8"),
    );
    expect(lock).toEqual({ packageDeclarationVersion: 1, name: "vm-identity-access", version: "0.1.0" });
    expect(readFileSync(join(project, "Pulumi.yaml"), "utf8")).toBe("name: package-add\nruntime: yaml\n");
  }, 120_000);
});

/**
 * The component's own revocation from Pulumi YAML (issue 24): examples/yaml as a user would edit it, with
 * the real CLI, the YAML host, the component's provider host and the azure-native stand-in (for the
 * component's invokes) against a kept Local Azure. Granted: the group is readable. Denied: the user moves it
 * from readableScopes to refusedScopes and names the Reader assignment in `grant`; the assignment is still
 * there during that update and deleted after it, as Pulumi deletes a removed resource at the end of an
 * update. Granted again: back. Each switch verifies within two `pulumi up`, with no --replace, --target or
 * state edits; and an assignment that is not going away fails the third update that sees it, naming it.
 *
 * The assignment is made and deleted through ARM directly, not by the YAML program: the YAML host resolves
 * an azure-native resource through the provider's schema, which the stand-in plugin here does not serve
 * ("error loading schema for azure-native: it looks like GetSchema is not implemented").
 */
describe.skipIf(!engineBuilt || !commandProviderInstalled)("examples/yaml through a revocation", () => {
  const { stateDir, stack } = isolatedStack("yaml-revoke");
  const READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
  const GRANT_NAME = "0c3e7a4e-5b0d-4c51-9f4b-6f1f2e3d4c5b";
  let project: string;
  let vm: SeededVm | undefined;
  const example = parse(readFileSync(join(EXAMPLE, "Pulumi.yaml"), "utf8")) as {
    resources: { check: { properties: Record<string, unknown> } };
  } & Record<string, unknown>;

  /** A Pulumi YAML interpolation: `${name}`. */
  const ref = (name: string) => `\${${name}}`;
  const grantId = () => `${vm?.resourceGroupId}/providers/Microsoft.Authorization/roleAssignments/${GRANT_NAME}`;

  /** The example as the user edits it for `phase`, its package named where it is. */
  function program(phase: "granted" | "denied"): string {
    const edited = structuredClone(example);
    edited.packages = { "vm-identity-access": join(REPO_ROOT, "components", "package") };
    const { readableScopes: _readable, ...properties } = edited.resources.check.properties;
    edited.resources.check.properties =
      phase === "granted"
        ? { ...properties, readableScopes: [ref("resourceGroupId")] }
        : { ...properties, refusedScopes: [ref("resourceGroupId")], grant: { roleAssignmentId: grantId() } };
    return stringify(edited);
  }

  const cli = (context: EngineContext, ...args: string[]) => {
    const dashes = args.indexOf("--");
    const [flags, values] = dashes < 0 ? [args, []] : [args.slice(0, dashes), args.slice(dashes)];
    return runPulumi(["--cwd", project, "--non-interactive", ...flags, "--stack", stack, ...values], context.env);
  };

  /** Runs `body` with the kept Local Azure up (with `faults`), seeding the VM and the stack the first time. */
  async function withContext<T>(faults: Record<string, unknown>, body: (context: EngineContext) => Promise<T>) {
    const context = await startEngineContext(stateDir, { rbacDelaySeconds: 0, ...faults });
    try {
      if (vm === undefined) {
        const clientKey = generatePrivateKey("ED25519");
        const hostKey = generatePrivateKey("ED25519");
        const hostKeyLine = hostKey.publicKeyOpenssh.trim().split(" ").slice(0, 2).join(" ");
        const cloudConfig = `#cloud-config\n${stringify({ ssh_keys: { ed25519_private: hostKey.privateKeyOpenssh, ed25519_public: hostKeyLine } })}`;
        vm = await seedVm(context.azure, {
          identity: "user",
          grant: false,
          resourceGroup: "rg-yaml-revoke",
          vmName: "vm-yaml-revoke",
          sshPublicKey: clientKey.publicKeyOpenssh.trim(),
          customData: Buffer.from(cloudConfig).toString("base64"),
        });
        const identity = vm.userIdentity as NonNullable<SeededVm["userIdentity"]>;
        writeFileSync(join(project, "Pulumi.yaml"), program("granted"));
        const select = await cli(context, "stack", "select");
        if (select.code !== 0) await cli(context, "stack", "init", "--secrets-provider", "passphrase");
        const settings: Array<[string, string, boolean?]> = [
          ["vmName", "vm-yaml-revoke"],
          ["host", vm.publicIp],
          ["privateKey", clientKey.privateKeyOpenssh, true],
          ["hostKey", hostKeyLine],
          ["principalId", identity.principalId],
          ["clientId", identity.clientId],
          ["tenantId", identity.tenantId],
          ["resourceGroupId", vm.resourceGroupId],
          ["deadlineSeconds", "60"],
        ];
        for (const [key, value, secret] of settings) {
          const set = await cli(context, "config", "set", ...(secret ? ["--secret"] : []), key, "--", value);
          expect(set.code, set.output).toBe(0);
        }
      }
      return await body(context);
    } finally {
      await stopEngineContext(context);
    }
  }

  /** One `pulumi up` of the program as edited for `phase`. */
  function up(phase: "granted" | "denied", faults: Record<string, unknown> = {}) {
    return withContext(faults, async (context) => {
      writeFileSync(join(project, "Pulumi.yaml"), program(phase));
      // Where this run's Local Azure answers (stable across runs, set each time all the same).
      for (const [key, value] of [
        ["port", String(context.azure.sshPort)],
        ["armEndpoint", context.azure.armEndpoint],
      ]) {
        const set = await cli(context, "config", "set", key, "--", value);
        expect(set.code, set.output).toBe(0);
      }
      const run = await cli(context, "up", "--yes", "--skip-preview", "--color", "never");
      const shown = await cli(context, "stack", "output", "--json");
      return { code: run.code, output: run.output, outputs: JSON.parse(shown.output) as Record<string, unknown> };
    });
  }

  /** The Reader assignment, made or deleted through ARM directly. */
  async function grantIn(context: EngineContext, present: boolean): Promise<void> {
    const path = `${grantId()}?api-version=2022-04-01`;
    if (!present) return void (await context.azure.arm.deleteAndWait(path));
    const role = `/subscriptions/${context.azure.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${READER}`;
    const principalId = vm?.userIdentity?.principalId;
    await context.azure.arm.putAndWait(path, {
      properties: { roleDefinitionId: role, principalId, principalType: "ServicePrincipal" },
    });
  }
  const grant = (present: boolean) => withContext({}, (context) => grantIn(context, present));

  const checkNames = (outputs: Record<string, unknown>) =>
    (outputs.checks as Array<{ name: string; ok: boolean }>).map((check) => [check.name, check.ok]);

  beforeAll(() => {
    project = mkdtempSync(join(tmpdir(), "yaml-revoke-project-"));
  });

  afterAll(async () => {
    await withContext({}, async (context) => {
      await cli(context, "destroy", "--yes", "--skip-preview");
      await cli(context, "stack", "rm", "--yes", "--force");
    });
    for (const dir of [project, stateDir]) rmSync(dir, { recursive: true, force: true });
  }, 240_000);

  it("granted: the Reader assignment is proven", async () => {
    // Seeded and granted in one run of Local Azure.
    await withContext({}, (context) => grantIn(context, true));
    const granted = await up("granted");
    expect(granted.code, granted.output).toBe(0);
    expect(granted.outputs.verified).toBe(true);
  }, 300_000);

  it("denied: the update that switches the scope while the assignment is still there succeeds, and says the next one proves the denial", async () => {
    const switching = await up("denied");
    expect(switching.code, switching.output).toBe(0);
    expect(checkNames(switching.outputs)).toEqual([["revocation-pending", false]]);
    expect(switching.output).toMatch(
      /is revoked at the end of this update \(Pulumi deletes removed role assignments last\): run pulumi up again to prove the denial\./,
    );
    expect(switching.output).toMatch(/pulumi:index:Stash check-grant-seen-[0-9a-f]{8} created/);
  }, 300_000);

  it("denied: once the assignment is gone, the next update proves the refusal, waiting out the revocation's lag", async () => {
    await grant(false);
    const proven = await up("denied", { revocationLag: { count: 2 } });
    expect(proven.code, proven.output).toBe(0);
    expect(proven.outputs.verified).toBe(true);
    expect((proven.outputs.evidence as Array<Record<string, unknown>>)[0]).toMatchObject({
      expectation: "denied",
      readStatus: 403,
      readAttempts: 3,
    });
    expect(proven.output).toMatch(/pulumi:index:Stash check-grant-seen-[0-9a-f]{8} deleted/);
  }, 300_000);

  it("granted again: verified in one update", async () => {
    await grant(true);
    const again = await up("granted");
    expect(again.code, again.output).toBe(0);
    expect(again.outputs.verified).toBe(true);
  }, 300_000);

  it("an assignment that is not going away: not verified yet twice, then the update fails naming it", async () => {
    expect((await up("denied")).code).toBe(0);
    const second = await up("denied");
    expect(second.code, second.output).toBe(0);
    expect(second.output).toContain(`the grant ${grantId()} on `);
    const third = await up("denied");
    expect(third.code).not.toBe(0);
    expect(third.output).toContain(`grant-removed: the role assignment ${grantId()} still grants access to`);
    expect(third.output).toContain("it is not going away");
  }, 900_000);
});
