import type { Faults } from "../../local-azure";
import { CUT_OFF_DEADLINE_SECONDS } from "../support/probeRunner";

/**
 * The reliability and security matrix as data: every row states what is tried and what must hold.
 * The vitest files under tests/matrix run these rows, and `npm run bench -- --matrix` runs the very
 * same rows to print the summary, so the table and the tests can never drift apart.
 */

// ---------------------------------------------------------------------------------------------
// Faults survived (the probe run directly against Local Azure, as the VM would run it)
// ---------------------------------------------------------------------------------------------

/** What happens to the seeded VM between seeding and the probe run. */
export type Mutation =
  /** Detach every identity from the VM (PUT identity type None): its token requests must fail. */
  | "remove-identity"
  /** No Reader at the VM's own group; a Reader assignment for the identity at a sibling group instead. */
  | "reader-at-sibling-group"
  /** The identity's Reader assignment at the VM's group is deleted (a revocation), just before the probe. */
  | "revoke-reader";

export interface ProbeFaultCase {
  id: string;
  /** What was tried, in words, for the summary table. */
  tried: string;
  identity: "user" | "system";
  /** Whether seedVm creates the Reader assignment at the VM's resource group. */
  grant: boolean;
  /** Faults in force while the VM is seeded (windows that start at creation: RBAC delay, attach delay). */
  faultsAtSeed?: Partial<Faults>;
  /** Faults switched on after seeding, just before the probe runs (bursts, throttling, revocation). */
  faultsAtProbe?: Partial<Faults>;
  mutation?: Mutation;
  /**
   * A time window of the faults above (held open: WINDOW_HELD_OPEN) that the harness shuts once Local
   * Azure has answered the probe `status` from `service` (from ARM: to the resource group read): the
   * probe meets the window exactly as long as it takes to be told once, however busy the machine.
   * A window of seconds would either close before a slow probe's first request or need waits. It rests
   * on one ordering: Local Azure reports an answer (onRequest, on the response's finish) before it
   * handles the probe's next request, which comes from a new curl process after a new TLS handshake.
   */
  windowShutAfter?: {
    fault: "identityAttachDelaySeconds" | "rbacDelaySeconds" | "revocationDelaySeconds";
    service: "imds" | "arm";
    status: number;
  };
  /** PROBE_DEADLINE_SECONDS for this run: CUT_OFF_DEADLINE_SECONDS where the row ends in failure. */
  deadlineSeconds: number;
  /** PROBE_EXPECT=denied: the probe waits for ARM's refusal (unset: contract v1's behaviour). */
  probeExpect?: "denied";
  expect: {
    exitCode: 0 | 1;
    /** The judge's verdict under each expectation: exactly one (or neither) may hold, never a false one. */
    verifiedWhenGranted: boolean;
    verifiedWhenDenied: boolean;
    /** The probe's error, when it must end in one. */
    error?: { stage: "imds" | "arm"; status: number | null; code: string | null };
    /** Lower bounds proving the fault was actually met and retried, not skipped. */
    minTokenAttempts?: number;
    minResourceGroupAttempts?: number;
    /** Exact HTTP request count for rows where it is fixed (the happy path: token, read, permissions). */
    requests?: number;
  };
}

/** A fault window, in seconds, that only windowShutAfter ends (an hour: never, within a test). */
export const WINDOW_HELD_OPEN = 3600;

const NO_DELAYS: Partial<Faults> = { rbacDelaySeconds: 0, identityAttachDelaySeconds: 0, sshNotReadySeconds: 0 };

const imdsBurst = (status: 404 | 410 | 429 | 500 | 503): ProbeFaultCase => ({
  id: `imds-${status}-burst`,
  tried: `IMDS answers ${status} to the first 2 token requests`,
  identity: "user",
  grant: true,
  faultsAtSeed: NO_DELAYS,
  faultsAtProbe: { imdsBurst: { status, count: 2 } },
  deadlineSeconds: 30,
  expect: { exitCode: 0, verifiedWhenGranted: true, verifiedWhenDenied: false, minTokenAttempts: 3, requests: 5 },
});

export const PROBE_FAULT_CASES: ProbeFaultCase[] = [
  {
    id: "happy-user",
    tried: "no fault, user-assigned identity (client_id selector)",
    identity: "user",
    grant: true,
    faultsAtSeed: NO_DELAYS,
    deadlineSeconds: 30,
    expect: { exitCode: 0, verifiedWhenGranted: true, verifiedWhenDenied: false, requests: 3 },
  },
  {
    id: "happy-system",
    tried: "no fault, system-assigned identity",
    identity: "system",
    grant: true,
    faultsAtSeed: NO_DELAYS,
    deadlineSeconds: 30,
    expect: { exitCode: 0, verifiedWhenGranted: true, verifiedWhenDenied: false, requests: 3 },
  },
  imdsBurst(429),
  imdsBurst(500),
  imdsBurst(503),
  imdsBurst(404),
  imdsBurst(410),
  {
    id: "identity-not-found-window",
    tried: 'IMDS says 400 "Identity not found" after the identity is attached, until it has told the probe so once',
    identity: "user",
    grant: true,
    faultsAtSeed: { ...NO_DELAYS, identityAttachDelaySeconds: WINDOW_HELD_OPEN },
    windowShutAfter: { fault: "identityAttachDelaySeconds", service: "imds", status: 400 },
    deadlineSeconds: 30,
    expect: { exitCode: 0, verifiedWhenGranted: true, verifiedWhenDenied: false, minTokenAttempts: 2 },
  },
  {
    id: "rbac-propagation",
    tried:
      "the new Reader assignment does not authorize yet (rbacDelaySeconds): ARM 403 AuthorizationFailed to the first read, then the grant has propagated",
    identity: "user",
    grant: true,
    faultsAtSeed: { ...NO_DELAYS, rbacDelaySeconds: WINDOW_HELD_OPEN },
    windowShutAfter: { fault: "rbacDelaySeconds", service: "arm", status: 403 },
    deadlineSeconds: 30,
    expect: { exitCode: 0, verifiedWhenGranted: true, verifiedWhenDenied: false, minResourceGroupAttempts: 2 },
  },
  {
    id: "arm-401-mid-run",
    tried: "ARM rejects the first token with 401 InvalidAuthenticationToken (revoked mid-run)",
    identity: "user",
    grant: true,
    faultsAtSeed: NO_DELAYS,
    faultsAtProbe: { armUnauthorized: { count: 1 } },
    deadlineSeconds: 30,
    // A fresh token must be fetched before the read is retried.
    expect: {
      exitCode: 0,
      verifiedWhenGranted: true,
      verifiedWhenDenied: false,
      minTokenAttempts: 2,
      minResourceGroupAttempts: 2,
      requests: 5,
    },
  },
  {
    id: "arm-429-retry-after",
    tried: "ARM answers 429 with Retry-After: 1 to the first read",
    identity: "user",
    grant: true,
    faultsAtSeed: NO_DELAYS,
    faultsAtProbe: { armThrottle: { count: 1, retryAfterSeconds: 1 } },
    deadlineSeconds: 30,
    expect: {
      exitCode: 0,
      verifiedWhenGranted: true,
      verifiedWhenDenied: false,
      minResourceGroupAttempts: 2,
      requests: 4,
    },
  },
  {
    id: "identity-removed-user",
    tried: "the user-assigned identity is detached from the VM before the probe runs",
    identity: "user",
    grant: true,
    faultsAtSeed: NO_DELAYS,
    mutation: "remove-identity",
    deadlineSeconds: CUT_OFF_DEADLINE_SECONDS,
    expect: {
      exitCode: 1,
      verifiedWhenGranted: false,
      verifiedWhenDenied: false,
      error: { stage: "imds", status: 400, code: null },
    },
  },
  {
    id: "identity-removed-system",
    tried: "the system-assigned identity is removed from the VM before the probe runs",
    identity: "system",
    grant: true,
    faultsAtSeed: NO_DELAYS,
    mutation: "remove-identity",
    deadlineSeconds: CUT_OFF_DEADLINE_SECONDS,
    expect: {
      exitCode: 1,
      verifiedWhenGranted: false,
      verifiedWhenDenied: false,
      error: { stage: "imds", status: 400, code: null },
    },
  },
  {
    id: "reader-at-sibling-group",
    tried: "Reader granted at a sibling resource group only; the probe reads the VM's own group",
    identity: "user",
    grant: false,
    faultsAtSeed: NO_DELAYS,
    mutation: "reader-at-sibling-group",
    deadlineSeconds: CUT_OFF_DEADLINE_SECONDS,
    expect: {
      exitCode: 1,
      verifiedWhenGranted: false,
      verifiedWhenDenied: true,
      error: { stage: "arm", status: 403, code: "AuthorizationFailed" },
      minResourceGroupAttempts: 2,
    },
  },
  {
    id: "revocation-waited-out",
    tried:
      "the Reader assignment is deleted just before the probe and keeps authorizing (revocationDelaySeconds, --revocation-delay) until ARM has allowed the first read; PROBE_EXPECT=denied waits for the 403",
    identity: "user",
    grant: true,
    faultsAtSeed: NO_DELAYS,
    mutation: "revoke-reader",
    faultsAtProbe: { revocationDelaySeconds: WINDOW_HELD_OPEN },
    windowShutAfter: { fault: "revocationDelaySeconds", service: "arm", status: 200 },
    probeExpect: "denied",
    deadlineSeconds: 30,
    expect: {
      exitCode: 0,
      verifiedWhenGranted: false,
      verifiedWhenDenied: true,
      error: { stage: "arm", status: 403, code: "AuthorizationFailed" },
      minResourceGroupAttempts: 2,
    },
  },
  {
    id: "revocation-not-by-deadline",
    tried: "the deleted Reader assignment keeps authorizing past PROBE_DEADLINE_SECONDS=2 (PROBE_EXPECT=denied)",
    identity: "user",
    grant: true,
    faultsAtSeed: NO_DELAYS,
    mutation: "revoke-reader",
    faultsAtProbe: { revocationDelaySeconds: WINDOW_HELD_OPEN },
    probeExpect: "denied",
    deadlineSeconds: 2,
    // Exit 1 fails the remote command, so the next `pulumi up` probes again; no false verdict either way.
    expect: {
      exitCode: 1,
      verifiedWhenGranted: false,
      verifiedWhenDenied: false,
      error: { stage: "arm", status: 200, code: null },
      minResourceGroupAttempts: 2,
    },
  },
  {
    id: "revocation-unseen-by-v1",
    tried: "the same revocation probed without PROBE_EXPECT (contract v1): ARM's first 200 ends the run",
    identity: "user",
    grant: true,
    faultsAtSeed: NO_DELAYS,
    mutation: "revoke-reader",
    faultsAtProbe: { revocationDelaySeconds: WINDOW_HELD_OPEN },
    deadlineSeconds: 30,
    // Why the denied case waits: read once, the revoked grant still looks like access.
    expect: { exitCode: 0, verifiedWhenGranted: true, verifiedWhenDenied: false, requests: 3 },
  },
  {
    id: "deadline-no-grant",
    tried: "no role assignment at all and a short PROBE_DEADLINE_SECONDS: the deadline must end the retries",
    identity: "system",
    grant: false,
    faultsAtSeed: NO_DELAYS,
    deadlineSeconds: CUT_OFF_DEADLINE_SECONDS,
    expect: {
      exitCode: 1,
      verifiedWhenGranted: false,
      verifiedWhenDenied: true,
      error: { stage: "arm", status: 403, code: "AuthorizationFailed" },
      minResourceGroupAttempts: 2,
    },
  },
];

/** What one probe run produced, reduced to the facts the matrix asserts. */
export interface ProbeObservation {
  exitCode: number | null;
  verifiedWhenGranted: boolean;
  verifiedWhenDenied: boolean;
  error: { stage: string; status: number | null; code: string | null } | null;
  tokenAttempts: number | null;
  resourceGroupAttempts: number | null;
  /** HTTP requests Local Azure saw from the probe (IMDS + ARM). */
  requests: number;
  elapsedSeconds: number;
  /** stdout held exactly one JSON object. */
  stdoutIsOneObject: boolean;
}

/** Every way `seen` departs from what `row` requires; empty when the row held. */
export function probeFaultProblems(row: ProbeFaultCase, seen: ProbeObservation): string[] {
  const problems: string[] = [];
  const want = row.expect;
  if (!seen.stdoutIsOneObject) problems.push("stdout was not exactly one JSON object");
  if (seen.exitCode !== want.exitCode) problems.push(`exit code ${seen.exitCode}, expected ${want.exitCode}`);
  if (seen.verifiedWhenGranted !== want.verifiedWhenGranted) {
    problems.push(`judged as granted: verified ${seen.verifiedWhenGranted}, expected ${want.verifiedWhenGranted}`);
  }
  if (seen.verifiedWhenDenied !== want.verifiedWhenDenied) {
    problems.push(`judged as denied: verified ${seen.verifiedWhenDenied}, expected ${want.verifiedWhenDenied}`);
  }
  if (want.error === undefined && seen.error !== null) problems.push(`unexpected error ${JSON.stringify(seen.error)}`);
  if (want.error !== undefined) {
    const got = seen.error;
    if (
      got === null ||
      got.stage !== want.error.stage ||
      got.status !== want.error.status ||
      (want.error.code !== null && got.code !== want.error.code)
    ) {
      problems.push(`error ${JSON.stringify(got)}, expected ${JSON.stringify(want.error)}`);
    }
  }
  if (want.minTokenAttempts !== undefined && (seen.tokenAttempts ?? 0) < want.minTokenAttempts) {
    problems.push(`token attempts ${seen.tokenAttempts}, expected at least ${want.minTokenAttempts}`);
  }
  if (
    want.minResourceGroupAttempts !== undefined &&
    (seen.resourceGroupAttempts ?? 0) < want.minResourceGroupAttempts
  ) {
    problems.push(
      `resource group read attempts ${seen.resourceGroupAttempts}, expected at least ${want.minResourceGroupAttempts}`,
    );
  }
  if (want.requests !== undefined && seen.requests !== want.requests) {
    problems.push(`${seen.requests} HTTP requests, expected exactly ${want.requests}`);
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// End to end through deployLocal (only where the program itself matters)
// ---------------------------------------------------------------------------------------------

export interface DeployCase {
  id: string;
  tried: string;
  options: {
    identity?: "user" | "system" | "both";
    grantAccess?: boolean;
    faults?: Partial<Faults>;
  };
  expect: {
    ok: boolean;
    /** The stored accessCheck output's verdict (undefined: the output must be absent). */
    verified: boolean;
    expectation: "granted" | "denied";
    /** Fragments the deployment's error must contain (the failed checks it names). */
    errorMentions?: string[];
  };
}

export const DEPLOY_CASES: DeployCase[] = [
  {
    id: "e2e-faults-survived",
    tried: "deployLocal with SSH refusing for 1.5 s, IMDS 503 x2 and RBAC propagation 1.5 s at once",
    options: {
      identity: "user",
      faults: { sshNotReadySeconds: 1.5, imdsBurst: { status: 503, count: 2 }, rbacDelaySeconds: 1.5 },
    },
    expect: { ok: true, verified: true, expectation: "granted" },
  },
  {
    id: "e2e-denial-by-fault",
    tried:
      "deployLocal with grantAccess false while ARM throttles every identity request (429): denial cannot be proven",
    options: {
      identity: "system",
      grantAccess: false,
      faults: { armThrottle: { count: 100_000, retryAfterSeconds: 1 } },
    },
    expect: { ok: false, verified: false, expectation: "denied", errorMentions: ["access-denied"] },
  },
];

// ---------------------------------------------------------------------------------------------
// Bad settings (each a clear error naming key, value and what is allowed; nothing created)
// ---------------------------------------------------------------------------------------------

export interface BadSettingCase {
  id: string;
  /** Raw settings on top of a valid base (sshAllowedCidr set); `undefined` removes the key. */
  raw: Record<string, string | undefined>;
  azureEnvironment?: string;
  /** The setting the message must name, e.g. "vm-identity-access:vmCount". */
  names: string;
  /** The bad value, exactly as the message must quote it (omitted for a missing value). */
  value?: string;
  /** A fragment of what is allowed, which the message must contain. */
  allowed: string;
}

export const VALID_BASE_SETTINGS: Record<string, string> = { sshAllowedCidr: "203.0.113.7/32" };

const NS = "vm-identity-access";

export const BAD_SETTING_CASES: BadSettingCase[] = [
  {
    id: "identity-unknown",
    raw: { identity: "users" },
    names: `${NS}:identity`,
    value: "users",
    allowed: "user, system, both",
  },
  { id: "cidr-missing", raw: { sshAllowedCidr: undefined }, names: `${NS}:sshAllowedCidr`, allowed: "required" },
  {
    id: "cidr-internet",
    raw: { sshAllowedCidr: "0.0.0.0/0" },
    names: `${NS}:sshAllowedCidr`,
    value: "0.0.0.0/0",
    allowed: "whole Internet",
  },
  {
    id: "cidr-host-bits",
    raw: { sshAllowedCidr: "10.1.2.3/24" },
    names: `${NS}:sshAllowedCidr`,
    value: "10.1.2.3/24",
    allowed: "10.1.2.0/24",
  },
  {
    id: "cidr-bare-address",
    raw: { sshAllowedCidr: "203.0.113.7" },
    names: `${NS}:sshAllowedCidr`,
    value: "203.0.113.7",
    allowed: "203.0.113.7/32",
  },
  {
    id: "cidr-not-an-address",
    raw: { sshAllowedCidr: "300.1.1.1/32" },
    names: `${NS}:sshAllowedCidr`,
    value: "300.1.1.1/32",
    allowed: "CIDR form",
  },
  { id: "vmcount-zero", raw: { vmCount: "0" }, names: `${NS}:vmCount`, value: "0", allowed: "1 to 10" },
  { id: "vmcount-eleven", raw: { vmCount: "11" }, names: `${NS}:vmCount`, value: "11", allowed: "1 to 10" },
  { id: "vmcount-fraction", raw: { vmCount: "2.5" }, names: `${NS}:vmCount`, value: "2.5", allowed: "1 to 10" },
  { id: "vmcount-negative", raw: { vmCount: "-1" }, names: `${NS}:vmCount`, value: "-1", allowed: "1 to 10" },
  { id: "grant-yes", raw: { grantAccess: "yes" }, names: `${NS}:grantAccess`, value: "yes", allowed: "true or false" },
  {
    id: "timeout-below-minimum",
    raw: { accessCheckTimeoutSeconds: "29" },
    names: `${NS}:accessCheckTimeoutSeconds`,
    value: "29",
    allowed: "30 to 3600",
  },
  {
    id: "timeout-above-maximum",
    raw: { accessCheckTimeoutSeconds: "3601" },
    names: `${NS}:accessCheckTimeoutSeconds`,
    value: "3601",
    allowed: "30 to 3600",
  },
  {
    id: "arm-plain-http",
    raw: { armEndpoint: "http://management.azure.com" },
    names: `${NS}:armEndpoint`,
    value: "http://management.azure.com",
    allowed: "https",
  },
  {
    id: "arm-with-path",
    raw: { armEndpoint: "https://management.azure.com/subscriptions" },
    names: `${NS}:armEndpoint`,
    value: "https://management.azure.com/subscriptions",
    allowed: "base URL",
  },
  {
    id: "arm-not-a-url",
    raw: { armEndpoint: "management.azure.com" },
    names: `${NS}:armEndpoint`,
    value: "management.azure.com",
    allowed: "URL",
  },
  {
    id: "imds-ftp",
    raw: { imdsEndpoint: "ftp://169.254.169.254" },
    names: `${NS}:imdsEndpoint`,
    value: "ftp://169.254.169.254",
    allowed: "http or https",
  },
  { id: "sshport-zero", raw: { sshPort: "0" }, names: `${NS}:sshPort`, value: "0", allowed: "1 to 65535" },
  { id: "sshport-too-big", raw: { sshPort: "65536" }, names: `${NS}:sshPort`, value: "65536", allowed: "1 to 65535" },
  {
    id: "dial-limit-negative",
    raw: { sshDialErrorLimit: "-5" },
    names: `${NS}:sshDialErrorLimit`,
    value: "-5",
    allowed: "-1 (no limit) or a whole number from 0 to 1000",
  },
  { id: "admin-root", raw: { adminUsername: "root" }, names: `${NS}:adminUsername`, value: "root", allowed: "reserve" },
  {
    id: "admin-spaces",
    raw: { adminUsername: "Admin User" },
    names: `${NS}:adminUsername`,
    value: "Admin User",
    allowed: "lower-case",
  },
  { id: "vmsize-bare", raw: { vmSize: "B2s" }, names: `${NS}:vmSize`, value: "B2s", allowed: "Standard_B2s" },
  {
    id: "sshkey-dss",
    raw: { sshPublicKey: "ssh-dss AAAAB3NzaC1kc3M= me" },
    names: `${NS}:sshPublicKey`,
    value: "ssh-dss AAAAB3NzaC1kc3M= me",
    allowed: "ssh-ed25519 or ssh-rsa",
  },
  {
    id: "environment-unknown",
    raw: {},
    azureEnvironment: "mars",
    names: "azure-native:environment",
    value: "mars",
    allowed: "public, usgovernment, china",
  },
];

/** Every way an error message fails to name the setting, its value and what is allowed. */
export function badSettingProblems(row: BadSettingCase, message: string | null): string[] {
  if (message === null) return ["accepted: no error at all"];
  const problems: string[] = [];
  if (!message.includes(row.names)) problems.push(`does not name ${row.names}`);
  if (row.value !== undefined && !message.includes(JSON.stringify(row.value))) {
    problems.push(`does not quote the value ${JSON.stringify(row.value)}`);
  }
  if (!message.includes(row.allowed)) problems.push(`does not say what is allowed (${JSON.stringify(row.allowed)})`);
  if (/\n\s+at .+:\d+:\d+/.test(message)) problems.push("carries a stack trace");
  return problems;
}

/** Settings tried through a full deployLocal, where Local Azure must end up with nothing created. */
export const BAD_SETTINGS_THROUGH_DEPLOY = ["vmcount-eleven", "cidr-internet"];

// ---------------------------------------------------------------------------------------------
// Malformed probe output (fed to the judge and to `npm run verify`)
// ---------------------------------------------------------------------------------------------

/** A realistic probe JSON (DESIGN's example) for the identity in `facts`, built fresh each call. */
export function goodProbeJson(facts: {
  subscriptionId: string;
  resourceGroup: string;
  armEndpoint: string;
  clientId: string;
  principalId: string;
  tenantId: string;
  resourceId: string;
}): Record<string, unknown> {
  const rgId = `/subscriptions/${facts.subscriptionId}/resourceGroups/${facts.resourceGroup}`;
  return {
    probeVersion: 1,
    ok: true,
    identity: { selector: "client_id", value: facts.clientId },
    target: {
      subscriptionId: facts.subscriptionId,
      resourceGroup: facts.resourceGroup,
      armEndpoint: facts.armEndpoint,
      resource: `${facts.armEndpoint}/`,
    },
    token: {
      status: 200,
      attempts: 1,
      expiresOn: "1504130527",
      claims: {
        aud: `${facts.armEndpoint}/`,
        oid: facts.principalId,
        tid: facts.tenantId,
        appid: facts.clientId,
        xms_mirid: facts.resourceId,
      },
    },
    resourceGroup: {
      status: 200,
      attempts: 1,
      body: { id: rgId, name: facts.resourceGroup, location: "eastus", properties: { provisioningState: "Succeeded" } },
    },
    permissions: { status: 200, body: { value: [{ actions: ["*/read"], notActions: [] }] } },
    elapsedSeconds: 0.4,
    error: null,
  };
}

export interface MalformedProbeCase {
  id: string;
  tried: string;
  /** The probe's stdout as the remote command would capture it. */
  stdout: (good: Record<string, unknown>) => string;
}

const HOSTILE = "\u001b[31mFAKE ✓ VERIFIED\u001b[0m\r\n\u0000<script>alert(1)</script>$HOME $(id) `id`";

export const MALFORMED_PROBE_CASES: MalformedProbeCase[] = [
  { id: "empty", tried: "empty stdout", stdout: () => "" },
  {
    id: "truncated",
    tried: "the JSON cut off half-way (connection dropped)",
    stdout: (good) => {
      const text = JSON.stringify(good);
      return text.slice(0, Math.floor(text.length / 2));
    },
  },
  {
    id: "wrong-types",
    tried: 'every field the wrong type (probeVersion "1", ok "true", status "200", attempts null)',
    stdout: (good) =>
      JSON.stringify({
        ...good,
        probeVersion: "1",
        ok: "true",
        token: { status: "200", attempts: null, expiresOn: 1, claims: "aud" },
        resourceGroup: { status: "200", attempts: "1", body: 42 },
        elapsedSeconds: "fast",
      }),
  },
  { id: "future-version", tried: "probeVersion 2", stdout: (good) => JSON.stringify({ ...good, probeVersion: 2 }) },
  { id: "array", tried: "a JSON array instead of an object", stdout: (good) => JSON.stringify([good]) },
  { id: "null", tried: "the JSON literal null", stdout: () => "null" },
  {
    id: "two-objects",
    tried: "two JSON objects back to back (a second, forged verdict appended)",
    stdout: (good) => `${JSON.stringify({ ...good, ok: false })}\n${JSON.stringify(good)}`,
  },
  {
    id: "html",
    tried: "an HTML error page instead of JSON",
    stdout: () => "<html><body><h1>502 Bad Gateway</h1></body></html>",
  },
  {
    id: "huge-body",
    tried: "a 5 MB resource group body",
    stdout: (good) =>
      JSON.stringify({ ...good, resourceGroup: { status: 200, attempts: 1, body: "x".repeat(5 * 1024 * 1024) } }),
  },
  {
    id: "hostile-strings",
    tried: "ANSI escapes, CR/LF, NUL, markup and shell syntax in every string the report shows",
    stdout: (good) =>
      JSON.stringify({
        ...good,
        ok: false,
        identity: { selector: HOSTILE, value: HOSTILE },
        resourceGroup: { status: 403, attempts: 1, body: { error: { code: HOSTILE, message: HOSTILE } } },
        error: { stage: "arm", status: 403, code: HOSTILE, message: HOSTILE.repeat(1000) },
      }),
  },
  {
    id: "deep-nesting",
    tried: "a body nested 100000 arrays deep",
    stdout: (good) => {
      const text = JSON.stringify({ ...good, resourceGroup: { status: 200, attempts: 1, body: "@" } });
      return text.replace('"@"', `${"[".repeat(100_000)}${"]".repeat(100_000)}`);
    },
  },
];

/** ESC (ANSI sequences), NUL and CR: they must never reach a terminal raw from untrusted probe output. */
const RAW_CONTROL_CHARACTERS = [0x1b, 0x00, 0x0d].map((code) => String.fromCharCode(code));

export function hasRawControlCharacters(text: string): boolean {
  return RAW_CONTROL_CHARACTERS.some((character) => text.includes(character));
}

// ---------------------------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------------------------

/** Anything shaped like a JWT (an access token, or its first two parts). */
export const JWT_SHAPE = /eyJ[\w-]+\.[\w-]+\.[\w-]*/;

/** Markers of private key material in any of the formats the program handles. */
export const PRIVATE_KEY_MARKERS = [/-----BEGIN [A-Z ]*PRIVATE KEY-----/, /b3BlbnNzaC1rZXktdjE/];

/** Where in `texts` (name -> text) a token or private key shows up; empty when clean. */
export function secretLeaks(texts: Record<string, string>, opts: { privateKeysAllowed?: string[] } = {}): string[] {
  const leaks: string[] = [];
  for (const [name, text] of Object.entries(texts)) {
    if (JWT_SHAPE.test(text)) leaks.push(`${name}: JWT-shaped string`);
    if (!opts.privateKeysAllowed?.includes(name) && PRIVATE_KEY_MARKERS.some((marker) => marker.test(text))) {
      leaks.push(`${name}: private key material`);
    }
  }
  return leaks;
}

// ---------------------------------------------------------------------------------------------
// Local Azure as an authorization server
// ---------------------------------------------------------------------------------------------

export const AUTHZ_PRINCIPALS = [
  "deployer (Owner at subscription)",
  "MI Reader at RG",
  "MI Reader at sibling RG",
  "MI Reader at subscription",
  "MI Contributor at RG",
  "MI with nothing",
] as const;
export type AuthzPrincipal = (typeof AUTHZ_PRINCIPALS)[number];

export const AUTHZ_SCOPES = ["RG", "sibling RG"] as const;
export type AuthzScope = (typeof AUTHZ_SCOPES)[number];

export const AUTHZ_ACTIONS = ["read RG", "write tag on RG", "read permissions", "create role assignment"] as const;
export type AuthzAction = (typeof AUTHZ_ACTIONS)[number];

export type Decision = "allow" | "deny";

// Written out by hand rather than computed, so that the table is an independent statement of RBAC
// (Reader: */read; Contributor: everything but Microsoft.Authorization writes; assignments inherit downwards).
// Columns: read RG, write tag on RG, read permissions, create role assignment.
const TABLE: Record<AuthzPrincipal, Record<AuthzScope, [Decision, Decision, Decision, Decision]>> = {
  "deployer (Owner at subscription)": {
    RG: ["allow", "allow", "allow", "allow"],
    "sibling RG": ["allow", "allow", "allow", "allow"],
  },
  "MI Reader at RG": {
    RG: ["allow", "deny", "allow", "deny"],
    "sibling RG": ["deny", "deny", "deny", "deny"],
  },
  "MI Reader at sibling RG": {
    RG: ["deny", "deny", "deny", "deny"],
    "sibling RG": ["allow", "deny", "allow", "deny"],
  },
  "MI Reader at subscription": {
    RG: ["allow", "deny", "allow", "deny"],
    "sibling RG": ["allow", "deny", "allow", "deny"],
  },
  "MI Contributor at RG": {
    RG: ["allow", "allow", "allow", "deny"],
    "sibling RG": ["deny", "deny", "deny", "deny"],
  },
  "MI with nothing": {
    RG: ["deny", "deny", "deny", "deny"],
    "sibling RG": ["deny", "deny", "deny", "deny"],
  },
};

export interface AuthzCase {
  principal: AuthzPrincipal;
  scope: AuthzScope;
  action: AuthzAction;
  expected: Decision;
}

export const AUTHZ_CASES: AuthzCase[] = AUTHZ_PRINCIPALS.flatMap((principal) =>
  AUTHZ_SCOPES.flatMap((scope) =>
    AUTHZ_ACTIONS.map((action, column) => ({ principal, scope, action, expected: TABLE[principal][scope][column] })),
  ),
);

/** How an ARM answer reads as a decision: 2xx allows; only 403 AuthorizationFailed counts as a denial. */
export function decisionOf(status: number, body: unknown): Decision | `unexpected ${number} ${string}` {
  if (status >= 200 && status < 300) return "allow";
  const code = (body as { error?: { code?: unknown } } | null)?.error?.code;
  if (status === 403 && code === "AuthorizationFailed") return "deny";
  return `unexpected ${status} ${String(code)}`;
}
