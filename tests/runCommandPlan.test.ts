import { describe, expect, it } from "vitest";
import { type AccessCheckArgsError, checkSettings, planRun, type RunPlan } from "../components/accessCheckPlan";
import {
  decodeProbeSettings,
  type ExistingRunCommand,
  encodeProbeSettings,
  invocationParameters,
  judgeRun,
  nextProbeRun,
  PROBE_RUN_PARAMETER,
  type RunCommandInstanceView,
  runCommandBody,
  runCommandTarget,
  runEvidence,
  sameParameters,
  triggersDigest,
  UNPROBED_SCRIPT,
} from "../components/runCommandPlan";

/** The Run Command transport's pure decisions: its target, its parameters, when to run again, what its output proves. */

const SUB = "11111111-1111-4111-8111-111111111111";
const RG = `/subscriptions/${SUB}/resourceGroups/app-rg`;
const VM_ID = `${RG}/providers/Microsoft.Compute/virtualMachines/app-vm`;
const IDENTITY = { type: "UserAssigned", principalId: "p-1", tenantId: "t-1", clientId: "c-1" };
const SCRIPT = "#!/bin/bash\n# the preamble and the probe\n";

const plan = (expectation: "granted" | "denied" = "granted", extra: Record<string, unknown> = {}): RunPlan =>
  planRun("check", checkSettings("check", { identity: IDENTITY, ...extra }), {
    scope: RG,
    expectation,
    arg: expectation === "granted" ? "readableScopes" : "refusedScopes",
    index: 0,
  });

/** The probe's JSON for the plan's identity: access, or ARM's 403; `run`, the run the preamble says it was. */
function report(denied = false, run?: Record<string, string>): string {
  return JSON.stringify({
    probeVersion: 1,
    ok: !denied,
    identity: { selector: "client_id", value: "c-1" },
    target: {
      subscriptionId: SUB,
      resourceGroup: "app-rg",
      armEndpoint: "https://management.azure.com",
      resource: "https://management.azure.com/",
    },
    token: {
      status: 200,
      attempts: 1,
      expiresOn: "1900000000",
      claims: { aud: "https://management.azure.com/", oid: "p-1", tid: "t-1", appid: "c-1" },
    },
    resourceGroup: denied
      ? { status: 403, attempts: 1, body: { error: { code: "AuthorizationFailed", message: "no" } } }
      : { status: 200, attempts: 1, body: { id: RG, properties: { provisioningState: "Succeeded" } } },
    permissions: denied
      ? null
      : { status: 200, attempts: 1, body: { value: [{ actions: ["*/read"], notActions: [] }] } },
    elapsedSeconds: 1.2,
    error: denied ? { stage: "arm", status: 403, code: "AuthorizationFailed", message: "no" } : null,
    runAs: { user: "nobody", uid: 65534 },
    ...(run !== undefined ? { run } : {}),
  });
}

/** The run a run command's parameters make, as the preamble reports it in the evidence. */
const runOf = (parameters: Array<{ name: string; value: string }>) => {
  const value = (name: string) => parameters.find((p) => p.name === name)?.value as string;
  return { probeRun: value("PROBE_RUN"), triggers: value("PROBE_TRIGGERS"), settings: value("PROBE_SETTINGS") };
};

const ran = (output: string, exitCode = 0, extra: Partial<RunCommandInstanceView> = {}): RunCommandInstanceView => ({
  executionState: exitCode === 0 ? "Succeeded" : "Failed",
  exitCode,
  output: `${output}\n`,
  error: "probe: imds token attempt 1: HTTP 200\n",
  ...extra,
});

describe("runCommandTarget", () => {
  it("reads the VM's group and name from its ID", () => {
    expect(runCommandTarget("check", { vmId: VM_ID, location: "westeurope" })).toEqual({
      subscriptionId: SUB,
      resourceGroupName: "app-rg",
      vmName: "app-vm",
      location: "westeurope",
    });
  });

  it("rejects an ID that is not a VM's, and a missing location, naming both", () => {
    let problems: string[] = [];
    try {
      runCommandTarget("check", { vmId: `${RG}/providers/Microsoft.Network/networkInterfaces/nic`, location: "" });
    } catch (error) {
      problems = (error as AccessCheckArgsError).problems;
    }
    expect(problems).toEqual([
      `runCommand.vmId = "${RG}/providers/Microsoft.Network/networkInterfaces/nic" must be the VM's ARM resource ID: /subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.Compute/virtualMachines/<name>`,
      "runCommand.location is required: the VM's Azure region (a run command lives where its VM does)",
    ]);
  });
});

describe("the run command's parameters", () => {
  it("are the probe's settings in one parameter, with a small bound on carried text, and the triggers' digest", () => {
    const digest = triggersDigest(["vm-id", "assignment-id"]);
    expect(digest).toMatch(/^[0-9a-f]{16}$/);
    const parameters = invocationParameters(plan().first, digest);
    expect(parameters).toEqual([
      {
        name: "PROBE_SETTINGS",
        value:
          `ARM_ENDPOINT=https%3A%2F%2Fmanagement.azure.com&MI_CLIENT_ID=c-1&SUBSCRIPTION_ID=${SUB}` +
          "&RESOURCE_GROUP=app-rg&PROBE_DEADLINE_SECONDS=600&PROBE_MAX_TEXT_BYTES=256",
      },
      { name: "PROBE_TRIGGERS", value: digest },
    ]);
    expect(decodeProbeSettings(parameters[0].value)).toEqual({
      ARM_ENDPOINT: "https://management.azure.com",
      MI_CLIENT_ID: "c-1",
      SUBSCRIPTION_ID: SUB,
      RESOURCE_GROUP: "app-rg",
      PROBE_DEADLINE_SECONDS: "600",
      PROBE_MAX_TEXT_BYTES: "256",
    });
    expect(triggersDigest([])).toBeUndefined();
    expect(triggersDigest(["vm-id", "other"])).not.toBe(digest);
  });

  it("always give every parameter a value (the handler sets no variable for an empty one): no triggers is 'none'", () => {
    expect(invocationParameters(plan().first)).toContainEqual({ name: "PROBE_TRIGGERS", value: "none" });
    expect(runCommandBody(plan(), undefined, { probe: SCRIPT }).parameters.every((p) => p.value !== "")).toBe(true);
  });

  it("encode every byte but A-Z a-z 0-9 . _ ~ - of a value, UTF-8 first, and decode it back", () => {
    const odd = "rg(1)&x=y%z'q\"w\\v é/";
    expect(encodeProbeSettings([["RESOURCE_GROUP", odd]])).toBe(
      "RESOURCE_GROUP=rg%281%29%26x%3Dy%25z%27q%22w%5Cv%20%C3%A9%2F",
    );
    expect(decodeProbeSettings(encodeProbeSettings([["RESOURCE_GROUP", odd]]))).toEqual({ RESOURCE_GROUP: odd });
  });

  it("ask for the refusal by PROBE_EXPECT=denied", () => {
    const [settings] = invocationParameters(plan("denied").first);
    expect(decodeProbeSettings(settings.value).PROBE_EXPECT).toBe("denied");
  });

  it("compare by name and value, whatever the order, PROBE_RUN aside", () => {
    const a = [
      { name: "A", value: "1" },
      { name: "B", value: "2" },
    ];
    expect(sameParameters([...a].reverse(), a)).toBe(true);
    expect(sameParameters([...a, { name: PROBE_RUN_PARAMETER, value: "7" }], a)).toBe(true);
    expect(sameParameters([{ name: "A", value: "1" }], a)).toBe(false);
    expect(sameParameters([...a, { name: "C", value: "3" }], a)).toBe(false);
    expect(sameParameters(undefined, a)).toBe(false);
  });

  it("count PROBE_RUN up from 1", () => {
    expect([undefined, "1", "41", "x", "-3"].map(nextProbeRun)).toEqual(["1", "2", "42", "1", "1"]);
  });
});

describe("runCommandBody: when the probe runs again", () => {
  /** What ARM holds after run `probeRun` of `p` ran: its view from `view`, given the run it was. */
  const held = (
    view: (run: Record<string, string>) => RunCommandInstanceView | undefined,
    probeRun = "3",
    p: RunPlan = plan(),
  ): ExistingRunCommand => {
    const parameters = [...invocationParameters(p.first), { name: PROBE_RUN_PARAMETER, value: probeRun }];
    return { parameters, instanceView: view(runOf(parameters)), provisioningState: "Succeeded", script: SCRIPT };
  };
  const verifying = (run: Record<string, string>) => ran(report(false, run));

  it("a first run: PROBE_RUN 1, the deadline plus a minute to time out, the script as given", () => {
    expect(runCommandBody(plan(), undefined, { probe: SCRIPT })).toEqual({
      script: SCRIPT,
      parameters: [...invocationParameters(plan().first), { name: PROBE_RUN_PARAMETER, value: "1" }],
      timeoutInSeconds: 660,
      invocation: plan().first,
      keeps: false,
    });
  });

  it("keeps a last run that verifies what is asked: the same PROBE_RUN, so an identical PUT, and Azure runs nothing", () => {
    const body = runCommandBody(plan(), held(verifying), { probe: SCRIPT });
    expect(body.keeps).toBe(true);
    expect(body.parameters.at(-1)).toEqual({ name: PROBE_RUN_PARAMETER, value: "3" });
  });

  it.each([
    ["its evidence did not verify (ARM's 403 where access is expected)", held((run) => ran(report(true, run), 1))],
    ["it timed out", held(() => ran("", 0, { executionState: "TimedOut" }))],
    ["it has no instance view (a create that failed, recorded as created)", held(() => undefined)],
    ["it printed nothing", held(() => ran("", 3))],
    ["it ran other parameters", { ...held(verifying), parameters: [{ name: PROBE_RUN_PARAMETER, value: "3" }] }],
    [
      "it ran without PROBE_RUN (someone else's)",
      { ...held(verifying), parameters: invocationParameters(plan().first) },
    ],
    ["its evidence names no run (made before the evidence named its run)", held(() => ran(report()))],
    ["its evidence is of another run than the one ARM holds", held(() => ran(report(false, runOf([]))))],
    ["its operation did not succeed", { ...held(verifying), provisioningState: "Failed" }],
    // A probe upgrade: the update runs the new script, so a preview must not show the old run's verdict.
    ["it ran another script", { ...held(verifying), script: `${SCRIPT}# an older probe\n` }],
    ["ARM did not say which script it ran", { ...held(verifying), script: undefined }],
  ])("runs again, PROBE_RUN one up, when %s", (_why, existing) => {
    const body = runCommandBody(plan(), existing, { probe: SCRIPT });
    expect(body.keeps).toBe(false);
    const probeRun = existing.parameters?.find((p) => p.name === PROBE_RUN_PARAMETER)?.value;
    expect(body.parameters.at(-1)).toEqual({ name: PROBE_RUN_PARAMETER, value: nextProbeRun(probeRun) });
  });

  it("runs again when the run ARM holds was accepted and never ran: its instance view is an older run's", () => {
    // Run 1 ran and verified; then new triggers made PROBE_RUN 2, whose PUT ARM accepted and whose
    // operation failed before the agent ran anything (agent down, VM stopped): ARM holds run 2's
    // parameters and run 1's instance view.
    const p = plan();
    const run1 = [...invocationParameters(p.first, triggersDigest(["a-1"])), { name: PROBE_RUN_PARAMETER, value: "1" }];
    const run2 = [...invocationParameters(p.first, triggersDigest(["a-2"])), { name: PROBE_RUN_PARAMETER, value: "2" }];
    const existing: ExistingRunCommand = {
      parameters: run2,
      instanceView: ran(report(false, runOf(run1))),
      provisioningState: "Failed",
    };
    const body = runCommandBody(p, existing, { probe: SCRIPT }, triggersDigest(["a-2"]));
    expect(body.keeps).toBe(false);
    expect(body.parameters.at(-1)).toEqual({ name: PROBE_RUN_PARAMETER, value: "3" });
    // Even had the operation been reported a success, run 1's evidence is not run 2's.
    expect(
      runCommandBody(p, { ...existing, provisioningState: "Succeeded" }, { probe: SCRIPT }, triggersDigest(["a-2"]))
        .keeps,
    ).toBe(false);
  });

  it("runs again when the triggers changed: their digest is a parameter", () => {
    const p = plan();
    const parameters = [
      ...invocationParameters(p.first, triggersDigest(["old"])),
      { name: PROBE_RUN_PARAMETER, value: "2" },
    ];
    const existing: ExistingRunCommand = {
      parameters,
      instanceView: ran(report(false, runOf(parameters))),
      provisioningState: "Succeeded",
      script: SCRIPT,
    };
    expect(runCommandBody(p, existing, { probe: SCRIPT }, triggersDigest(["old"])).keeps).toBe(true);
    const changed = runCommandBody(p, existing, { probe: SCRIPT }, triggersDigest(["new"]));
    expect(changed.keeps).toBe(false);
    expect(changed.parameters).toContainEqual({ name: "PROBE_TRIGGERS", value: triggersDigest(["new"]) });
  });

  describe("a refused scope with a quick first run (the negative control)", () => {
    const quick = plan("denied", { quickRefusalSeconds: 10 });

    it("runs the quick contract v1 form first, and keeps it while it verifies", () => {
      const first = runCommandBody(quick, undefined, { probe: SCRIPT });
      expect(first.invocation).toEqual(quick.first);
      const settings = decodeProbeSettings(first.parameters[0].value);
      expect(settings.PROBE_DEADLINE_SECONDS).toBe("10");
      expect(settings).not.toHaveProperty("PROBE_EXPECT");
      const kept = runCommandBody(
        quick,
        held((run) => ran(report(true, run), 1), "1", quick),
        { probe: SCRIPT },
      );
      expect(kept).toMatchObject({ keeps: true, invocation: quick.first });
    });

    it("waits for the refusal, with the full deadline, where something else ran before (after a revocation)", () => {
      const pendingEcho: ExistingRunCommand = { parameters: [], instanceView: ran("revocation pending") };
      const body = runCommandBody(quick, pendingEcho, { probe: SCRIPT });
      expect(body.invocation).toEqual(quick.repeat);
      expect(decodeProbeSettings(body.parameters[0].value)).toMatchObject({
        PROBE_EXPECT: "denied",
        PROBE_DEADLINE_SECONDS: "600",
      });
      expect(body.parameters.at(-1)).toEqual({ name: PROBE_RUN_PARAMETER, value: "1" });
      expect(body.timeoutInSeconds).toBe(660);
    });
  });

  it("runs the echo, no probe and no parameters, while nothing is probed", () => {
    const pending = planRun("check", checkSettings("check", { identity: IDENTITY, revocationPending: true }), {
      scope: RG,
      expectation: "denied",
      arg: "refusedScopes",
      index: 0,
    });
    expect(runCommandBody(pending, held(verifying), { probe: SCRIPT })).toEqual({
      script: UNPROBED_SCRIPT,
      parameters: [],
      timeoutInSeconds: 60,
      keeps: false,
    });
  });
});

describe("runEvidence and judgeRun: what an instance view proves", () => {
  it("judges the probe's JSON, the user it ran as passed through", () => {
    const evidence = runEvidence(ran(report()));
    expect(evidence).toEqual({ probe: JSON.parse(report()) });
    const verdict = judgeRun(plan(), evidence);
    expect(verdict.verified).toBe(true);
    expect((verdict.probe as { runAs: unknown }).runAs).toEqual({ user: "nobody", uid: 65534 });
  });

  it("takes only the evidence of the run it was sent for: another run's instance view says whose it is", () => {
    const sent = { probeRun: "2", triggers: "b".repeat(16), settings: "ARM_ENDPOINT=x" };
    expect(runEvidence(ran(report(false, sent)), sent)).toEqual({ probe: JSON.parse(report(false, sent)) });
    const older = { ...sent, probeRun: "1", triggers: "a".repeat(16) };
    expect(judgeRun(plan(), runEvidence(ran(report(false, older)), sent))).toEqual({
      probe: report(false, older),
      checks: [
        {
          name: "probe-output",
          ok: false,
          detail:
            `the instance view holds the evidence of another run (PROBE_RUN 1, PROBE_TRIGGERS ${"a".repeat(16)}) than the one ` +
            `this update sent (PROBE_RUN 2, PROBE_TRIGGERS ${"b".repeat(16)}): the VM's agent has not run it (the VM stopped ` +
            "or deallocated, its agent not running, or the run command's operation failed before it ran); the next pulumi up runs it again",
        },
      ],
      verified: false,
    });
    const otherSettings = { ...sent, settings: "ARM_ENDPOINT=y" };
    expect(judgeRun(plan(), runEvidence(ran(report(false, otherSettings)), sent)).checks[0].detail).toMatch(
      /^the instance view holds the evidence of another run \(PROBE_RUN 2, PROBE_TRIGGERS b{16}, other settings\)/,
    );
    expect(judgeRun(plan(), runEvidence(ran(report()), sent)).checks[0].detail).toMatch(
      /^the instance view holds evidence that names no run \(a run command made by an earlier version of this program, or by someone else\) where this update sent PROBE_RUN 2/,
    );
  });

  it("names each failed check when the evidence does not verify, as over SSH", () => {
    const verdict = judgeRun(plan(), runEvidence(ran(report(true), 1)));
    expect(verdict.verified).toBe(false);
    expect(verdict.checks.filter((c) => !c.ok).map((c) => c.name)).toEqual([
      "probe-output",
      "resource-group-read",
      "permissions-read-only",
    ]);
  });

  it("says evidence cut short is cut short: Azure keeps only the last 4,096 bytes, never a parse failure", () => {
    const long = report().replace('"elapsedSeconds"', `"padding":"${"x".repeat(5000)}","elapsedSeconds"`);
    const kept = long.slice(-4096);
    const verdict = judgeRun(plan(), runEvidence(ran(kept, 0)));
    expect(verdict.verified).toBe(false);
    expect(verdict.checks).toEqual([
      {
        name: "probe-output",
        ok: false,
        detail: `the evidence was cut short: Azure keeps only the last 4,096 bytes of a run command's output, and the probe's report was longer (4097 bytes came back, beginning ${JSON.stringify(kept.slice(0, 40))})`,
      },
    ]);
    // Cut at the front however long what is left: still said as such.
    const shortTail = runEvidence(ran('st":1,"error":null}'));
    expect("failure" in shortTail && shortTail.failure).toMatch(/^the evidence was cut short/);
  });

  it.each([
    [
      ran("", 0, { executionState: "TimedOut", executionMessage: "Execution timed out" }),
      'the run command timed out before the probe reported (executionState TimedOut, exit code 0: "Execution timed out"); the probe\'s last words on stderr: "probe: imds token attempt 1: HTTP 200"',
    ],
    [
      ran("", 0, { executionState: "Running" }),
      "the run command has not finished (executionState Running, exit code 0)",
    ],
    [
      ran("", 0, { executionState: "Canceled" }),
      'the run command was canceled (executionState Canceled, exit code 0); the probe\'s last words on stderr: "probe: imds token attempt 1: HTTP 200"',
    ],
    [
      {
        executionState: "Failed",
        exitCode: 3,
        output: "",
        error: "run command: setpriv (util-linux) is not installed: the probe does not run as root\n",
        executionMessage: "Execution failed: failed to execute command: command terminated with exit status=3",
      },
      'the probe printed no evidence (executionState Failed, exit code 3: "Execution failed: failed to execute command: command terminated with exit status=3"); the probe\'s last words on stderr: "run command: setpriv (util-linux) is not installed: the probe does not run as root"',
    ],
    [undefined, "the run command has no instance view: the VM's agent has not reported a run"],
  ])("fails the probe-output check saying why there is nothing to judge: %#", (view, detail) => {
    expect(judgeRun(plan(), runEvidence(view))).toMatchObject({
      verified: false,
      checks: [{ name: "probe-output", ok: false, detail }],
    });
  });

  it("passes short text that is not a report to the judge as text", () => {
    const verdict = judgeRun(plan(), runEvidence(ran("revocation pending")));
    expect(verdict.probe).toBe("revocation pending");
    expect(verdict.checks[0].detail).toContain("did not print one JSON object");
  });
});
