import { describe, expect, it } from "vitest";
import type { Expected, ProbeResultV1 } from "../verify/contract";
import {
  actionMatches,
  CHECK,
  describeFailures,
  judgeAccessCheck,
  judgeProbe,
  parseProbeOutput,
} from "../verify/judge";

const SUB = "6e1a5a64-0d3c-4b52-9d8f-0c0f4e0a0001";
const RG_ID = `/subscriptions/${SUB}/resourceGroups/vmia-rg1`;
const UAMI_ID = `/subscriptions/${SUB}/resourcegroups/vmia-rg1/providers/Microsoft.ManagedIdentity/userAssignedIdentities/vmia-uami`;
const EXPECTED: Expected = {
  principalId: "p-1111",
  clientId: "c-2222",
  resourceId: UAMI_ID,
  tenantId: "t-3333",
  resourceGroupId: RG_ID,
  resource: "https://management.azure.com/",
};

/** A probe result that proves access; each test breaks one thing. */
function granted(): ProbeResultV1 {
  return {
    probeVersion: 1,
    ok: true,
    identity: { selector: "client_id", value: "c-2222" },
    target: {
      subscriptionId: SUB,
      resourceGroup: "vmia-rg1",
      armEndpoint: "https://management.azure.com",
      resource: "https://management.azure.com/",
    },
    token: {
      status: 200,
      attempts: 1,
      expiresOn: "1900000000",
      claims: {
        aud: "https://management.azure.com/",
        oid: "p-1111",
        tid: "t-3333",
        appid: "c-2222",
        xms_mirid: UAMI_ID.replace("resourcegroups", "resourceGroups"),
      },
    },
    resourceGroup: {
      status: 200,
      attempts: 2,
      body: { id: RG_ID.toUpperCase(), name: "vmia-rg1", properties: { provisioningState: "Succeeded" } },
    },
    permissions: {
      status: 200,
      body: { value: [{ actions: ["*/read"], notActions: [], dataActions: [], notDataActions: [] }] },
    },
    elapsedSeconds: 2.1,
    error: null,
  };
}

function denied(): ProbeResultV1 {
  return {
    ...granted(),
    ok: false,
    resourceGroup: {
      status: 403,
      attempts: 1,
      body: { error: { code: "AuthorizationFailed", message: "The client 'c-2222' … does not have authorization …" } },
    },
    permissions: null,
    error: { stage: "arm", status: 403, code: "AuthorizationFailed", message: "denied" },
  };
}

const failed = (probe: unknown, expectation: "granted" | "denied" = "granted", identity: "user" | "system" = "user") =>
  judgeProbe(probe, EXPECTED, identity, expectation)
    .checks.filter((c) => !c.ok)
    .map((c) => c.name);

describe("judgeProbe, expectation granted", () => {
  it("verifies a probe that read its own resource group with a token for its identity (IDs compared case-insensitively)", () => {
    const verdict = judgeProbe(granted(), EXPECTED, "user", "granted");
    expect(verdict.checks.map((c) => [c.name, c.ok])).toEqual([
      [CHECK.probeOutput, true],
      [CHECK.tokenObtained, true],
      [CHECK.tokenAudience, true],
      [CHECK.tokenPrincipal, true],
      [CHECK.tokenTenant, true],
      [CHECK.tokenClientId, true],
      [CHECK.tokenResourceId, true],
      [CHECK.identitySelector, true],
      [CHECK.targetResourceGroup, true],
      [CHECK.resourceGroupRead, true],
      [CHECK.permissionsReadOnly, true],
    ]);
    expect(verdict.verified).toBe(true);
  });

  it("fails token-principal for a token of another principal, naming both", () => {
    const probe = granted();
    (probe.token?.claims as Record<string, unknown>).oid = "p-evil";
    expect(failed(probe)).toEqual([CHECK.tokenPrincipal]);
    const detail = judgeProbe(probe, EXPECTED, "user", "granted").checks.find(
      (c) => c.name === CHECK.tokenPrincipal,
    )?.detail;
    expect(detail).toBe('the token principal (oid) should be "p-1111", was "p-evil"');
  });

  it("fails token-audience for a token minted for another resource", () => {
    const probe = granted();
    (probe.token?.claims as Record<string, unknown>).aud = "https://graph.microsoft.com/";
    expect(failed(probe)).toEqual([CHECK.tokenAudience]);
  });

  it("fails token-tenant, token-client-id and token-resource-id when those claims differ", () => {
    const probe = granted();
    Object.assign(probe.token?.claims as Record<string, unknown>, {
      tid: "t-other",
      appid: "c-other",
      xms_mirid: "/subscriptions/x/other",
    });
    expect(failed(probe)).toEqual([CHECK.tokenTenant, CHECK.tokenClientId, CHECK.tokenResourceId]);
  });

  it("fails for a foreign resource group, both as target and as body", () => {
    const probe = granted();
    probe.target.resourceGroup = "someone-elses-rg";
    (probe.resourceGroup?.body as Record<string, unknown>).id = `/subscriptions/${SUB}/resourceGroups/someone-elses-rg`;
    expect(failed(probe)).toEqual([CHECK.targetResourceGroup, CHECK.resourceGroupRead]);
  });

  it("fails when the group is not in state Succeeded", () => {
    const probe = granted();
    const body = probe.resourceGroup?.body as { properties: Record<string, unknown> };
    body.properties.provisioningState = "Deleting";
    expect(failed(probe)).toEqual([CHECK.resourceGroupRead]);
  });

  it.each([["*"], ["*/write"], ["Microsoft.Resources/*"], ["Microsoft.Authorization/roleAssignments/write"]])(
    "fails permissions-read-only for %s, naming the action",
    (action) => {
      const probe = granted();
      const body = probe.permissions?.body as { value: Array<{ actions: string[] }> };
      body.value[0].actions.push(action);
      const verdict = judgeProbe(probe, EXPECTED, "user", "granted");
      expect(verdict.checks.filter((c) => !c.ok).map((c) => c.name)).toEqual([CHECK.permissionsReadOnly]);
      expect(verdict.checks.find((c) => c.name === CHECK.permissionsReadOnly)?.detail).toContain(
        JSON.stringify(action),
      );
    },
  );

  it("fails identity-selector when the probe asked for the wrong identity", () => {
    const probe = granted();
    probe.identity = { selector: "system", value: null };
    expect(failed(probe)).toEqual([CHECK.identitySelector]);
    expect(failed(granted(), "granted", "system")).toContain(CHECK.identitySelector);
  });

  it("fails resource-group-read (and the probe's own ok) when ARM denied the read", () => {
    const verdict = judgeProbe(denied(), EXPECTED, "user", "granted");
    expect(verdict.checks.filter((c) => !c.ok)).toEqual([
      {
        name: CHECK.probeOutput,
        ok: false,
        detail:
          'the probe should report ok true, reported ok false with error {"stage":"arm","status":403,"code":"AuthorizationFailed","message":"denied"}',
      },
      {
        name: CHECK.resourceGroupRead,
        ok: false,
        detail: 'reading the resource group answered 403 "AuthorizationFailed"',
      },
      {
        name: CHECK.permissionsReadOnly,
        ok: false,
        detail: "the effective permissions were not read (status nothing)",
      },
    ]);
  });

  it("fails probe-output when the probe itself reports ok false, even over good-looking fields", () => {
    expect(failed({ ...granted(), ok: false })).toEqual([CHECK.probeOutput]);
  });

  it("verifies a system-assigned identity without client ID or resource ID checks", () => {
    const probe = granted();
    probe.identity = { selector: "system", value: null };
    const claims = probe.token?.claims as Record<string, unknown>;
    delete claims.appid;
    delete claims.xms_mirid;
    const verdict = judgeProbe(probe, EXPECTED, "system", "granted");
    expect(verdict.checks.map((c) => c.name)).not.toContain(CHECK.tokenClientId);
    expect(verdict.checks.map((c) => c.name)).not.toContain(CHECK.tokenResourceId);
    expect(verdict.verified).toBe(true);
  });

  it("skips token-resource-id when the token carries no xms_mirid", () => {
    const probe = granted();
    const claims = probe.token?.claims as Record<string, unknown>;
    delete claims.xms_mirid;
    const verdict = judgeProbe(probe, EXPECTED, "user", "granted");
    expect(verdict.checks.map((c) => c.name)).not.toContain(CHECK.tokenResourceId);
    expect(verdict.verified).toBe(true);
  });

  it("fails token-client-id when a user identity has no expected client ID to compare with", () => {
    const { clientId: _dropped, ...withoutClientId } = EXPECTED;
    const verdict = judgeProbe(granted(), withoutClientId, "user", "granted");
    expect(verdict.checks.find((c) => c.name === CHECK.tokenClientId)).toEqual({
      name: CHECK.tokenClientId,
      ok: false,
      detail: "no expected client ID to compare appid with (a user-assigned identity has one)",
    });
  });

  it("fails target-resource-group when the probe had no target, saying what it had", () => {
    const probe = granted();
    probe.target.subscriptionId = null;
    probe.target.resourceGroup = null;
    const verdict = judgeProbe(probe, EXPECTED, "user", "granted");
    expect(verdict.checks.find((c) => c.name === CHECK.targetResourceGroup)?.detail).toBe(
      `the resource group the probe targeted should be "${RG_ID}", was {"subscriptionId":null,"resourceGroup":null}`,
    );
  });

  it("fails permissions-read-only for a write data action and for an empty permissions list", () => {
    const probe = granted();
    const body = probe.permissions?.body as { value: Array<{ dataActions: string[] }> };
    body.value[0].dataActions.push("Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write");
    expect(failed(probe)).toEqual([CHECK.permissionsReadOnly]);
    body.value = [];
    const verdict = judgeProbe(probe, EXPECTED, "user", "granted");
    expect(verdict.checks.find((c) => c.name === CHECK.permissionsReadOnly)?.detail).toBe(
      "the effective permissions list is empty; expected Reader's */read",
    );
  });

  it("accepts read actions in any case and data reads", () => {
    const probe = granted();
    const body = probe.permissions?.body as { value: Array<{ actions: string[]; dataActions: string[] }> };
    body.value.push({ actions: ["Microsoft.Compute/virtualMachines/READ"], dataActions: ["Microsoft.Storage/x/read"] });
    expect(judgeProbe(probe, EXPECTED, "user", "granted").verified).toBe(true);
  });
});

describe("judgeProbe, expectation denied (the negative control)", () => {
  it("verifies a 403 AuthorizationFailed with a working token", () => {
    expect(judgeProbe(denied(), EXPECTED, "user", "denied").verified).toBe(true);
  });

  it("fails access-denied when the read succeeded", () => {
    expect(failed(granted(), "denied")).toEqual([CHECK.accessDenied]);
  });

  it("fails access-denied on a 404 (not a denial)", () => {
    const probe = denied();
    probe.resourceGroup = {
      status: 404,
      attempts: 1,
      body: { error: { code: "ResourceGroupNotFound", message: "x" } },
    };
    expect(failed(probe, "denied")).toEqual([CHECK.accessDenied]);
  });

  it("still checks the token: a denial with no token proves nothing", () => {
    const probe = denied();
    probe.token = { status: 400, attempts: 1, expiresOn: null, claims: null };
    expect(failed(probe, "denied")).toEqual([CHECK.tokenObtained]);
  });
});

describe("malformed and hostile probe output", () => {
  const hostile = `\u001b[2J\u001b[31mPWNED\nline2${"x".repeat(5000)}`;
  it.each([
    ["truncated JSON", parseProbeOutput('{"probeVersion":1,"ok":tr')],
    ["an empty string", parseProbeOutput("")],
    ["an array", parseProbeOutput("[1,2]")],
    ["null", null],
    ["a future version", { ...granted(), probeVersion: 2 }],
    ["hostile text", parseProbeOutput(hostile)],
  ])("never throws on %s, and fails probe-output", (_label, probe) => {
    const verdict = judgeProbe(probe, EXPECTED, "user", "granted");
    expect(verdict.verified).toBe(false);
    expect(verdict.checks).toHaveLength(1);
    expect(verdict.checks[0].name).toBe(CHECK.probeOutput);
    expect(verdict.checks[0].detail.length).toBeLessThan(400);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: no raw control character may reach a report.
    expect(verdict.checks[0].detail).not.toMatch(/[\u0000-\u001f]/);
  });

  it("fails field by field on wrong types, without throwing", () => {
    const probe = {
      ...granted(),
      token: { status: "200", claims: "nope" },
      resourceGroup: [],
      permissions: { status: 200, body: { value: "all" } },
    };
    const verdict = judgeProbe(probe, EXPECTED, "user", "granted");
    expect(verdict.verified).toBe(false);
    expect(verdict.checks.filter((c) => !c.ok).map((c) => c.name)).toEqual([
      CHECK.probeOutput,
      CHECK.tokenObtained,
      CHECK.resourceGroupRead,
      CHECK.permissionsReadOnly,
    ]);
    expect(verdict.checks[0].detail).toBe(
      "the probe's JSON departs from contract v1: token.status: Expected number, received string; token.attempts: Required; token.expiresOn: Required; and 2 more",
    );
  });

  it("escapes what JSON leaves raw (C1 controls, line separators, bidi overrides) and bounds it", () => {
    const probe = granted();
    (probe.token?.claims as Record<string, unknown>).oid = `\u009b31m\u2028\u202eevil${"z".repeat(1000)}`;
    const detail = judgeProbe(probe, EXPECTED, "user", "granted").checks.find(
      (c) => c.name === CHECK.tokenPrincipal,
    )?.detail;
    expect(detail).toBe(
      `the token principal (oid) should be "p-1111", was "\\u009b31m\\u2028\\u202eevil${"z".repeat(190)}…"`,
    );
  });

  it("never repeats a token that hostile evidence carries", () => {
    const jwt = "eyJhbGciOiJSUzI1NiJ9.eyJvaWQiOiJ4In0.c2lnbmF0dXJl";
    const probe = { ...granted(), ok: false, error: { stage: "imds", status: 500, code: null, message: `t=${jwt}` } };
    const verdict = judgeProbe(probe, EXPECTED, "user", "granted");
    expect(verdict.checks[0].detail).toBe(
      'the probe should report ok true, reported ok false with error {"stage":"imds","status":500,"code":null,"message":"t=[a token, not shown]"}',
    );
    expect(JSON.stringify(verdict)).not.toContain("eyJ");
  });

  it("names the field when an enum is broken with a hostile value, escaped", () => {
    const probe = { ...granted(), error: { stage: "\u001b[2Jx", status: null, code: null, message: "m" } };
    const detail = judgeProbe(probe, EXPECTED, "user", "granted").checks[0].detail;
    expect(detail).toMatch(/^the probe's JSON departs from contract v1: error\.stage: Invalid enum value/);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: no raw control character may reach a report.
    expect(detail).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
  });

  it("bounds a huge body in what it reports", () => {
    const probe = granted();
    (probe.resourceGroup?.body as Record<string, unknown>).id = "y".repeat(5_000_000);
    const detail =
      judgeProbe(probe, EXPECTED, "user", "granted").checks.find((c) => c.name === CHECK.resourceGroupRead)?.detail ??
      "";
    expect(detail.length).toBeLessThan(500);
  });
});

describe("judgeAccessCheck and describeFailures", () => {
  it("is verified only when every result is, and lists each failed check by VM and identity", () => {
    const bad = granted();
    (bad.token?.claims as Record<string, unknown>).oid = "p-evil";
    const accessCheck = judgeAccessCheck("granted", [
      { vm: "vm0", identity: "user", expected: EXPECTED, probe: granted() },
      { vm: "vm1", identity: "user", expected: EXPECTED, probe: bad },
    ]);
    expect(accessCheck.verified).toBe(false);
    expect(accessCheck.results.map((r) => r.verified)).toEqual([true, false]);
    expect(describeFailures(accessCheck)).toBe(
      '  vm1 (user): token-principal: the token principal (oid) should be "p-1111", was "p-evil"',
    );
  });

  it("does not verify an empty set of results, and says so", () => {
    const accessCheck = judgeAccessCheck("granted", []);
    expect(accessCheck.verified).toBe(false);
    expect(describeFailures(accessCheck)).toBe("  no probe result to judge");
  });
});

describe("evidence too deep to print", () => {
  it("is judged, not thrown on", () => {
    const deep = JSON.parse(`${"[".repeat(100_000)}${"]".repeat(100_000)}`);
    const verdict = judgeProbe(deep, EXPECTED, "user", "granted");
    expect(verdict.checks).toEqual([
      {
        name: CHECK.probeOutput,
        ok: false,
        detail: "the probe did not print one JSON object of version 1: [an unprintable array]",
      },
    ]);
  });
});

describe("judgeProbe, the component's optional expectations (absent: the program's checks, unchanged)", () => {
  it("accepts a user identity selected by object ID or resource ID, without a client ID to compare", () => {
    const { clientId: _dropped, ...noClientId } = EXPECTED;
    const byObject = granted();
    byObject.identity = { selector: "object_id", value: "P-1111" };
    const verdict = judgeProbe(byObject, { ...noClientId, selector: "object_id" }, "user", "granted");
    expect(verdict.verified).toBe(true);
    expect(verdict.checks.map((c) => c.name)).not.toContain(CHECK.tokenClientId);
    expect(verdict.checks.find((c) => c.name === CHECK.identitySelector)?.detail).toBe(
      'the probe selected object_id "P-1111"',
    );
    const byResource = granted();
    byResource.identity = { selector: "msi_res_id", value: UAMI_ID };
    expect(judgeProbe(byResource, { ...EXPECTED, selector: "msi_res_id" }, "user", "granted").verified).toBe(true);
  });

  it("fails identity-selector when the probe selected otherwise than asked", () => {
    const verdict = judgeProbe(granted(), { ...EXPECTED, selector: "msi_res_id" }, "user", "granted");
    expect(verdict.checks.find((c) => c.name === CHECK.identitySelector)).toEqual({
      name: CHECK.identitySelector,
      ok: false,
      detail: `the probe should select msi_res_id "${UAMI_ID}", selected "client_id" "c-2222"`,
    });
  });

  it("leaves out permissions-read-only when readOnly is false", () => {
    const probe = granted();
    (probe.permissions as { body: unknown }).body = { value: [{ actions: ["*"], notActions: [] }] };
    expect(failed(probe)).toEqual([CHECK.permissionsReadOnly]);
    const verdict = judgeProbe(probe, { ...EXPECTED, readOnly: false }, "user", "granted");
    expect(verdict.verified).toBe(true);
    expect(verdict.checks.map((c) => c.name)).not.toContain(CHECK.permissionsReadOnly);
  });

  it("checks refused actions against the effective permissions as ARM evaluates them", () => {
    const contributor = granted();
    (contributor.permissions as { body: unknown }).body = {
      value: [{ actions: ["*"], notActions: ["Microsoft.Authorization/*/Write"] }],
    };
    const expected: Expected = {
      ...EXPECTED,
      readOnly: false,
      refusedActions: ["Microsoft.Authorization/roleAssignments/write", "Microsoft.Compute/virtualMachines/write"],
    };
    expect(judgeProbe(contributor, expected, "user", "granted").checks.at(-1)).toEqual({
      name: CHECK.actionsRefused,
      ok: false,
      detail: 'the effective permissions grant "Microsoft.Compute/virtualMachines/write"',
    });
    expect(judgeProbe(granted(), expected, "user", "granted").checks.at(-1)).toEqual({
      name: CHECK.actionsRefused,
      ok: true,
      detail:
        'none of "Microsoft.Authorization/roleAssignments/write", "Microsoft.Compute/virtualMachines/write" is granted',
    });
  });
});

describe("actionMatches", () => {
  it.each([
    ["*", "Microsoft.Compute/virtualMachines/write", true],
    ["*/read", "Microsoft.Resources/subscriptions/resourceGroups/read", true],
    ["*/read", "Microsoft.Compute/virtualMachines/write", false],
    ["microsoft.authorization/*/write", "Microsoft.Authorization/roleAssignments/write", true],
    ["Microsoft.Compute/*", "Microsoft.Network/x/read", false],
    [`${"a*".repeat(40)}b`, "a".repeat(60), false],
    [42, "anything", false],
  ])("%s matches %s: %s", (pattern, action, expected) => {
    expect(actionMatches(pattern, action)).toBe(expected);
  });
});
