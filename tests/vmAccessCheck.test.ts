import * as pulumi from "@pulumi/pulumi";
import { beforeEach, describe, expect, it } from "vitest";
import { REVOCATION_PENDING_COMMAND } from "../components/probeCommand";
import { VmAccessCheck, type VmAccessCheckArgs } from "../components/vmAccessCheck";
import { unwrapSecrets } from "../local/secrets";
import type { ProbeResultV1 } from "../verify/contract";
import { inlineProbeSettings, withRegistrationFailuresExpected } from "./support/programMocks";

/**
 * The public component under Pulumi's mocks, constructed directly as a user's program would: the exact
 * inputs of its remote commands, its outputs, its verdicts and its error texts. Each command's stdout
 * comes from `answer`, which sees the command's inputs, as a probe on the VM would.
 */

const SUB = "11111111-1111-4111-8111-111111111111";
const RG = `/subscriptions/${SUB}/resourceGroups/app-rg`;
const OTHER_RG = `/subscriptions/${SUB}/resourceGroups/other-rg`;
const ARM = "https://management.azure.com";
const TENANT = "22222222-2222-4222-8222-222222222222";
const PRINCIPAL = "p1000000-0000-4000-8000-000000000001";
const CLIENT = "c1000000-0000-4000-8000-000000000001";
const HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGmC4V8kqHnqRZx7S8p7OwPZyNQlzvZpP0tM2hGv3d5n";
const PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\ncheck\n-----END OPENSSH PRIVATE KEY-----\n";

interface Registered {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
}

/** What the VM's probe answers: `denied` where ARM refuses, else access; `oid` to forge another principal. */
interface World {
  refused: string[];
  oid?: string;
}

function probeJson(command: Registered, world: World): { stdout: string; exit: number } {
  const settings = inlineProbeSettings(String(command.inputs.create));
  const scope = `/subscriptions/${settings.SUBSCRIPTION_ID}/resourceGroups/${settings.RESOURCE_GROUP}`;
  const refused = world.refused.includes(scope);
  const selector = settings.MI_CLIENT_ID
    ? { selector: "client_id" as const, value: settings.MI_CLIENT_ID }
    : { selector: "system" as const, value: null };
  const probe: ProbeResultV1 = {
    probeVersion: 1,
    ok: !refused,
    identity: selector,
    target: {
      subscriptionId: settings.SUBSCRIPTION_ID,
      resourceGroup: settings.RESOURCE_GROUP,
      armEndpoint: settings.ARM_ENDPOINT,
      resource: `${settings.ARM_ENDPOINT}/`,
    },
    token: {
      status: 200,
      attempts: 1,
      expiresOn: "1900000000",
      claims: { aud: `${settings.ARM_ENDPOINT}/`, oid: world.oid ?? PRINCIPAL, tid: TENANT, appid: CLIENT },
    },
    resourceGroup: refused
      ? { status: 403, attempts: 1, body: { error: { code: "AuthorizationFailed", message: "no" } } }
      : { status: 200, attempts: 1, body: { id: scope, properties: { provisioningState: "Succeeded" } } },
    permissions: refused ? null : { status: 200, body: { value: [{ actions: ["*/read"], notActions: [] }] } },
    elapsedSeconds: 1,
    error: refused ? { stage: "arm", status: 403, code: "AuthorizationFailed", message: "no" } : null,
  };
  const expectsRefusal = settings.PROBE_EXPECT === "denied";
  // The probe's exit status (contract v1, or PROBE_EXPECT=denied where 0 means the refusal was proven).
  const exit = expectsRefusal ? (refused ? 0 : 1) : refused ? 1 : 0;
  return { stdout: JSON.stringify(probe), exit };
}

let registered: Registered[] = [];

async function useMocks(world: World): Promise<void> {
  registered = [];
  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        const inputs = unwrapSecrets(args.inputs) as Record<string, unknown>;
        registered.push({ type: args.type, name: args.name, inputs });
        if (args.type !== "command:remote:Command") return { id: `${args.name}_id`, state: {} };
        if (inputs.create === REVOCATION_PENDING_COMMAND) {
          return { id: `${args.name}_id`, state: { ...inputs, stdout: "revocation pending", stderr: "" } };
        }
        const { stdout, exit } = probeJson({ type: args.type, name: args.name, inputs }, world);
        // The denied form of contract v1 turns the probe's exit 1 into success (see probeCommandLine).
        const legacyDenied = String(inputs.create).endsWith('|| exit "$rc"');
        if (exit !== 0 && !(legacyDenied && exit === 1)) {
          throw new Error(`Process exited with status ${exit}: running ${JSON.stringify(inputs.create)}:\n${stdout}`);
        }
        return { id: `${args.name}_id`, state: { ...inputs, stdout, stderr: "" } };
      },
      call: (args) => {
        throw new Error(`unexpected call ${args.token}`);
      },
    },
    "checks",
    "test",
    false,
  );
}

function settle<T>(output: pulumi.Output<T>): Promise<T> {
  const internal = output as unknown as { promise(): Promise<T>; isKnown: Promise<boolean> };
  internal.isKnown.catch(() => undefined);
  return internal.promise();
}

/**
 * A test whose check fails on purpose: its outputs reject, and so do the registrations and serializations
 * that read them; those are expected, and every other unhandled rejection still reaches the runner.
 */
const failing = (body: () => Promise<void>) => () =>
  withRegistrationFailuresExpected(
    body,
    (reason) => reason.message.startsWith("error serializing property") || pulumi.RunError.isInstance(reason),
  );

const commands = () => registered.filter((r) => r.type === "command:remote:Command");

function args(overrides: Partial<VmAccessCheckArgs> = {}): VmAccessCheckArgs {
  return {
    vmName: "app-vm",
    ssh: { host: "203.0.113.9", privateKey: pulumi.secret(PRIVATE_KEY), hostKey: HOST_KEY },
    identity: { type: "UserAssigned", principalId: PRINCIPAL, tenantId: TENANT, clientId: CLIENT },
    readableScopes: [RG],
    failOnMismatch: false,
    ...overrides,
  };
}

describe("VmAccessCheck", () => {
  beforeEach(() => useMocks({ refused: [OTHER_RG] }));

  it("runs one remote command named after the check: pinned host key, secret key, the probe on stdin", async () => {
    const check = new VmAccessCheck("app-check", args({ triggers: ["vm-id"], failOnMismatch: true }));
    expect(await settle(check.verified)).toBe(true);
    const [command] = commands();
    expect(command.name).toBe("app-check");
    expect(command.inputs).toMatchObject({
      connection: {
        host: "203.0.113.9",
        port: 22,
        user: "azureuser",
        privateKey: PRIVATE_KEY,
        hostKey: HOST_KEY,
        dialErrorLimit: 60,
        perDialTimeout: 20,
      },
      create: `ARM_ENDPOINT='${ARM}' MI_CLIENT_ID='${CLIENT}' SUBSCRIPTION_ID='${SUB}' RESOURCE_GROUP='app-rg' PROBE_DEADLINE_SECONDS='600' bash -s`,
      triggers: ["vm-id"],
      addPreviousOutputInEnv: false,
      logging: "stderr",
    });
    expect(command.inputs).not.toHaveProperty("update");
    expect(String(command.inputs.stdin)).toContain("probeVersion");
  });

  it("outputs the verdict, the named checks with their scope, the typed evidence and the contract's results", async () => {
    const check = new VmAccessCheck("app-check", args());
    const [checks, evidence, results] = await Promise.all([
      settle(check.checks),
      settle(check.evidence),
      settle(check.results),
    ]);
    expect(checks.map((c) => [c.scope, c.name, c.ok])).toEqual([
      [RG, "probe-output", true],
      [RG, "token-obtained", true],
      [RG, "token-audience", true],
      [RG, "token-principal", true],
      [RG, "token-tenant", true],
      [RG, "token-client-id", true],
      [RG, "identity-selector", true],
      [RG, "target-resource-group", true],
      [RG, "resource-group-read", true],
      [RG, "permissions-read-only", true],
    ]);
    expect(evidence).toEqual([
      {
        scope: RG,
        expectation: "granted",
        verified: true,
        selector: "client_id",
        tokenStatus: 200,
        claims: { aud: `${ARM}/`, oid: PRINCIPAL, tid: TENANT, appid: CLIENT },
        readStatus: 200,
        readAttempts: 1,
        actions: ["*/read"],
        notActions: [],
        elapsedSeconds: 1,
      },
    ]);
    expect(Object.keys(results[0])).toEqual(["vm", "identity", "expected", "probe", "checks", "verified"]);
    expect(results[0]).toMatchObject({ vm: "app-vm", identity: "user", verified: true });
  });

  it("probes each scope in a command of its own: readable ones read, refused ones wait for ARM's 403", async () => {
    const check = new VmAccessCheck("app-check", args({ refusedScopes: [OTHER_RG], deadlineSeconds: 120 }));
    expect(await settle(check.verified)).toBe(true);
    expect(commands().map((c) => c.name)).toEqual(["app-check-1", "app-check-2"]);
    expect(commands()[1].inputs.create).toBe(
      `ARM_ENDPOINT='${ARM}' MI_CLIENT_ID='${CLIENT}' SUBSCRIPTION_ID='${SUB}' RESOURCE_GROUP='other-rg' PROBE_DEADLINE_SECONDS='120' PROBE_EXPECT='denied' bash -s`,
    );
    expect((await settle(check.evidence)).map((e) => [e.scope, e.expectation, e.readStatus])).toEqual([
      [RG, "granted", 200],
      [OTHER_RG, "denied", 403],
    ]);
  });

  it("while a revocation is pending, probes nothing, says so and does not fail", async () => {
    const check = new VmAccessCheck(
      "app-check",
      args({ readableScopes: [], refusedScopes: [RG], revocationPending: true, failOnMismatch: true }),
    );
    expect(await settle(check.verified)).toBe(false);
    expect(await settle(check.checks)).toEqual([
      {
        scope: RG,
        name: "revocation-pending",
        ok: false,
        detail: `the grant on ${RG} is removed at the end of this update, after the check: run pulumi up again to prove the denial`,
      },
    ]);
    const [command] = commands();
    expect(command.inputs.create).toBe(REVOCATION_PENDING_COMMAND);
    expect(command.inputs).not.toHaveProperty("stdin");
    expect(String(command.inputs.update)).toMatch(/PROBE_EXPECT='denied' bash -s$/);
  });

  it(
    "fails, naming each failed check, when the token is another principal's",
    failing(async () => {
      await useMocks({ refused: [], oid: "99999999-9999-4999-8999-999999999999" });
      const check = new VmAccessCheck("app-check", args({ failOnMismatch: true }));
      await expect(settle(check.verified)).rejects.toThrow(
        "VmAccessCheck app-check did not verify what it had to:\n" +
          `  app-vm (user): token-principal: the token principal (oid) should be "${PRINCIPAL}", was "99999999-9999-4999-8999-999999999999"`,
      );
      const reported = new VmAccessCheck("reported", args());
      expect(await settle(reported.verified)).toBe(false);
    }),
  );

  it(
    "fails the command itself when expected access was not proven, so the next pulumi up probes again",
    failing(async () => {
      await useMocks({ refused: [RG] });
      const check = new VmAccessCheck("app-check", args());
      await expect(settle(check.results)).rejects.toThrow(
        /\[command:remote:Command\]: Process exited with status 1: running ".* bash -s":\n/,
      );
    }),
  );

  it("rejects a check with nothing to probe, and a scope list that is itself an output", () => {
    expect(() => new VmAccessCheck("empty", args({ readableScopes: [] }))).toThrow(
      "VmAccessCheck empty: readableScopes and refusedScopes are both empty: list at least one resource group ID to probe",
    );
    const asOutput = pulumi.output([RG]) as unknown as string[];
    expect(() => new VmAccessCheck("late", args({ readableScopes: asOutput }))).toThrow(
      "VmAccessCheck late: readableScopes must be a list written out in the program (its length decides how many probe runs there are); each item may be an output, the list itself may not",
    );
  });

  it(
    "reports a bad argument known only later through its outputs, naming it",
    failing(async () => {
      const check = new VmAccessCheck(
        "app-check",
        args({
          identity: pulumi.output({
            type: "UserAssigned",
            principalId: PRINCIPAL,
            tenantId: TENANT,
            selectBy: "clientId",
          }),
        }),
      );
      await expect(settle(check.verified)).rejects.toThrow(
        'VmAccessCheck app-check: identity.selectBy = "clientId" needs identity.clientId',
      );
    }),
  );
});
