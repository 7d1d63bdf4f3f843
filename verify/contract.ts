/**
 * The shapes that cross a boundary: what the probe prints (probe contract v1), what the program
 * expects of it, and the `accessCheck` stack output that `npm run verify` reads back.
 * Runtime validation of untrusted copies of these lives in `verify/schema.ts`.
 */

/** Which identity a probe run exercised. */
export type IdentityKind = "user" | "system";

/** What the deployment must prove: access (`granted`) or, for the negative control, its absence. */
export type Expectation = "granted" | "denied";

export type ProbeSelector = "client_id" | "object_id" | "msi_res_id" | "system";

export interface ProbeError {
  stage: "input" | "imds" | "arm";
  status: number | null;
  code: string | null;
  message: string;
}

/** Verbatim response bodies are carried as parsed JSON when they parse, else as a string. */
export type CarriedBody = unknown;

/** One JSON object printed by `verify/probe.sh` (contract version 1). */
export interface ProbeResultV1 {
  probeVersion: 1;
  ok: boolean;
  identity: { selector: ProbeSelector; value: string | null };
  target: { subscriptionId: string | null; resourceGroup: string | null; armEndpoint: string; resource: string };
  token: {
    status: number | null;
    attempts: number;
    expiresOn: string | null;
    /** Non-secret claims of the access token; never the token or its signature. */
    claims: Record<string, unknown> | null;
  } | null;
  resourceGroup: { status: number | null; attempts: number; body: CarriedBody } | null;
  permissions: { status: number | null; attempts?: number; body: CarriedBody } | null;
  elapsedSeconds: number;
  error: ProbeError | null;
}

/** What the program knows the probe should find, from the resources it created. */
export interface Expected {
  principalId: string;
  clientId?: string;
  resourceId?: string;
  tenantId: string;
  resourceGroupId: string;
  /** The token audience requested: the ARM endpoint with its trailing slash. */
  resource: string;
  /**
   * How a user-assigned identity was selected at IMDS when not by its client ID (the program's way,
   * which leaves this out): by object ID (the principal ID) or by resource ID.
   */
  selector?: "object_id" | "msi_res_id";
  /** false: the effective permissions need not be reads only (absent: they must be, as the program's). */
  readOnly?: false;
  /** Actions the effective permissions must not grant (absent: none checked). */
  refusedActions?: string[];
}

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

export interface AccessCheckResult {
  vm: string;
  identity: IdentityKind;
  expected: Expected;
  /** The probe's JSON as printed; a string when stdout was not one JSON object. */
  probe: ProbeResultV1 | unknown;
  checks: Check[];
  verified: boolean;
}

/** The `accessCheck` stack output. */
export interface AccessCheck {
  verified: boolean;
  expectation: Expectation;
  results: AccessCheckResult[];
}
