import { describe, expect, it } from "vitest";
import { probeEvidence } from "../components/accessCheckEvidence";
import {
  AccessCheckArgsError,
  type CheckValues,
  checkSettings,
  planRun,
  privateKeyValue,
  sshSettings,
} from "../components/accessCheckPlan";
import { probeCommandLine, REVOCATION_PENDING_COMMAND } from "../components/probeCommand";

/** The component's arguments, validated, and each probe run's command lines: pure, called directly. */

const SUB = "11111111-1111-4111-8111-111111111111";
const RG = `/subscriptions/${SUB}/resourceGroups/app-rg`;
const UAMI = `/subscriptions/${SUB}/resourceGroups/id-rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/app-id`;
const USER = {
  type: "UserAssigned",
  principalId: "p-1",
  tenantId: "t-1",
  clientId: "c-1",
  resourceId: UAMI,
};
const HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGmC4V8kqHnqRZx7S8p7OwPZyNQlzvZpP0tM2hGv3d5n";

function problemsOf(run: () => unknown): string[] {
  try {
    run();
  } catch (error) {
    if (error instanceof AccessCheckArgsError) return error.problems;
    throw error;
  }
  throw new Error("expected an AccessCheckArgsError");
}

const plan = (values: CheckValues, scope: unknown = RG, expectation: "granted" | "denied" = "granted") =>
  planRun("check", checkSettings("check", values), { scope, expectation, arg: "readableScopes", index: 0 });

describe("checkSettings", () => {
  it("applies the defaults: ARM of the public cloud, 600 s, reads only, selected by client ID", () => {
    expect(checkSettings("check", { identity: USER })).toEqual({
      kind: "user",
      principalId: "p-1",
      tenantId: "t-1",
      clientId: "c-1",
      resourceId: UAMI,
      selectBy: "clientId",
      readOnly: true,
      refusedActions: [],
      deadlineSeconds: 600,
      revocationPending: false,
      armEndpoint: "https://management.azure.com",
    });
  });

  it("selects by resource ID, else by object ID, when no client ID is given", () => {
    const { clientId: _c, ...noClient } = USER;
    expect(checkSettings("c", { identity: noClient }).selectBy).toBe("resourceId");
    const { resourceId: _r, ...onlyPrincipal } = noClient;
    expect(checkSettings("c", { identity: onlyPrincipal }).selectBy).toBe("objectId");
  });

  it.each([
    [{ identity: undefined }, "identity is required: its type, principalId and tenantId"],
    [{ identity: { ...USER, type: "Both" } }, 'identity.type = "Both" must be SystemAssigned or UserAssigned'],
    [
      { identity: { ...USER, principalId: "" } },
      "identity.principalId is required: the principal (object) ID the token's oid must carry",
    ],
    [
      { identity: { ...USER, tenantId: undefined } },
      "identity.tenantId is required: the tenant the token's tid must name",
    ],
    [
      { identity: { type: "SystemAssigned", principalId: "p", tenantId: "t", clientId: "c" } },
      "identity.clientId is for a user-assigned identity; a SystemAssigned one has none",
    ],
    [
      { identity: { ...USER, selectBy: "name" } },
      'identity.selectBy = "name" must be clientId, objectId or resourceId',
    ],
    [
      { identity: { ...USER, clientId: undefined, selectBy: "clientId" } },
      'identity.selectBy = "clientId" needs identity.clientId',
    ],
    [{ identity: USER, deadlineSeconds: 0 }, "deadlineSeconds = 0 must be a whole number from 1 to 86400"],
    [{ identity: USER, quickRefusalSeconds: 2.5 }, "quickRefusalSeconds = 2.5 must be a whole number from 1 to 86400"],
    [
      { identity: USER, armEndpoint: "http://management.azure.com" },
      'armEndpoint = "http://management.azure.com" must be an https:// base URL (the token must not travel in clear)',
    ],
    [{ identity: USER, imdsEndpoint: "ftp://x" }, 'imdsEndpoint = "ftp://x" must be an http:// or https:// base URL'],
    [{ identity: USER, refusedActions: [""] }, 'refusedActions = "[\\"\\"]" must be a list of action names'],
    [{ identity: USER, readOnly: "no" }, 'readOnly = "no" must be true or false'],
  ] as Array<[CheckValues, string]>)("rejects %j", (values, problem) => {
    expect(problemsOf(() => checkSettings("check", values))).toEqual([problem]);
  });

  it("names the component and every problem at once", () => {
    expect(() => checkSettings("app-check", { identity: { type: "x" }, deadlineSeconds: -1 })).toThrow(
      "VmAccessCheck app-check has 4 invalid arguments:\n" +
        '  - identity.type = "x" must be SystemAssigned or UserAssigned\n' +
        "  - identity.principalId is required: the principal (object) ID the token's oid must carry\n" +
        "  - identity.tenantId is required: the tenant the token's tid must name\n" +
        "  - deadlineSeconds = -1 must be a whole number from 1 to 86400",
    );
  });
});

describe("sshSettings and privateKeyValue", () => {
  it("applies port 22, user azureuser and 60 dials, and trims the host key", () => {
    expect(sshSettings("c", { host: "203.0.113.9", hostKey: `${HOST_KEY}\n` })).toEqual({
      host: "203.0.113.9",
      port: 22,
      user: "azureuser",
      hostKey: HOST_KEY,
      dialErrorLimit: 60,
    });
  });

  it.each([
    [{ hostKey: HOST_KEY }, "ssh.host is required: the address the VM's SSH server answers at"],
    [{ host: "h", hostKey: HOST_KEY, port: 70000 }, "ssh.port = 70000 must be a whole number from 1 to 65535"],
    [
      { host: "h", hostKey: "AAAAC3Nz" },
      'ssh.hostKey = "AAAAC3Nz" must be the VM\'s SSH host public key, one OpenSSH line (ssh-ed25519 AAAA…): the only key the check accepts',
    ],
    [
      { host: "h", hostKey: HOST_KEY, dialErrorLimit: -2 },
      "ssh.dialErrorLimit = -2 must be -1 (no limit) or a whole number from 0",
    ],
  ])("rejects %j", (values, problem) => {
    expect(problemsOf(() => sshSettings("c", values))).toEqual([problem]);
  });

  it("requires a private key without ever showing one", () => {
    expect(problemsOf(() => privateKeyValue("c", ""))).toEqual([
      "ssh.privateKey is required: an OpenSSH private key authorized for ssh.user",
    ]);
    expect(privateKeyValue("c", "-----BEGIN OPENSSH PRIVATE KEY-----")).toBe("-----BEGIN OPENSSH PRIVATE KEY-----");
  });
});

describe("planRun", () => {
  it("reads a readable scope exactly as the program always has: probe contract v1, bash -s", () => {
    const run = plan({ identity: USER });
    expect(run.create).toBe(
      probeCommandLine(
        {
          armEndpoint: "https://management.azure.com",
          clientId: "c-1",
          subscriptionId: SUB,
          resourceGroup: "app-rg",
          deadlineSeconds: 600,
        },
        "granted",
      ),
    );
    expect(run).toMatchObject({ sendsProbe: true, pending: false, kind: "user" });
    expect(run.update).toBeUndefined();
    expect(run.expected).toEqual({
      principalId: "p-1",
      clientId: "c-1",
      resourceId: UAMI,
      tenantId: "t-1",
      resourceGroupId: RG,
      resource: "https://management.azure.com/",
    });
  });

  it("selects by object or resource ID when asked, and says so to the judge", () => {
    const byObject = plan({ identity: { ...USER, selectBy: "objectId" } });
    expect(byObject.create).toContain("MI_OBJECT_ID='p-1' SUBSCRIPTION_ID=");
    expect(byObject.create).not.toContain("MI_CLIENT_ID");
    expect(byObject.expected.selector).toBe("object_id");
    const byResource = plan({ identity: { ...USER, selectBy: "resourceId" } });
    expect(byResource.create).toContain(`MI_RESOURCE_ID='${UAMI}'`);
    expect(byResource.expected.selector).toBe("msi_res_id");
  });

  it("selects nothing for the system-assigned identity, and passes the IMDS base only when given", () => {
    const run = plan({
      identity: { type: "SystemAssigned", principalId: "s-1", tenantId: "t-1" },
      imdsEndpoint: "http://127.0.0.9:80/",
    });
    expect(run.create).toBe(
      `AZURE_POD_IDENTITY_AUTHORITY_HOST='http://127.0.0.9:80' ARM_ENDPOINT='https://management.azure.com' SUBSCRIPTION_ID='${SUB}' RESOURCE_GROUP='app-rg' PROBE_DEADLINE_SECONDS='600' bash -s`,
    );
    expect(run.expected).toEqual({
      principalId: "s-1",
      tenantId: "t-1",
      resourceGroupId: RG,
      resource: "https://management.azure.com/",
    });
  });

  it("waits for a refused scope's 403 (PROBE_EXPECT=denied), whose exit status alone decides", () => {
    const run = plan({ identity: USER, deadlineSeconds: 300 }, RG, "denied");
    expect(run.create).toBe(
      `ARM_ENDPOINT='https://management.azure.com' MI_CLIENT_ID='c-1' SUBSCRIPTION_ID='${SUB}' RESOURCE_GROUP='app-rg' PROBE_DEADLINE_SECONDS='300' PROBE_EXPECT='denied' bash -s`,
    );
    expect(run.update).toBeUndefined();
  });

  it("with quickRefusalSeconds, takes a first refusal in contract v1's form and waits when run again in place", () => {
    const run = plan({ identity: USER, quickRefusalSeconds: 10 }, RG, "denied");
    expect(run.create).toBe(
      `ARM_ENDPOINT='https://management.azure.com' MI_CLIENT_ID='c-1' SUBSCRIPTION_ID='${SUB}' RESOURCE_GROUP='app-rg' PROBE_DEADLINE_SECONDS='10' bash -s; rc=$?; [ "$rc" -le 1 ] || exit "$rc"`,
    );
    expect(run.update).toBe(
      `ARM_ENDPOINT='https://management.azure.com' MI_CLIENT_ID='c-1' SUBSCRIPTION_ID='${SUB}' RESOURCE_GROUP='app-rg' PROBE_DEADLINE_SECONDS='600' PROBE_EXPECT='denied' bash -s`,
    );
  });

  it("probes nothing while a revocation is pending, and is run again in place by the next update", () => {
    const run = plan({ identity: USER, quickRefusalSeconds: 10, revocationPending: true }, RG, "denied");
    expect(run).toMatchObject({ create: REVOCATION_PENDING_COMMAND, sendsProbe: false, pending: true });
    expect(run.update).toContain("PROBE_EXPECT='denied' bash -s");
  });

  it("tells the judge about readOnly false and refused actions, for readable scopes only", () => {
    const values = { identity: USER, readOnly: false, refusedActions: ["Microsoft.Compute/virtualMachines/write"] };
    expect(plan(values).expected).toMatchObject({
      readOnly: false,
      refusedActions: ["Microsoft.Compute/virtualMachines/write"],
    });
    expect(plan(values, RG, "denied").expected).not.toHaveProperty("readOnly");
  });

  it.each(["/subscriptions/x", `${RG}/providers/Microsoft.Compute/virtualMachines/vm`, 42])(
    "rejects the scope %j: only resource groups are probed",
    (scope) => {
      expect(problemsOf(() => plan({ identity: USER }, scope))).toEqual([
        `readableScopes[0] = ${typeof scope === "string" ? JSON.stringify(scope) : scope} must be a resource group ID: /subscriptions/<subscription ID>/resourceGroups/<name>`,
      ]);
    },
  );
});

describe("probeEvidence", () => {
  it("reads the typed facts out of a probe's JSON, never the token", () => {
    const evidence = probeEvidence({
      scope: RG,
      expectation: "granted",
      verified: true,
      probe: {
        probeVersion: 1,
        identity: { selector: "client_id", value: "c-1" },
        token: { status: 200, claims: { aud: "https://management.azure.com/", oid: "p-1", iat: 17, exp: "soon" } },
        resourceGroup: { status: 200, attempts: 2, body: { id: RG } },
        permissions: { status: 200, body: { value: [{ actions: ["*/read"], notActions: [] }, { actions: [7] }] } },
        elapsedSeconds: 2.5,
        error: null,
      },
    });
    expect(evidence).toEqual({
      scope: RG,
      expectation: "granted",
      verified: true,
      selector: "client_id",
      tokenStatus: 200,
      claims: { aud: "https://management.azure.com/", oid: "p-1", iat: 17 },
      readStatus: 200,
      readAttempts: 2,
      actions: ["*/read"],
      notActions: [],
      elapsedSeconds: 2.5,
    });
  });

  it("carries the read's error code and the probe's error, and survives output that is not JSON", () => {
    expect(
      probeEvidence({
        scope: RG,
        expectation: "denied",
        verified: true,
        probe: {
          resourceGroup: { status: 403, attempts: 1, body: { error: { code: "AuthorizationFailed" } } },
          error: { stage: "arm", status: 403, code: "AuthorizationFailed", message: "no" },
        },
      }),
    ).toMatchObject({
      readStatus: 403,
      readErrorCode: "AuthorizationFailed",
      error: "arm 403 AuthorizationFailed: no",
    });
    expect(probeEvidence({ scope: RG, expectation: "granted", verified: false, probe: "<html>" })).toEqual({
      scope: RG,
      expectation: "granted",
      verified: false,
    });
  });
});
