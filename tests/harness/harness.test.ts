import { describe, expect, it } from "vitest";
import type { AccessCheck, ProbeResultV1 } from "../../verify/contract";
import {
  checkViaFrom,
  checkViasFor,
  decideTarget,
  ephemeralStackName,
  harnessSettings,
  parseAge,
  runEphemeral,
  type SignalHooks,
  type StackDriver,
  stacksInProgress,
  staleStacks,
} from "../e2e/harness";

const EXPECTED = {
  principalId: "p1",
  clientId: "c1",
  tenantId: "t1",
  resourceGroupId: "/subscriptions/s1/resourceGroups/rg1",
  resource: "https://management.azure.com/",
};

function probe(oid = "p1"): ProbeResultV1 {
  return {
    probeVersion: 1,
    ok: true,
    identity: { selector: "client_id", value: "c1" },
    target: {
      subscriptionId: "s1",
      resourceGroup: "rg1",
      armEndpoint: "https://management.azure.com",
      resource: "https://management.azure.com/",
    },
    token: {
      status: 200,
      attempts: 1,
      expiresOn: "1",
      claims: { aud: "https://management.azure.com/", oid, tid: "t1", appid: "c1" },
    },
    resourceGroup: {
      status: 200,
      attempts: 1,
      body: { id: "/subscriptions/s1/resourceGroups/rg1", properties: { provisioningState: "Succeeded" } },
    },
    permissions: { status: 200, body: { value: [{ actions: ["*/read"], notActions: [] }] } },
    elapsedSeconds: 1,
    error: null,
  };
}

/** A stored accessCheck that claims success; the harness must re-judge it from the evidence. */
function outputsWith(oid: string): Record<string, unknown> {
  const accessCheck: AccessCheck = {
    verified: true,
    expectation: "granted",
    results: [{ vm: "vm0", identity: "user", expected: EXPECTED, probe: probe(oid), checks: [], verified: true }],
  };
  return { accessCheck };
}

type Step = "setConfig" | "up" | "preview" | "destroy" | "remove";

function fakeDriver(
  options: { failOn?: Step[]; outputs?: Record<string, unknown>; changes?: number; onUp?: () => void } = {},
) {
  const calls: string[] = [];
  const fail = (step: Step) => {
    if (options.failOn?.includes(step)) throw new Error(`${step} broke`);
  };
  const driver: StackDriver = {
    stackName: "e2e-run-abc",
    async setConfig(values) {
      calls.push(`setConfig ${Object.keys(values).join(",")}`);
      fail("setConfig");
    },
    async up() {
      calls.push("up");
      options.onUp?.();
      fail("up");
      return { outputs: options.outputs ?? outputsWith("p1") };
    },
    async preview() {
      calls.push("preview");
      fail("preview");
      return { changes: options.changes ?? 0, summary: { same: 12, update: options.changes ?? 0 } };
    },
    async destroy() {
      calls.push("destroy");
      fail("destroy");
    },
    async remove() {
      calls.push("remove");
      fail("remove");
    },
  };
  return { driver, calls };
}

const SETTINGS = { "vm-identity-access:identity": { value: "user" } };

describe("runEphemeral", () => {
  it("sets config, deploys, re-judges, proves a second run changes nothing, then destroys and removes", async () => {
    const { driver, calls } = fakeDriver();
    const report = await runEphemeral(driver, { settings: SETTINGS });
    expect(calls).toEqual(["setConfig vm-identity-access:identity", "up", "preview", "destroy", "remove"]);
    expect(report).toMatchObject({ verified: true, secondRunChanges: 0, errors: [], cleanedUp: true });
  });

  it("re-judges the evidence instead of trusting a stored verified: true", async () => {
    const { driver } = fakeDriver({ outputs: outputsWith("someone-else") });
    const report = await runEphemeral(driver, { settings: SETTINGS });
    expect(report.verified).toBe(false);
    expect(report.errors).toEqual([
      { step: "judge", message: "the re-judged evidence does not verify the expected access" },
    ]);
    expect(report.cleanedUp).toBe(true);
  });

  it("reports a second run that would change something", async () => {
    const { driver } = fakeDriver({ changes: 2 });
    const report = await runEphemeral(driver, { settings: SETTINGS });
    expect(report.errors).toEqual([
      { step: "second run", message: 'a second run would change 2 resource(s): {"same":12,"update":2}' },
    ]);
  });

  it("inspects what the stack made after judging it and before the second run; a failed inspection stops there", async () => {
    const { driver, calls } = fakeDriver();
    const seen: unknown[] = [];
    const inspected = await runEphemeral(driver, {
      settings: SETTINGS,
      inspect: async (outputs) => {
        calls.push("inspect");
        seen.push(outputs.accessCheck);
      },
    });
    expect(calls).toEqual(["setConfig vm-identity-access:identity", "up", "inspect", "preview", "destroy", "remove"]);
    expect(seen).toEqual([outputsWith("p1").accessCheck]);
    expect(inspected.errors).toEqual([]);

    const failing = fakeDriver();
    const report = await runEphemeral(failing.driver, {
      settings: SETTINGS,
      inspect: async () => {
        throw new Error("a NIC carries a public IP");
      },
    });
    expect(failing.calls).toEqual(["setConfig vm-identity-access:identity", "up", "destroy", "remove"]);
    expect(report.errors).toEqual([{ step: "inspect", message: "a NIC carries a public IP" }]);
    expect(report.cleanedUp).toBe(true);
  });

  it("still destroys and removes when up fails, and keeps up's error first", async () => {
    const { driver, calls } = fakeDriver({ failOn: ["up"] });
    const report = await runEphemeral(driver, { settings: SETTINGS });
    expect(calls).toEqual(["setConfig vm-identity-access:identity", "up", "destroy", "remove"]);
    expect(report.errors).toEqual([{ step: "up", message: "up broke" }]);
    expect(report.cleanedUp).toBe(true);
  });

  it("still removes when destroy fails too, reporting both errors without masking the first", async () => {
    const { driver, calls } = fakeDriver({ failOn: ["up", "destroy"] });
    const report = await runEphemeral(driver, { settings: SETTINGS });
    expect(calls).toEqual(["setConfig vm-identity-access:identity", "up", "destroy", "remove"]);
    expect(report.errors).toEqual([
      { step: "up", message: "up broke" },
      { step: "destroy", message: "destroy broke" },
    ]);
    expect(report.cleanedUp).toBe(false);
  });

  it("cleans up on SIGTERM once, and removes its signal handlers afterwards", async () => {
    const handlers = new Map<string, () => void>();
    const signals: SignalHooks = {
      on: (signal, handler) => handlers.set(signal, handler),
      off: (signal) => handlers.delete(signal),
    };
    const { driver, calls } = fakeDriver({ onUp: () => handlers.get("SIGTERM")?.() });
    const report = await runEphemeral(driver, { settings: SETTINGS, signals });
    expect(calls.filter((call) => call === "destroy")).toHaveLength(1);
    expect(calls.filter((call) => call === "remove")).toHaveLength(1);
    expect(report.errors[0]).toEqual({ step: "signal", message: "interrupted: cleaning up before exit" });
    expect(handlers.size).toBe(0);
  });
});

describe("runEphemeral, signalled while up runs", () => {
  it("aborts the update and destroys only once it has ended (its lock released)", async () => {
    const handlers = new Map<string, () => void>();
    const signals: SignalHooks = {
      on: (signal, handler) => handlers.set(signal, handler),
      off: (signal) => handlers.delete(signal),
    };
    const events: string[] = [];
    const driver: StackDriver = {
      stackName: "e2e-test-abort",
      setConfig: async () => undefined,
      up: (_onOutput, signal) =>
        new Promise((_resolve, reject) => {
          signal?.addEventListener("abort", () =>
            setTimeout(() => {
              events.push("up cancelled");
              reject(new Error("update canceled"));
            }, 20),
          );
          handlers.get("SIGTERM")?.();
        }),
      preview: async () => ({ changes: 0, summary: {} }),
      destroy: async () => void events.push("destroy"),
      remove: async () => void events.push("remove"),
    };
    const report = await runEphemeral(driver, { settings: SETTINGS, signals });
    expect(events).toEqual(["up cancelled", "destroy", "remove"]);
    expect(report.cleanedUp).toBe(true);
    expect(report.errors.map((error) => error.step)).toEqual(["signal", "up"]);
  });
});

describe("ephemeralStackName", () => {
  it("is e2e-<run>-<label>-<random> within Pulumi's stack-name rules", () => {
    expect(ephemeralStackName("12345678/2", "k3x9", "user")).toBe("e2e-12345678-2-user-k3x9");
  });

  it("keeps the random suffix and stays within 100 characters for a long run ID", () => {
    const name = ephemeralStackName("r".repeat(200), "suffix9");
    expect(name.length).toBeLessThanOrEqual(100);
    expect(name.endsWith("-suffix9")).toBe(true);
    expect(name).toMatch(/^[A-Za-z0-9_.-]+$/);
  });

  it("refuses an empty random suffix (names must be unique per run)", () => {
    expect(() => ephemeralStackName("1", "//")).toThrow("needs a random suffix");
  });
});

describe("harnessSettings", () => {
  it("opens SSH to the runner's own address only", () => {
    expect(harnessSettings({}, "system", "203.0.113.9")).toEqual({
      "azure-native:location": { value: "westeurope" },
      "vm-identity-access:identity": { value: "system" },
      "vm-identity-access:sshAllowedCidr": { value: "203.0.113.9/32" },
      "vm-identity-access:accessCheckTimeoutSeconds": { value: "900" },
    });
    expect(
      harnessSettings({ E2E_LOCATION: "swedencentral" }, "user", "2001:db8::7")["vm-identity-access:sshAllowedCidr"],
    ).toEqual({
      value: "2001:db8::7/128",
    });
  });

  it("rejects an address that is not one", () => {
    expect(() => harnessSettings({}, "user", "<html>")).toThrow(
      'the runner\'s public address must be an IPv4 or IPv6 address; got "<html>"',
    );
  });

  it("through Run Command opens nothing: accessCheckVia runCommand, no sshAllowedCidr, no address needed", () => {
    expect(harnessSettings({ E2E_CHECK_VIA: "runCommand" }, "user")).toEqual({
      "azure-native:location": { value: "westeurope" },
      "vm-identity-access:identity": { value: "user" },
      "vm-identity-access:accessCheckVia": { value: "runCommand" },
      "vm-identity-access:accessCheckTimeoutSeconds": { value: "900" },
    });
  });

  it("over SSH needs the runner's address; a transport other than ssh or runCommand is refused", () => {
    expect(() => harnessSettings({}, "user")).toThrow(
      "over SSH the harness needs the runner's public address, the only one SSH is opened to",
    );
    expect(checkViaFrom({})).toBe("ssh");
    expect(harnessSettings({}, "user", undefined, "runCommand")["vm-identity-access:accessCheckVia"]).toEqual({
      value: "runCommand",
    });
    expect(() => checkViaFrom({ E2E_CHECK_VIA: "winrm" })).toThrow(
      'E2E_CHECK_VIA must be ssh or runCommand; got "winrm"',
    );
  });
});

describe("checkViasFor", () => {
  it("offline, both transports unless E2E_CHECK_VIA names one; on Azure, the job's, SSH by default", () => {
    expect(checkViasFor({}, "local")).toEqual(["ssh", "runCommand"]);
    expect(checkViasFor({}, "engine")).toEqual(["ssh", "runCommand"]);
    expect(checkViasFor({ E2E_CHECK_VIA: "runCommand" }, "local")).toEqual(["runCommand"]);
    expect(checkViasFor({}, "azure")).toEqual(["ssh"]);
    expect(checkViasFor({ E2E_CHECK_VIA: "runCommand" }, "azure")).toEqual(["runCommand"]);
    expect(() => checkViasFor({ E2E_CHECK_VIA: "rdp" }, "local")).toThrow(
      'E2E_CHECK_VIA must be ssh or runCommand; got "rdp"',
    );
  });
});

describe("decideTarget", () => {
  const AZURE = {
    E2E_TARGET: "azure",
    ARM_CLIENT_ID: "c",
    ARM_TENANT_ID: "t",
    ARM_SUBSCRIPTION_ID: "s",
    ARM_USE_OIDC: "true",
    PULUMI_BACKEND_URL: "azblob://state",
    PULUMI_CONFIG_PASSPHRASE: "",
  };
  it("defaults to Local Azure", () => {
    expect(decideTarget({}, false)).toEqual({ target: "local" });
  });
  it("runs on Azure when the CLI, the login and a backend are there", () => {
    expect(decideTarget(AZURE, true)).toEqual({ target: "azure" });
  });
  it.each([
    [{ ...AZURE }, false, "E2E_TARGET=azure needs the Pulumi CLI on PATH"],
    [{ ...AZURE, ARM_TENANT_ID: undefined }, true, "E2E_TARGET=azure needs ARM_TENANT_ID"],
    [{ ...AZURE, ARM_USE_OIDC: undefined }, true, "needs a login: ARM_USE_OIDC=true"],
    [{ ...AZURE, PULUMI_BACKEND_URL: undefined }, true, "needs a Pulumi backend"],
    [{ ...AZURE, PULUMI_CONFIG_PASSPHRASE: undefined }, true, "needs PULUMI_CONFIG_PASSPHRASE"],
    [{ E2E_TARGET: "aws" }, true, 'E2E_TARGET must be local or azure; got "aws"'],
  ])("skips, saying why (%#)", (env, cli, reason) => {
    const decision = decideTarget(env, cli);
    expect("skip" in decision && decision.skip).toContain(reason);
  });
});

describe("the sweeper's selection", () => {
  const now = new Date("2026-11-25T12:00:00Z");
  it("selects ephemeral stacks older than the age, never others or live ones", () => {
    const stacks = [
      { name: "e2e-1-old", lastUpdate: "2026-11-25T05:00:00Z" },
      { name: "org/proj/e2e-2-old", lastUpdate: "2026-11-24T12:00:00Z" },
      { name: "e2e-3-fresh", lastUpdate: "2026-11-25T11:00:00Z" },
      { name: "e2e-4-running", lastUpdate: "2026-11-20T11:00:00Z", updateInProgress: true },
      { name: "e2e-5-never-updated" },
      { name: "dev", lastUpdate: "2020-01-01T00:00:00Z" },
    ];
    expect(staleStacks(stacks, now, parseAge("6h")).map((s) => s.name)).toEqual([
      "e2e-1-old",
      "org/proj/e2e-2-old",
      "e2e-5-never-updated",
    ]);
    // The one left alone is named, so the sweep's output says so.
    expect(stacksInProgress([...stacks, { name: "dev", updateInProgress: true }]).map((s) => s.name)).toEqual([
      "e2e-4-running",
    ]);
  });
  it.each([
    ["90m", 5_400_000],
    ["6h", 21_600_000],
    ["2d", 172_800_000],
  ])("parses %s", (text, ms) => expect(parseAge(text)).toBe(ms));
  it("rejects an age without a unit", () => {
    expect(() => parseAge("6")).toThrow("an age must be a whole number followed by m, h or d");
  });
});
