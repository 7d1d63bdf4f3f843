import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { type Faults, LocalAzure, seedVm } from "../local-azure";
import type { ProbeResultV1 } from "../verify/contract";
import { awkVariants } from "./support/probeAwks";
import { checkTimeSources, startVirtualClock } from "./support/probeClock";
import { type FaultProxy, selfSignedLoopbackCert, startFaultProxy, writeCaBundle } from "./support/probeFaultProxy";
import { inspectBody as inspectWith, runProbeFunctions, shellWord } from "./support/probeFunctions";
import {
  announcedWaits,
  CUT_OFF_DEADLINE_SECONDS,
  type ProbeEnv,
  type ProbeRun,
  type ProbeRunOptions,
  probeScript,
  runProbe,
} from "./support/probeRunner";
import { startCommandSpy } from "./support/probeSpy";
import { needsTools } from "./support/systemTools";

const awks = awkVariants();
afterAll(() => awks.remove());

describe.each(awks.variants)("the probe's embedded JSON reader with $name", ({ pathPrefix }) => {
  const inspectBody = (body: string | Buffer, want: string[] = []) => inspectWith(body, want, pathPrefix);

  const VALID_BODIES = [
    '{"a":1}',
    ' {\n "id" : "/subscriptions/x" ,\t"tags":{}, "n":[1,-2.5e+3,0,true,false,null] }\r\n',
    '"just a string"',
    "42",
    "[]",
    '{"s":"esc \\" \\\\ \\/ \\b\\f\\n\\r\\t \\u00e9 \\ud83d\\ude00"}',
    '{"utf8":"é ü 漢 😀"}',
    '{"del":"\u007f"}',
  ];
  it.each(VALID_BODIES)("carries valid JSON %j as the same value, compacted to one line", (body) => {
    const seen = inspectBody(body);
    expect(seen.isJson).toBe(true);
    expect(seen.carried).not.toContain("\n");
    expect(JSON.parse(seen.carried)).toEqual(JSON.parse(body));
  });

  const INVALID_BODIES = [
    "",
    "<html><body>502 Bad Gateway</body></html>\n",
    '{"a":1',
    '{"a":1}}',
    "{'a':1}",
    '{"a":01}',
    '{"a":1.}',
    '{"a":"tab\there"}',
    '{"a":"bad \\x escape"}',
    '{"a":"\\u12"}',
    "[1,]",
    '{"a" 1}',
    "nul",
    "tru",
    '{"a":1} trailing',
    `${"[".repeat(70)}${"]".repeat(70)}`,
  ];
  it.each(INVALID_BODIES)("carries %j, which is not JSON, as the exact text in a JSON string", (body) => {
    const seen = inspectBody(body);
    expect(seen.isJson).toBe(false);
    expect(JSON.parse(seen.carried)).toBe(body);
  });

  it("rejects bytes that are not UTF-8 and escapes every byte outside 0x20-0x7E as \\u00XX", () => {
    const body = Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0xc3, 0x28, 0x01, 0x7f]), Buffer.from('"}')]);
    const seen = inspectBody(body);
    expect(seen.isJson).toBe(false);
    expect(seen.carried).toBe('"{\\"a\\":\\"\\u00c3(\\u0001\\u007f\\"}"');
  });

  it("truncates a long text body to 4096 bytes with a marker saying so", () => {
    const body = `${"A".repeat(5000)}<`;
    const seen = inspectBody(body);
    expect(JSON.parse(seen.carried)).toBe(`${"A".repeat(4096)}...[truncated: first 4096 of 5001 bytes]`);
  });

  it("extracts values by path, raw for re-embedding and decoded, and says which are missing", () => {
    const body =
      '{"error":{"code":"AuthorizationFailed","message":"The client \\"x\\" \\u00e9"},"n":[10,{"k":2}],"t":true}';
    const seen = inspectBody(body, ["error.code", "error.message", "n.1.k", "n", "t", "error.nope"]);
    expect(seen.fields).toEqual([
      { type: "string", raw: '"AuthorizationFailed"', decoded: "AuthorizationFailed" },
      { type: "string", raw: '"The client \\"x\\" \\u00e9"', decoded: 'The client "x" é' },
      { type: "number", raw: "2", decoded: "" },
      { type: "array", raw: "", decoded: "" },
      { type: "boolean", raw: "true", decoded: "" },
      { type: "missing", raw: "", decoded: "" },
    ]);
  });

  it("reports no fields of a body that is not JSON, even when it looks like it has them", () => {
    const seen = inspectBody('{"error":{"code":"AuthorizationFailed"}', ["error.code"]);
    expect(seen.fields).toEqual([{ type: "missing", raw: "", decoded: "" }]);
  });
});

const READER_ROLE_ID = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
const NOT_AUTHORIZED =
  /^The client '.+' with object id '.+' does not have authorization to perform action 'Microsoft\.Resources\/subscriptions\/resourceGroups\/read' over scope '.+' or the scope is invalid\. If access was recently granted, please refresh your credentials\.$/;
const TOKEN_PATH = "/metadata/identity/oauth2/token";
const HTML_502 = "<html><head><title>502 Bad Gateway</title></head>\r\n<body>nginx</body></html>\r\n";
/**
 * For the tests that wait out backoffs and deadlines: the probe's waits pass on a virtual clock
 * (tests/support/probeClock.ts), so they take no time and come out the same on any machine. Tests
 * where Local Azure's own windows (RBAC propagation, revocation) must pass while the probe waits keep
 * the real clock: those windows run on it.
 */
const VIRTUAL: ProbeRunOptions = { clock: "virtual" };

type Seeded = Awaited<ReturnType<typeof seedVm>>;

/** A Local Azure with one VM in it. Fault tests each get their own, so they can run side by side. */
interface Lab {
  azure: LocalAzure;
  vm: Seeded;
}

/** Quiet faults, so each test turns on only the one it exercises. */
const NO_FAULTS: Partial<Faults> = {
  rbacDelaySeconds: 0,
  identityAttachDelaySeconds: 0,
  sshNotReadySeconds: 0,
  armThrottle: { count: 0, retryAfterSeconds: 0 },
  armUnauthorized: { count: 0 },
  imdsBurst: null,
  lroSeconds: 0.01,
};

/**
 * Fault tests run side by side, each holding a Local Azure of its own (faults are instance-wide), so
 * a few instances are started once, while the shared tests run, and leased out one test at a time.
 */
const LAB_POOL_SIZE = 5; // vitest runs at most 5 concurrent tests
let labsStarting: Promise<Lab[]> | undefined;
const idleLabs: Lab[] = [];
const labWaiters: Array<(lab: Lab) => void> = [];

/** Distinct free ports, held open together so that no two labs get the same SSH port. */
async function distinctFreePorts(count: number): Promise<number[]> {
  const servers = Array.from({ length: count }, () => createServer());
  await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))));
  const ports = servers.map((server) => (server.address() as AddressInfo).port);
  await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  return ports;
}

function startLabs(): Promise<Lab[]> {
  labsStarting ??= distinctFreePorts(LAB_POOL_SIZE).then((ports) =>
    Promise.all(
      ports.map(async (sshPort) => {
        const azure = await LocalAzure.start({ faults: NO_FAULTS, sshPort });
        const vm = await seedVm(azure, { identity: "user", resourceGroup: "probe-rg", vmName: "vm-probe" });
        const lab = { azure, vm };
        idleLabs.push(lab);
        return lab;
      }),
    ),
  );
  return labsStarting;
}

async function leaseLab(): Promise<Lab> {
  await startLabs();
  const idle = idleLabs.pop();
  if (idle !== undefined) return idle;
  return new Promise((resolve) => labWaiters.push(resolve));
}

function releaseLab(lab: Lab): void {
  const waiter = labWaiters.shift();
  if (waiter !== undefined) waiter(lab);
  else idleLabs.push(lab);
}

afterAll(async () => {
  if (labsStarting !== undefined) await Promise.all((await labsStarting).map((lab) => lab.azure.stop()));
});

let lateVms = 0;

/** Leases a lab, turns on `faults`, and runs `body`; with `seed`, on a fresh VM seeded that way. */
async function withLab(
  faults: Partial<Faults>,
  body: (lab: Lab) => Promise<void>,
  seed?: { grant: boolean },
): Promise<void> {
  const lab = await leaseLab();
  try {
    Object.assign(lab.azure.faults, NO_FAULTS);
    let vm = lab.vm;
    if (seed !== undefined) {
      lateVms += 1;
      vm = await seedVm(lab.azure, {
        identity: "user",
        resourceGroup: `probe-late-rg-${lateVms}`,
        vmName: `vm-late-${lateVms}`,
        ...seed,
      });
    }
    Object.assign(lab.azure.faults, faults);
    await body({ azure: lab.azure, vm });
  } finally {
    Object.assign(lab.azure.faults, NO_FAULTS);
    releaseLab(lab);
  }
}

function user(vm: Seeded) {
  if (vm.userIdentity === undefined) throw new Error("seeded VM has no user-assigned identity");
  return vm.userIdentity;
}

function envFor(lab: Lab, extra: ProbeEnv = {}): ProbeEnv {
  return {
    AZURE_POD_IDENTITY_AUTHORITY_HOST: lab.vm.imdsEndpoint,
    ARM_ENDPOINT: lab.azure.armEndpoint,
    MI_CLIENT_ID: lab.vm.userIdentity?.clientId,
    SUBSCRIPTION_ID: lab.azure.subscriptionId,
    RESOURCE_GROUP: lab.vm.resourceGroup,
    PROBE_DEADLINE_SECONDS: "20",
    ...extra,
  };
}

/** Runs the probe and returns it with the requests Local Azure saw meanwhile ("service status path"). */
async function probe(lab: Lab, env: ProbeEnv, options: ProbeRunOptions = {}) {
  const mark = lab.azure.requestLog.length;
  const run = await runProbe(env, { caBundlePath: lab.azure.caCertPath, ...options });
  const requests = lab.azure.requestLog.slice(mark).map((entry) => `${entry.service} ${entry.status} ${entry.path}`);
  return { ...run, requests };
}

function rgPath(lab: Lab): string {
  return `/subscriptions/${lab.azure.subscriptionId}/resourceGroups/${lab.vm.resourceGroup}`;
}

function happyRequests(lab: Lab): string[] {
  return [
    `imds 200 ${TOKEN_PATH}`,
    `arm 200 ${rgPath(lab)}`,
    `arm 200 ${rgPath(lab)}/providers/Microsoft.Authorization/permissions`,
  ];
}

function expectVerified(lab: Lab, run: ProbeRun, principalId: string) {
  const { azure, vm } = lab;
  expect(run.exitCode, run.stderr).toBe(0);
  const result = run.result as ProbeResultV1;
  expect(result.probeVersion).toBe(1);
  expect(result.ok).toBe(true);
  expect(result.error).toBeNull();
  expect(result.target).toEqual({
    subscriptionId: azure.subscriptionId,
    resourceGroup: vm.resourceGroup,
    armEndpoint: azure.armEndpoint,
    resource: `${azure.armEndpoint}/`,
  });
  expect(result.token?.status).toBe(200);
  expect(result.token?.expiresOn).toMatch(/^\d+$/);
  const claims = result.token?.claims as Record<string, unknown>;
  expect(claims.aud).toBe(`${azure.armEndpoint}/`);
  expect(claims.oid).toBe(principalId);
  expect(claims.sub).toBe(principalId);
  expect(claims.tid).toBe(azure.tenantId);
  expect(claims.iss).toBe(`https://sts.windows.net/${azure.tenantId}/`);
  expect(claims.idtyp).toBe("app");
  for (const name of ["iat", "nbf", "exp"]) expect(typeof claims[name]).toBe("number");
  expect(Object.keys(claims).sort()).toEqual(
    ["aud", "iss", "oid", "sub", "tid", "appid", "idtyp", "xms_mirid", "iat", "nbf", "exp"].sort(),
  );
  expect(result.resourceGroup?.status).toBe(200);
  const body = result.resourceGroup?.body as { id: string; properties: { provisioningState: string } };
  expect(body.id.toLowerCase()).toBe(vm.resourceGroupId.toLowerCase());
  expect(body.properties.provisioningState).toBe("Succeeded");
  expect(result.permissions?.status).toBe(200);
  const permissions = result.permissions?.body as { value: Array<{ actions: string[] }> };
  expect(permissions.value.flatMap((entry) => entry.actions)).toEqual(["*/read"]);
  expect(typeof result.elapsedSeconds).toBe("number");
  return { result, claims };
}

describe("against one shared Local Azure", () => {
  let azure: LocalAzure;
  let granted: Lab;

  beforeAll(async () => {
    // The fault tests' instances start meanwhile; a failure there surfaces in those tests.
    startLabs().catch(() => undefined);
    azure = await LocalAzure.start({ faults: NO_FAULTS });
    granted = {
      azure,
      vm: await seedVm(azure, { identity: "both", resourceGroup: "probe-granted-rg", vmName: "vm-granted" }),
    };
  });

  afterAll(async () => {
    await azure?.stop();
  });

  describe("happy path", () => {
    needsTools("curl");

    it("client_id: one token, one read, one permissions list: exactly 3 requests", async () => {
      const identity = user(granted.vm);
      const run = await probe(granted, envFor(granted));
      const { result, claims } = expectVerified(granted, run, identity.principalId);
      expect(result.identity).toEqual({ selector: "client_id", value: identity.clientId });
      expect(claims.appid).toBe(identity.clientId);
      expect(String(claims.xms_mirid).toLowerCase()).toBe(identity.id.toLowerCase());
      expect(result.token?.attempts).toBe(1);
      expect(result.resourceGroup?.attempts).toBe(1);
      expect(result.permissions?.attempts).toBe(1);
      expect(run.requests).toEqual(happyRequests(granted));
      expect(run.stderr).toBe(
        "probe: imds token attempt 1: HTTP 200\nprobe: arm resourceGroup attempt 1: HTTP 200\nprobe: arm permissions attempt 1: HTTP 200\n",
      );
    });

    it("object_id selects the user-assigned identity by principal", async () => {
      const identity = user(granted.vm);
      const run = await probe(
        granted,
        envFor(granted, { MI_CLIENT_ID: undefined, MI_OBJECT_ID: identity.principalId }),
      );
      const { result, claims } = expectVerified(granted, run, identity.principalId);
      expect(result.identity).toEqual({ selector: "object_id", value: identity.principalId });
      expect(claims.appid).toBe(identity.clientId);
      expect(run.requests).toEqual(happyRequests(granted));
    });

    it("msi_res_id selects the user-assigned identity by resource ID", async () => {
      const identity = user(granted.vm);
      const run = await probe(granted, envFor(granted, { MI_CLIENT_ID: undefined, MI_RESOURCE_ID: identity.id }));
      const { result, claims } = expectVerified(granted, run, identity.principalId);
      expect(result.identity).toEqual({ selector: "msi_res_id", value: identity.id });
      expect(claims.appid).toBe(identity.clientId);
      expect(run.requests).toEqual(happyRequests(granted));
    });

    it("no selector uses the system-assigned identity", async () => {
      const system = granted.vm.systemIdentity;
      if (system === undefined) throw new Error("seeded VM has no system-assigned identity");
      const run = await probe(granted, envFor(granted, { MI_CLIENT_ID: undefined }));
      const { result, claims } = expectVerified(granted, run, system.principalId);
      expect(result.identity).toEqual({ selector: "system", value: null });
      expect(String(claims.xms_mirid).toLowerCase()).toBe(granted.vm.vmId.toLowerCase());
      expect(run.requests).toEqual(happyRequests(granted));
    });

    it("reads subscription and resource group from instance metadata when neither is given", async () => {
      const identity = user(granted.vm);
      const run = await probe(granted, envFor(granted, { SUBSCRIPTION_ID: undefined, RESOURCE_GROUP: undefined }));
      expectVerified(granted, run, identity.principalId);
      expect(run.requests).toEqual(["imds 200 /metadata/instance/compute", ...happyRequests(granted)]);
    });

    it("accepts ARM_ENDPOINT with a trailing slash and asks for exactly base + '/'", async () => {
      const identity = user(granted.vm);
      const run = await probe(granted, envFor(granted, { ARM_ENDPOINT: `${azure.armEndpoint}/` }));
      const { claims } = expectVerified(granted, run, identity.principalId);
      expect(claims.aud).toBe(`${azure.armEndpoint}/`);
    });

    it("sends IMDS requests past any configured proxy, and verifies ARM's TLS certificate", async () => {
      const identity = user(granted.vm);
      // A proxy that refuses every connection: IMDS must bypass it (--noproxy '*').
      const run = await probe(granted, envFor(granted), {
        extraEnv: { http_proxy: "http://127.0.0.1:9", HTTP_PROXY: "http://127.0.0.1:9" },
      });
      expectVerified(granted, run, identity.principalId);
    });

    it("does not trust an ARM certificate outside CURL_CA_BUNDLE: final at once, no token sent in vain", async () => {
      const stranger = writeCaBundle([(await selfSignedLoopbackCert()).certPem]);
      const run = await probe(granted, envFor(granted), { caBundlePath: stranger.path }).finally(stranger.remove);
      expect(run.exitCode).toBe(1);
      expect(run.result?.resourceGroup).toEqual({ status: null, attempts: 1, body: null });
      expect(run.result?.error).toEqual({
        stage: "arm",
        status: null,
        code: null,
        message: "ARM request failed: TLS certificate not trusted (curl exit 60)",
      });
      expect(run.requests).toEqual([`imds 200 ${TOKEN_PATH}`]);
    });

    it.each(awks.variants)("works the same with $name as the VM's awk", async ({ pathPrefix }) => {
      const identity = user(granted.vm);
      const run = await probe(granted, envFor(granted), { pathPrefix });
      expectVerified(granted, run, identity.principalId);
    });
  });

  describe("bad input: exit 2, stage input, no request sent", () => {
    const TWO_SELECTORS =
      "at most one of MI_CLIENT_ID, MI_OBJECT_ID, MI_RESOURCE_ID may be set (none selects the system-assigned identity)";
    const HALF_TARGET =
      "SUBSCRIPTION_ID and RESOURCE_GROUP go together: set both, or neither to read them from instance metadata";
    it.each([
      ["client and object IDs", { MI_CLIENT_ID: "a", MI_OBJECT_ID: "b" }, TWO_SELECTORS],
      ["object and resource IDs", { MI_CLIENT_ID: undefined, MI_OBJECT_ID: "b", MI_RESOURCE_ID: "c" }, TWO_SELECTORS],
      ["all three selectors", { MI_CLIENT_ID: "a", MI_OBJECT_ID: "b", MI_RESOURCE_ID: "c" }, TWO_SELECTORS],
      ["a subscription without a resource group", { RESOURCE_GROUP: undefined }, HALF_TARGET],
      ["a resource group without a subscription", { SUBSCRIPTION_ID: undefined }, HALF_TARGET],
      ...["0", "86401", "-5", "1.5", "ten", " 60", "999999"].map((deadline): [string, ProbeEnv, string] => [
        `deadline '${deadline}'`,
        { PROBE_DEADLINE_SECONDS: deadline },
        `PROBE_DEADLINE_SECONDS must be a whole number of seconds from 1 to 86400; got '${deadline}'`,
      ]),
      ...["http://127.0.0.1:1", "ftp://example.com", "https://", "management.azure.com", "https://a b"].map(
        (arm): [string, ProbeEnv, string] => [
          `ARM endpoint '${arm}'`,
          { ARM_ENDPOINT: arm },
          `ARM_ENDPOINT must be an https:// URL (a token must not travel in clear text); got '${arm}'`,
        ],
      ),
      ...["Denied", "refused"].map((expect): [string, ProbeEnv, string] => [
        `PROBE_EXPECT '${expect}'`,
        { PROBE_EXPECT: expect },
        `PROBE_EXPECT must be granted or denied (unset: granted); got '${expect}'`,
      ]),
      // Optional, for Run Command (Azure keeps the last 4,096 bytes of its output): not a contract v1 variable.
      ...["63", "4097", "1e3", "all"].map((max): [string, ProbeEnv, string] => [
        `PROBE_MAX_TEXT_BYTES '${max}'`,
        { PROBE_MAX_TEXT_BYTES: max } as ProbeEnv,
        `PROBE_MAX_TEXT_BYTES must be a whole number from 64 to 4096 (unset: 4096); got '${max}'`,
      ]),
      ...["file:///etc/passwd", "169.254.169.254", "http://"].map((imds): [string, ProbeEnv, string] => [
        `IMDS base '${imds}'`,
        { AZURE_POD_IDENTITY_AUTHORITY_HOST: imds },
        `AZURE_POD_IDENTITY_AUTHORITY_HOST must be an http:// or https:// base URL; got '${imds}'`,
      ]),
    ])("rejects %s", async (_name, extra, message) => {
      const run = await probe(granted, envFor(granted, extra));
      expect(run.exitCode).toBe(2);
      expect(run.requests).toEqual([]);
      const result = run.result as ProbeResultV1;
      expect(result.ok).toBe(false);
      expect(result.error).toEqual({ stage: "input", status: null, code: null, message });
      expect(result.token).toBeNull();
      expect(result.resourceGroup).toBeNull();
      expect(result.permissions).toBeNull();
      expect(run.stderr).toBe(`probe: bad input: ${message}\n`);
    });
  });
});

/** A lab whose ARM and IMDS are reached through fault proxies; the probe's env points at the proxies. */
async function withProxiedLab(
  body: (
    lab: Lab,
    proxies: { arm: FaultProxy; imds: FaultProxy; env: ProbeEnv; caBundlePath: string },
  ) => Promise<void>,
): Promise<void> {
  await withLab({}, async (lab) => {
    const arm = await startFaultProxy({
      upstream: lab.azure.armEndpoint,
      upstreamCaPem: lab.azure.caCertPem,
      tls: true,
    });
    const imds = await startFaultProxy({
      upstream: lab.vm.imdsEndpoint,
      tls: false,
      rewriteResourceTo: `${lab.azure.armEndpoint}/`,
      keepAnswersTo: TOKEN_PATH,
    });
    const bundle = writeCaBundle([lab.azure.caCertPem, arm.certPem]);
    try {
      const env = envFor(lab, { AZURE_POD_IDENTITY_AUTHORITY_HOST: imds.endpoint, ARM_ENDPOINT: arm.endpoint });
      await body(lab, { arm, imds, env, caBundlePath: bundle.path });
    } finally {
      await arm.close();
      await imds.close();
      bundle.remove();
    }
  });
}

describe.concurrent("side by side, each test holding a Local Azure of its own", () => {
  needsTools("curl");

  describe("the deadline", () => {
    it("ends a denial at the deadline: exit 1, AuthorizationFailed with ARM's message, no wait past it", async () => {
      await withLab(
        {},
        async (lab) => {
          const identity = user(lab.vm);
          const deadline = CUT_OFF_DEADLINE_SECONDS;
          const run = await probe(lab, envFor(lab, { PROBE_DEADLINE_SECONDS: String(deadline) }), VIRTUAL);
          expect(run.exitCode).toBe(1);
          const result = run.result as ProbeResultV1;
          expect(result.ok).toBe(false);
          expect(result.error?.stage).toBe("arm");
          expect(result.error?.status).toBe(403);
          expect(result.error?.code).toBe("AuthorizationFailed");
          expect(result.error?.message).toMatch(NOT_AUTHORIZED);
          expect(result.error?.message).toContain(identity.principalId);
          expect(result.resourceGroup?.status).toBe(403);
          expect(result.resourceGroup?.body).toEqual({
            error: { code: "AuthorizationFailed", message: result.error?.message },
          });
          expect(result.permissions).toBeNull();
          expect(result.token?.status).toBe(200);
          // It kept reading while time was left: one read after each announced wait, none of which
          // reached past the deadline, and it gave up only when less than a last try's 0.25 s was left.
          const waits = announcedWaits(run.stderr, "arm resourceGroup");
          expect(waits.length).toBeGreaterThanOrEqual(1);
          expect(result.resourceGroup?.attempts).toBe(waits.length + 1);
          expect(waits.reduce((sum, wait) => sum + wait, 0)).toBeLessThanOrEqual(deadline);
          expect(result.elapsedSeconds).toBeGreaterThanOrEqual(deadline - 0.3);
          expect(run.stderr).toContain(`probe: arm resourceGroup: deadline of ${deadline}s reached; giving up\n`);
        },
        { grant: false },
      );
    });
  });

  describe("waiting for a refusal (PROBE_EXPECT=denied)", () => {
    it("takes ARM's first 403 as the proven refusal: exit 0, one read, nothing waited", async () => {
      await withLab(
        {},
        async (lab) => {
          const run = await probe(lab, envFor(lab, { PROBE_EXPECT: "denied" }));
          expect(run.exitCode, run.stderr).toBe(0);
          const result = run.result as ProbeResultV1;
          expect(result.ok).toBe(false);
          expect(result.error).toMatchObject({ stage: "arm", status: 403, code: "AuthorizationFailed" });
          expect(result.resourceGroup?.attempts).toBe(1);
          expect(result.permissions).toBeNull();
          expect(run.requests).toEqual([`imds 200 ${TOKEN_PATH}`, `arm 403 ${rgPath(lab)}`]);
          expect(run.stderr).not.toContain("retrying");
        },
        { grant: false },
      );
    });

    it("asks again while ARM still allows the read, and fails at the deadline saying so", async () => {
      await withLab({}, async (lab) => {
        const deadline = CUT_OFF_DEADLINE_SECONDS;
        const run = await probe(
          lab,
          envFor(lab, { PROBE_EXPECT: "denied", PROBE_DEADLINE_SECONDS: String(deadline) }),
          VIRTUAL,
        );
        expect(run.exitCode).toBe(1);
        const result = run.result as ProbeResultV1;
        expect(result.ok).toBe(true);
        expect(result.resourceGroup?.status).toBe(200);
        expect(result.resourceGroup?.attempts).toBe(announcedWaits(run.stderr, "arm resourceGroup").length + 1);
        expect(result.resourceGroup?.attempts).toBeGreaterThanOrEqual(2);
        expect(result.permissions).toBeNull();
        expect(result.error).toEqual({
          stage: "arm",
          status: 200,
          code: null,
          message: `ARM still allowed the read when the deadline of ${deadline}s passed: access was not refused`,
        });
        expect(run.stderr).toContain(
          "probe: arm resourceGroup attempt 1: HTTP 200, still allowed: waiting for the refusal\n",
        );
        expect(run.stderr).toContain(`probe: arm resourceGroup: deadline of ${deadline}s reached; giving up\n`);
      });
    });
  });

  describe("retries", () => {
    it.each([404, 410, 429, 500, 503] as const)("rides out an IMDS %i burst", async (status) => {
      await withLab({ imdsBurst: { status, count: 1 } }, async (lab) => {
        const run = await probe(lab, envFor(lab), VIRTUAL);
        expectVerified(lab, run, user(lab.vm).principalId);
        expect(run.result?.token?.attempts).toBe(2);
        expect(run.requests).toEqual([`imds ${status} ${TOKEN_PATH}`, ...happyRequests(lab)]);
        expect(run.stderr).toContain(`probe: imds token attempt 1: HTTP ${status}`);
      });
    });

    it("PROBE_EXPECT=denied waits out a revocation: 200 while it propagates, then the 403 proves it", async () => {
      await withLab(
        {},
        async (lab) => {
          const deployerRequest = (method: "GET" | "DELETE", path: string) => lab.azure.arm.request(method, path);
          const listed = await deployerRequest(
            "GET",
            `${lab.vm.resourceGroupId}/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01`,
          );
          const ids = (listed.body as { value: Array<{ id: string; properties: { principalId: string } }> }).value
            .filter((a) => a.properties.principalId === user(lab.vm).principalId)
            .map((a) => a.id);
          expect(ids).toHaveLength(1);
          // Revoked now, but still authorizing (the window counts from the deletion) until ARM has answered
          // the probe with a 200 at least once: then the revocation takes effect.
          await deployerRequest("DELETE", `${ids[0]}?api-version=2022-04-01`);
          lab.azure.faults.rbacDelaySeconds = 3600;
          const mark = lab.azure.requestLog.length;
          const running = probe(
            { azure: lab.azure, vm: lab.vm },
            { ...envFor(lab), MI_CLIENT_ID: user(lab.vm).clientId, PROBE_EXPECT: "denied" },
          );
          const allowedOnce = () =>
            lab.azure.requestLog
              .slice(mark)
              .some(
                (entry) => entry.service === "arm" && entry.status === 200 && entry.path === lab.vm.resourceGroupId,
              );
          let settled = false;
          void running.finally(() => {
            settled = true;
          });
          while (!allowedOnce() && !settled) await new Promise((resolve) => setTimeout(resolve, 20));
          lab.azure.faults.rbacDelaySeconds = 0;
          const run = await running;
          expect(run.exitCode, run.stderr).toBe(0);
          const result = run.result as ProbeResultV1;
          expect(result.error).toMatchObject({ stage: "arm", status: 403, code: "AuthorizationFailed" });
          expect(result.resourceGroup?.attempts).toBeGreaterThanOrEqual(2);
          expect(run.stderr).toContain("HTTP 200, still allowed: waiting for the refusal");
          expect(run.requests.filter((r) => r.startsWith("arm 200 "))).not.toEqual([]);
          expect(run.requests.at(-1)).toBe(`arm 403 ${lab.vm.resourceGroupId}`);
        },
        { grant: true },
      );
    });

    it("backs off more each time: 1 s, then 1.5 s", async () => {
      await withLab({ imdsBurst: { status: 503, count: 2 } }, async (lab) => {
        const run = await probe(lab, envFor(lab), VIRTUAL);
        expectVerified(lab, run, user(lab.vm).principalId);
        expect(run.result?.token?.attempts).toBe(3);
        expect(run.stderr).toContain("probe: imds token: retrying in 1.000s\n");
        expect(run.stderr).toContain("probe: imds token: retrying in 1.500s\n");
      });
    });

    it("gets a new token when ARM answers 401 mid-run, then reads", async () => {
      await withLab({ armUnauthorized: { count: 1 } }, async (lab) => {
        const run = await probe(lab, envFor(lab), VIRTUAL);
        expectVerified(lab, run, user(lab.vm).principalId);
        expect(run.result?.token?.attempts).toBe(2);
        expect(run.result?.resourceGroup?.attempts).toBe(2);
        expect(run.requests).toEqual([`imds 200 ${TOKEN_PATH}`, `arm 401 ${rgPath(lab)}`, ...happyRequests(lab)]);
      });
    });

    it("waits the Retry-After ARM asks for on 429", async () => {
      await withLab({ armThrottle: { count: 1, retryAfterSeconds: 2 } }, async (lab) => {
        const run = await probe(lab, envFor(lab), VIRTUAL);
        expectVerified(lab, run, user(lab.vm).principalId);
        expect(run.result?.resourceGroup?.attempts).toBe(2);
        expect(run.stderr).toMatch(
          /probe: arm resourceGroup attempt 1: HTTP 429[^\n]*\nprobe: arm resourceGroup: retrying in 2\.000s\n/,
        );
      });
    });

    it("keeps reading through 403 AuthorizationFailed until a new role assignment propagates", async () => {
      // Deterministic: the VM starts without access, and Reader is granted only once a denial was seen.
      await withLab(
        { rbacDelaySeconds: 0.5 },
        async (lab) => {
          const identity = user(lab.vm);
          const running = probe(lab, envFor(lab));
          await vi.waitFor(
            () =>
              expect(lab.azure.requestLog.some((entry) => entry.path === rgPath(lab) && entry.status === 403)).toBe(
                true,
              ),
            // Waits for the event; the timeout only guards against a probe that never reads.
            { timeout: 60_000, interval: 20 },
          );
          const assignment = await lab.azure.arm.request(
            "PUT",
            `${lab.vm.resourceGroupId}/providers/Microsoft.Authorization/roleAssignments/${randomUUID()}?api-version=2022-04-01`,
            {
              properties: {
                roleDefinitionId: `/subscriptions/${lab.azure.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${READER_ROLE_ID}`,
                principalId: identity.principalId,
                principalType: "ServicePrincipal",
              },
            },
          );
          expect([200, 201]).toContain(assignment.status);
          const run = await running;
          expectVerified(lab, run, identity.principalId);
          expect(run.result?.resourceGroup?.attempts).toBeGreaterThanOrEqual(2);
          // Denied until the grant took effect, then noticed at the very next read: no read after the
          // first 200, and no wait longer than the 3 s cap in between.
          const reads = run.requests.filter((request) => request.endsWith(` ${rgPath(lab)}`));
          expect(reads.slice(0, -1).every((read) => read === `arm 403 ${rgPath(lab)}`)).toBe(true);
          expect(reads.at(-1)).toBe(`arm 200 ${rgPath(lab)}`);
          expect(Math.max(...announcedWaits(run.stderr, "arm resourceGroup"))).toBeLessThanOrEqual(3);
        },
        { grant: false },
      );
    });
  });

  describe("answers Local Azure has no knob for, injected by a loopback proxy", () => {
    const RG_READ = "/resourceGroups/probe-rg?";

    it.each([
      [
        "a JSON 500",
        {
          status: 500,
          headers: { "content-type": "application/json" },
          body: '{"error":{"code":"InternalServerError","message":"boom"}}',
        },
      ],
      ["an HTML 502", { status: 502, headers: { "content-type": "text/html" }, body: HTML_502 }],
      ["an empty 503", { status: 503, body: "" }],
    ])("retries ARM 5xx: %s", async (_name, answer) => {
      await withProxiedLab(async (_lab, { arm, env, caBundlePath }) => {
        arm.inject(RG_READ, 1, answer);
        const run = await runProbe(env, { caBundlePath, clock: "virtual" });
        expect(run.exitCode, run.stderr).toBe(0);
        expect(run.result?.ok).toBe(true);
        expect(run.result?.resourceGroup?.attempts).toBe(2);
        expect(run.stderr).toContain(`probe: arm resourceGroup attempt 1: HTTP ${answer.status}`);
      });
    });

    it("retries the 'Identity not found' window right after an identity is attached", async () => {
      await withProxiedLab(async (_lab, { imds, env, caBundlePath }) => {
        imds.inject(TOKEN_PATH, 2, {
          status: 400,
          headers: { "content-type": "application/json" },
          body: '{"error":"invalid_request","error_description":"Identity not found"}',
        });
        const run = await runProbe(env, { caBundlePath, clock: "virtual" });
        expect(run.exitCode, run.stderr).toBe(0);
        expect(run.result?.token?.attempts).toBe(3);
        expect(run.stderr).toContain("probe: imds token attempt 1: HTTP 400 invalid_request: Identity not found\n");
      });
    });

    it("stops at once on any other IMDS 400, with attempts 1 and IMDS's own words", async () => {
      await withProxiedLab(async (_lab, { imds, env, caBundlePath }) => {
        const description =
          "Multiple user assigned identities exist, please specify the clientId / resourceId of the identity in the token request";
        imds.inject(TOKEN_PATH, 1, {
          status: 400,
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ error: "invalid_request", error_description: description }),
        });
        const run = await runProbe(env, { caBundlePath });
        expect(run.exitCode).toBe(1);
        expect(run.result?.ok).toBe(false);
        expect(run.result?.token).toEqual({ status: 400, attempts: 1, expiresOn: null, claims: null });
        expect(run.result?.resourceGroup).toBeNull();
        expect(run.result?.permissions).toBeNull();
        expect(run.result?.error).toEqual({
          stage: "imds",
          status: 400,
          code: "invalid_request",
          message: description,
        });
        expect(imds.seen).toHaveLength(1);
      });
    });

    it("keeps ARM's last answer as the evidence when the deadline cuts off the next try", async () => {
      await withProxiedLab(async (_lab, { arm, env, caBundlePath }) => {
        const error = {
          code: "AuthorizationFailed",
          message: "The client 'c' with object id 'o' does not have authorization to perform action 'read'.",
        };
        arm.inject(RG_READ, 1, {
          status: 403,
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ error }),
        });
        arm.inject(RG_READ, 1_000, { status: 0, body: "", hang: true });
        const clock = startVirtualClock();
        const running = runProbe(
          { ...env, PROBE_DEADLINE_SECONDS: String(CUT_OFF_DEADLINE_SECONDS) },
          { caBundlePath, clock },
        );
        // The second try is held unanswered: the test lets its --max-time pass on the probe's clock.
        const run = await Promise.race([arm.hanging().then(() => clock.timeOutCurl()), running])
          .then(() => running)
          .finally(clock.remove);
        expect(run.exitCode).toBe(1);
        expect(run.result?.resourceGroup?.status).toBe(403);
        expect(run.result?.error).toEqual({ stage: "arm", status: 403, ...error });
        expect(run.stderr).toMatch(/probe: arm resourceGroup attempt 2: .*timed out/);
      });
    });

    it("stops at once on ARM 404 and carries ARM's error", async () => {
      await withProxiedLab(async (_lab, { arm, env, caBundlePath }) => {
        const error = { code: "ResourceGroupNotFound", message: "Resource group 'probe-rg' could not be found." };
        arm.inject(RG_READ, 1, {
          status: 404,
          headers: { "content-type": "application/json; charset=utf-8" },
          body: JSON.stringify({ error }),
        });
        const run = await runProbe(env, { caBundlePath });
        expect(run.exitCode).toBe(1);
        expect(run.result?.resourceGroup).toEqual({ status: 404, attempts: 1, body: { error } });
        expect(run.result?.permissions).toBeNull();
        expect(run.result?.error).toEqual({ stage: "arm", status: 404, ...error });
        expect(arm.seen).toHaveLength(1);
      });
    });

    it("carries no more of a body that is not JSON than PROBE_MAX_TEXT_BYTES, as Run Command asks", async () => {
      await withProxiedLab(async (_lab, { arm, env, caBundlePath }) => {
        const page = `<html><body>${"proxy says no. ".repeat(400)}</body></html>`;
        arm.inject(RG_READ, 1, { status: 404, headers: { "content-type": "text/html" }, body: page });
        const run = await runProbe(env, { caBundlePath, extraEnv: { PROBE_MAX_TEXT_BYTES: "256" } });
        expect(run.exitCode).toBe(1);
        expect(run.result?.resourceGroup).toEqual({
          status: 404,
          attempts: 1,
          body: `${page.slice(0, 256)}...[truncated: first 256 of ${page.length} bytes]`,
        });
        // The whole report stays far below the 4,096 bytes Azure keeps of a run command's output.
        expect(Buffer.byteLength(run.stdout)).toBeLessThan(2048);
      });
    });

    it("carries a body that is not JSON as a string, byte for byte, on one stdout line", async () => {
      await withProxiedLab(async (_lab, { arm, env, caBundlePath }) => {
        arm.inject(RG_READ, 1, { status: 404, headers: { "content-type": "text/html" }, body: HTML_502 });
        const run = await runProbe(env, { caBundlePath });
        expect(run.exitCode).toBe(1);
        expect(run.stdout.endsWith("}\n")).toBe(true);
        expect(run.stdout.trimEnd().split("\n")).toHaveLength(1);
        expect(run.result?.resourceGroup).toEqual({ status: 404, attempts: 1, body: HTML_502 });
        expect(run.result?.error).toEqual({
          stage: "arm",
          status: 404,
          code: null,
          message: "ARM answered HTTP 404 with a body that is not JSON",
        });
      });
    });

    it("bounds a huge body: reads at most 64 KiB and carries 4 KiB of it with a marker", async () => {
      await withProxiedLab(async (_lab, { arm, env, caBundlePath }) => {
        arm.inject(RG_READ, 1, { status: 404, body: Buffer.alloc(3 * 1024 * 1024, "A") });
        const run = await runProbe(env, { caBundlePath });
        expect(run.exitCode).toBe(1);
        expect(run.result?.resourceGroup?.body).toBe(
          `${"A".repeat(4096)}...[truncated: first 4096 of more than 65536 bytes]`,
        );
      });
    });

    it("never shows an issued token or its signature: not on stdout, stderr, any command line or in TMPDIR", async () => {
      await withProxiedLab(async (_lab, { arm, imds, env, caBundlePath }) => {
        const spy = startCommandSpy();
        const tmp = mkdtempSync(path.join(tmpdir(), "probe-tmp-"));
        try {
          // A 401 makes the probe fetch a second token, so two tokens pass through its hands.
          arm.inject(RG_READ, 1, {
            status: 401,
            headers: { "content-type": "application/json" },
            body: '{"error":{"code":"InvalidAuthenticationToken","message":"revoked"}}',
          });
          const run = await runProbe(env, {
            caBundlePath,
            pathPrefix: spy.pathPrefix,
            extraEnv: { TMPDIR: tmp },
            clock: "virtual",
          });
          expect(run.exitCode, run.stderr).toBe(0);
          const tokens = imds.keptAnswers.map((body) => (JSON.parse(body) as { access_token: string }).access_token);
          expect(tokens).toHaveLength(2);
          const commandLines = spy.commandLines();
          expect(commandLines.filter((line) => line.startsWith("curl "))).toHaveLength(5);
          for (const token of tokens) {
            const signature = token.split(".")[2] as string;
            expect(signature.length).toBeGreaterThan(20);
            for (const secret of [token, signature]) {
              expect(run.stdout).not.toContain(secret);
              expect(run.stderr).not.toContain(secret);
              for (const line of commandLines) expect(line).not.toContain(secret);
            }
          }
          expect(`${run.stdout}${run.stderr}`).not.toMatch(/eyJ[\w-]+\.eyJ[\w-]+/);
          expect(readdirSync(tmp)).toEqual([]);
        } finally {
          spy.remove();
          rmSync(tmp, { recursive: true, force: true });
        }
      });
    });
  });

  describe("transport failures", () => {
    it("retries a refused IMDS connection until the deadline, then reports it (status null)", async () => {
      // Port 9 (discard) on loopback: nothing listens there, so every connection is refused.
      const run = await runProbe(
        {
          AZURE_POD_IDENTITY_AUTHORITY_HOST: "http://127.0.0.1:9",
          SUBSCRIPTION_ID: "00000000-0000-4000-8000-000000000001",
          RESOURCE_GROUP: "rg",
          PROBE_DEADLINE_SECONDS: String(CUT_OFF_DEADLINE_SECONDS),
        },
        VIRTUAL,
      );
      expect(run.exitCode).toBe(1);
      expect(run.result?.token?.status).toBeNull();
      const waits = announcedWaits(run.stderr, "imds token");
      expect(waits.length).toBeGreaterThanOrEqual(1);
      expect(run.result?.token?.attempts).toBe(waits.length + 1);
      expect(waits.reduce((sum, wait) => sum + wait, 0)).toBeLessThanOrEqual(CUT_OFF_DEADLINE_SECONDS);
      expect(run.result?.resourceGroup).toBeNull();
      expect(run.result?.error).toEqual({
        stage: "imds",
        status: null,
        code: null,
        message: "token request failed: connection refused or host unreachable (curl exit 7)",
      });
      expect(run.stderr).toContain(`probe: imds token: deadline of ${CUT_OFF_DEADLINE_SECONDS}s reached; giving up\n`);
    });
  });
});

describe("pure helpers inside the probe", () => {
  it("inspect_body with carry 0 (the token answer) keeps no copy of the body", () => {
    const { stdout } = runProbeFunctions(
      `inspect_body '{"access_token":"a.b.c","expires_on":"17"}' "access_token expires_on" 0
printf '%s|%s|%s|%s' "$BODY_CARRIED" "\${FIELD_DEC[0]}" "\${FIELD_RAW[1]}" "$BODY_IS_JSON"`,
    );
    expect(stdout).toBe('|a.b.c|"17"|1');
  });

  it("json_string escapes bytes that are not UTF-8 as \\u00XX and keeps well-formed UTF-8", () => {
    const { stdout } = runProbeFunctions(`json_string "$(cat)"; printf '%s' "$REPLY"`, {
      input: Buffer.from([0xff, 0x41, 0x22]),
    });
    expect(stdout).toBe('"\\u00ffA\\""');
    const utf8 = runProbeFunctions(`json_string "$(cat)"; printf '%s' "$REPLY"`, { input: "rg-é漢" });
    expect(utf8.stdout).toBe('"rg-é漢"');
  });

  it.each([
    ["https://management.azure.com/", "https%3A%2F%2Fmanagement.azure.com%2F"],
    [
      "/subscriptions/s/resourceGroups/My RG/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-1",
      "%2Fsubscriptions%2Fs%2FresourceGroups%2FMy%20RG%2Fproviders%2FMicrosoft.ManagedIdentity%2FuserAssignedIdentities%2Fid-1",
    ],
    ["a&b=c?d#e", "a%26b%3Dc%3Fd%23e"],
    ["rg_(1).x~-", "rg_%281%29.x~-"],
    ["é", "%C3%A9"],
  ])("url_encode %j", (input, encoded) => {
    const { stdout } = runProbeFunctions(`url_encode ${shellWord(input)}; printf '%s' "$REPLY"`);
    expect(stdout).toBe(encoded);
  });

  it.each(["plain", 'quote " and backslash \\', "tab\tnewline\n", "é and \u0001", ""])("json_string %j", (input) => {
    const { stdout } = runProbeFunctions(`json_string "$(cat; printf x)"; printf '%s' "$REPLY"`, { input: `${input}` });
    // The probe's input arrives with a trailing sentinel "x" so that a trailing newline survives.
    expect(JSON.parse(stdout)).toBe(`${input}x`);
  });
});

describe("the virtual clock the waiting tests run the probe on", () => {
  it("covers every way verify/probe.sh reads the time or waits, and names any other", () => {
    expect(() => checkTimeSources(probeScript())).not.toThrow();
    // The probe's own forms: a literal in its format, or a variable it formats so.
    expect(() => checkTimeSources('sleep 1.500; sleep "$delay"; sleep $wait')).not.toThrow();
    for (const [snippet, named] of [
      ["t=$EPOCHSECONDS", "EPOCHSECONDS"],
      ["elapsed=$SECONDS", "SECONDS"],
      ["read -r -t 5 line", "read -t"],
      ["timeout 5 curl x", "timeout, usleep or wait"],
      ["printf -v t '%(%s)T' -1", "printf's %(...)T"],
      ["t=$(date +%s)", "date other than $(date +%s%3N)"],
      ["until ready; do sleep 1; done", "sleep other than sleep N.NNN"],
      ["sleep 0.5", "sleep other than sleep N.NNN"],
      ["sleep 1.5000", "sleep other than sleep N.NNN"],
    ]) {
      expect(() => checkTimeSources(snippet), snippet).toThrow(
        `the virtual clock does not cover what the script uses to read time or wait: ${named}`,
      );
    }
  });

  it("sleeps by moving the clock on at once, by exactly what was asked; date +%s%3N reads it", () => {
    const clock = startVirtualClock();
    try {
      const before = clock.now();
      // On stdin, as the probe runs (bash -c would read ~/.bashrc when its stdin is a socket).
      const result = spawnSync("bash", ["-s"], {
        input: `${clock.prelude}a=$(date +%s%3N); sleep 2.250; b=$(date +%s%3N)
printf '%s %s %s' "\${EPOCHREALTIME-unset}" "$a" "$((b - a))"; sleep 1`,
        encoding: "utf8",
        env: { PATH: "/usr/bin:/bin" },
      });
      expect(result.stdout).toBe(`unset ${before} 2250`);
      expect(clock.now()).toBe(before + 2250);
      // Only the probe's own form ("%d.%03d") is simulated: any other fails, saying so.
      expect(result.status).toBe(1);
      expect(result.stderr).toBe("virtual clock: sleep 1 is not simulated\n");
    } finally {
      clock.remove();
    }
  });
});
