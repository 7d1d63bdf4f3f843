import type { AccessCheck, AccessCheckResult, Check, Expectation, Expected, IdentityKind } from "./contract";
import { describeZodError, probeResultV1Schema } from "./schema";

/**
 * The judge: probe JSON (untrusted) + what the program expects → named checks and a verdict.
 * Pure and total: any input, however malformed or hostile, yields checks, never an exception.
 */

export const CHECK = {
  probeOutput: "probe-output",
  tokenObtained: "token-obtained",
  tokenAudience: "token-audience",
  tokenPrincipal: "token-principal",
  tokenTenant: "token-tenant",
  tokenClientId: "token-client-id",
  tokenResourceId: "token-resource-id",
  identitySelector: "identity-selector",
  targetResourceGroup: "target-resource-group",
  resourceGroupRead: "resource-group-read",
  permissionsReadOnly: "permissions-read-only",
  actionsRefused: "actions-refused",
  accessDenied: "access-denied",
} as const;

const MAX_SHOWN = 200;

/**
 * Characters that act on a terminal or hide text: C0 controls, and those JSON.stringify leaves raw:
 * DEL, C1 controls (U+009B is a one-byte CSI), line and paragraph separators, bidirectional marks.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point here.
const UNSAFE_CHARACTERS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
/** A JWT (header.payload[.signature]): the probe never prints one, but hostile evidence might. */
const JWT_SHAPED = /eyJ[\w-]{4,}\.eyJ[\w-]{4,}(\.[\w-]*)?/g;
const escapeUnsafe = (text: string) =>
  text
    .replace(JWT_SHAPED, "[a token, not shown]")
    .replace(UNSAFE_CHARACTERS, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);

/** Text cut to MAX_SHOWN characters. */
const bounded = (text: string) => (text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN)}…` : text);

/**
 * A value as it may appear in a detail: a string quoted, anything else as compact JSON (so 200 and
 * "200" read differently), undefined as nothing; bounded, control characters escaped.
 */
export function shown(value: unknown): string {
  if (value === undefined) return "nothing";
  if (typeof value === "string") return escapeUnsafe(JSON.stringify(bounded(value)));
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    // Too deep or cyclic to print: say so rather than fail the judgement.
    text = `[an unprintable ${Array.isArray(value) ? "array" : typeof value}]`;
  }
  return escapeUnsafe(bounded(text));
}

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json =>
  typeof value === "object" && value !== null && !Array.isArray(value);
const field = (value: unknown, ...path: string[]): unknown =>
  path.reduce<unknown>((current, key) => (isObject(current) ? current[key] : undefined), value);
const sameId = (a: unknown, b: unknown) =>
  typeof a === "string" && typeof b === "string" && a.toLowerCase() === b.toLowerCase();

function check(name: string, ok: boolean, detail: string): Check {
  return { name, ok, detail };
}

function equalsCheck(name: string, what: string, seen: unknown, expected: string, caseInsensitive = false): Check {
  const ok = caseInsensitive ? sameId(seen, expected) : seen === expected;
  return check(
    name,
    ok,
    ok ? `${what} is ${shown(expected)}` : `${what} should be ${shown(expected)}, was ${shown(seen)}`,
  );
}

/** The parsed probe output: its one JSON object, or the (bounded) raw text when it is not one. */
export function parseProbeOutput(stdout: string): unknown {
  const text = stdout.trim();
  try {
    const parsed: unknown = JSON.parse(text);
    if (isObject(parsed)) return parsed;
  } catch {
    // Not JSON: carried as text below.
  }
  return text.length > 4096 ? `${text.slice(0, 4096)}…[truncated]` : text;
}

function isReadOnlyAction(action: unknown): boolean {
  return typeof action === "string" && (action === "*/read" || /\/read$/i.test(action));
}

/** The effective permission entries the probe read, or the reason they are unusable. */
function permissionEntries(probe: Json): unknown[] | string {
  const status = field(probe, "permissions", "status");
  const entries = field(probe, "permissions", "body", "value");
  return status !== 200 || !Array.isArray(entries)
    ? `the effective permissions were not read (status ${shown(status)})`
    : entries;
}

/**
 * ARM's rule: `*` in a pattern matches any run of characters, case-insensitively. The pattern comes from
 * untrusted evidence, so it is matched without a regular expression (no backtracking blow-up):
 * the classic two-pointer wildcard match, O(pattern × action) at worst.
 */
export function actionMatches(pattern: unknown, action: string): boolean {
  if (typeof pattern !== "string") return false;
  const p = pattern.toLowerCase();
  const a = action.toLowerCase();
  let pi = 0;
  let ai = 0;
  let star = -1;
  let resume = 0;
  while (ai < a.length) {
    if (pi < p.length && p[pi] === "*") {
      star = pi++;
      resume = ai;
    } else if (pi < p.length && p[pi] === a[ai]) {
      pi++;
      ai++;
    } else if (star >= 0) {
      pi = star + 1;
      ai = ++resume;
    } else {
      return false;
    }
  }
  while (pi < p.length && p[pi] === "*") pi++;
  return pi === p.length;
}

/** An entry grants an action when one of its actions matches it and none of its notActions does. */
function grants(entry: unknown, action: string): boolean {
  const actions = field(entry, "actions");
  const notActions = field(entry, "notActions");
  return (
    Array.isArray(actions) &&
    actions.some((pattern) => actionMatches(pattern, action)) &&
    !(Array.isArray(notActions) && notActions.some((pattern) => actionMatches(pattern, action)))
  );
}

function refusedActionsCheck(probe: Json, refused: string[]): Check {
  const entries = permissionEntries(probe);
  if (typeof entries === "string") return check(CHECK.actionsRefused, false, entries);
  const granted = refused.filter((action) => entries.some((entry) => grants(entry, action)));
  return granted.length === 0
    ? check(CHECK.actionsRefused, true, `none of ${refused.map(shown).join(", ")} is granted`)
    : check(CHECK.actionsRefused, false, `the effective permissions grant ${granted.map(shown).join(", ")}`);
}

function permissionsCheck(probe: Json): Check {
  const entries = permissionEntries(probe);
  if (typeof entries === "string") return check(CHECK.permissionsReadOnly, false, entries);
  if (entries.length === 0) {
    // A successful read with no permission at all is contradictory evidence, not proof of Reader.
    return check(CHECK.permissionsReadOnly, false, "the effective permissions list is empty; expected Reader's */read");
  }
  const offending: string[] = [];
  for (const entry of entries) {
    const actions = field(entry, "actions");
    const dataActions = field(entry, "dataActions");
    if (!Array.isArray(actions)) {
      offending.push(`an entry without an actions list: ${shown(entry)}`);
      continue;
    }
    for (const action of [...actions, ...(Array.isArray(dataActions) ? dataActions : [])]) {
      if (!isReadOnlyAction(action)) offending.push(shown(action));
    }
  }
  return offending.length === 0
    ? check(CHECK.permissionsReadOnly, true, "every effective action is a read")
    : check(
        CHECK.permissionsReadOnly,
        false,
        `effective permissions go beyond reading: ${offending.slice(0, 5).join(", ")}`,
      );
}

function tokenChecks(probe: Json, expected: Expected, identity: IdentityKind): Check[] {
  const status = field(probe, "token", "status");
  const claims = field(probe, "token", "claims");
  const checks = [
    check(
      CHECK.tokenObtained,
      status === 200 && isObject(claims),
      status === 200 && isObject(claims)
        ? "IMDS issued a token"
        : `no token from IMDS: status ${shown(status)}${field(probe, "error", "message") ? `, ${shown(field(probe, "error", "message"))}` : ""}`,
    ),
  ];
  if (!isObject(claims)) return checks;
  checks.push(equalsCheck(CHECK.tokenAudience, "the token audience (aud)", claims.aud, expected.resource));
  checks.push(equalsCheck(CHECK.tokenPrincipal, "the token principal (oid)", claims.oid, expected.principalId, true));
  checks.push(equalsCheck(CHECK.tokenTenant, "the token tenant (tid)", claims.tid, expected.tenantId, true));
  if (identity === "user") {
    // Selected by object or resource ID, a user-assigned identity may come without its client ID to compare.
    if (expected.clientId !== undefined || expected.selector === undefined) {
      checks.push(
        expected.clientId === undefined
          ? check(
              CHECK.tokenClientId,
              false,
              "no expected client ID to compare appid with (a user-assigned identity has one)",
            )
          : equalsCheck(CHECK.tokenClientId, "the token client ID (appid)", claims.appid, expected.clientId, true),
      );
    }
    if (claims.xms_mirid !== undefined && expected.resourceId !== undefined) {
      checks.push(
        equalsCheck(
          CHECK.tokenResourceId,
          "the token identity resource (xms_mirid)",
          claims.xms_mirid,
          expected.resourceId,
          true,
        ),
      );
    }
  }
  return checks;
}

function selectorCheck(probe: Json, expected: Expected, identity: IdentityKind): Check {
  const selector = field(probe, "identity", "selector");
  const value = field(probe, "identity", "value");
  if (identity === "system") {
    return check(
      CHECK.identitySelector,
      selector === "system",
      selector === "system"
        ? "the probe asked for the system-assigned identity"
        : `the probe should ask for the system-assigned identity, asked for ${shown(selector)} ${shown(value)}`,
    );
  }
  const wanted = expected.selector ?? "client_id";
  const wantedValue = {
    client_id: expected.clientId,
    object_id: expected.principalId,
    msi_res_id: expected.resourceId,
  }[wanted];
  const ok = selector === wanted && sameId(value, wantedValue);
  return check(
    CHECK.identitySelector,
    ok,
    ok
      ? `the probe selected ${wanted} ${shown(value)}`
      : `the probe should select ${wanted} ${shown(wantedValue)}, selected ${shown(selector)} ${shown(value)}`,
  );
}

function targetCheck(probe: Json, expected: Expected): Check {
  const subscriptionId = field(probe, "target", "subscriptionId");
  const resourceGroup = field(probe, "target", "resourceGroup");
  const target =
    typeof subscriptionId === "string" && typeof resourceGroup === "string"
      ? `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}`
      : { subscriptionId, resourceGroup };
  return equalsCheck(
    CHECK.targetResourceGroup,
    "the resource group the probe targeted",
    target,
    expected.resourceGroupId,
    true,
  );
}

function readCheck(probe: Json, expected: Expected): Check {
  const status = field(probe, "resourceGroup", "status");
  const body = field(probe, "resourceGroup", "body");
  if (status !== 200) {
    const code = field(body, "error", "code");
    return check(
      CHECK.resourceGroupRead,
      false,
      `reading the resource group answered ${shown(status)}${code ? ` ${shown(code)}` : ""}`,
    );
  }
  if (!sameId(field(body, "id"), expected.resourceGroupId)) {
    return check(
      CHECK.resourceGroupRead,
      false,
      `read ${shown(field(body, "id"))} instead of ${shown(expected.resourceGroupId)}`,
    );
  }
  const state = field(body, "properties", "provisioningState");
  return state === "Succeeded"
    ? check(CHECK.resourceGroupRead, true, `read ${shown(expected.resourceGroupId)} (Succeeded)`)
    : check(CHECK.resourceGroupRead, false, `the resource group is in state ${shown(state)}, not "Succeeded"`);
}

function deniedCheck(probe: Json): Check {
  const status = field(probe, "resourceGroup", "status");
  const code = field(probe, "resourceGroup", "body", "error", "code");
  const ok = status === 403 && code === "AuthorizationFailed";
  return check(
    CHECK.accessDenied,
    ok,
    ok
      ? "ARM denied the read: 403 AuthorizationFailed"
      : `ARM should deny the read with 403 AuthorizationFailed; answered ${shown(status)} ${shown(code)}`,
  );
}

/**
 * Whether the probe kept contract v1 and, when access is expected, reported success itself. A
 * departure from the schema fails this check naming the fields, but the other checks still run
 * on whatever fields are usable, so the report says as much as the evidence allows.
 */
function probeOutputCheck(probe: Json, expectation: Expectation): Check {
  const parsed = probeResultV1Schema.safeParse(probe);
  if (!parsed.success) {
    return check(
      CHECK.probeOutput,
      false,
      `the probe's JSON departs from contract v1: ${escapeUnsafe(bounded(describeZodError(parsed.error, 3)))}`,
    );
  }
  if (expectation === "granted" && probe.ok !== true) {
    const error = field(probe, "error");
    return check(
      CHECK.probeOutput,
      false,
      `the probe should report ok true, reported ok false with error ${shown(error ?? null)}`,
    );
  }
  return check(CHECK.probeOutput, true, "one JSON object, probe version 1");
}

/** Every check for one probe run; verified when all pass. Never throws, whatever `probe` is. */
export function judgeProbe(
  probe: unknown,
  expected: Expected,
  identity: IdentityKind,
  expectation: Expectation,
): { checks: Check[]; verified: boolean } {
  if (!isObject(probe) || probe.probeVersion !== 1) {
    const checks = [
      check(CHECK.probeOutput, false, `the probe did not print one JSON object of version 1: ${shown(probe)}`),
    ];
    return { checks, verified: false };
  }
  const checks: Check[] = [probeOutputCheck(probe, expectation)];
  checks.push(
    ...tokenChecks(probe, expected, identity),
    selectorCheck(probe, expected, identity),
    targetCheck(probe, expected),
  );
  if (expectation === "granted") {
    checks.push(readCheck(probe, expected));
    if (expected.readOnly !== false) checks.push(permissionsCheck(probe));
    if (expected.refusedActions !== undefined && expected.refusedActions.length > 0) {
      checks.push(refusedActionsCheck(probe, expected.refusedActions));
    }
  } else checks.push(deniedCheck(probe));
  return { checks, verified: checks.every((c) => c.ok) };
}

/** The `accessCheck` output: every run judged; verified only when every run is and there is one. */
export function judgeAccessCheck(
  expectation: Expectation,
  runs: Array<{ vm: string; identity: IdentityKind; expected: Expected; probe: unknown }>,
): AccessCheck {
  const results: AccessCheckResult[] = runs.map((run) => ({
    ...run,
    ...judgeProbe(run.probe, run.expected, run.identity, expectation),
  }));
  return { verified: results.length > 0 && results.every((r) => r.verified), expectation, results };
}

/** One line per failed check (vm, identity, check, detail): the deployment's error message. */
export function describeFailures(accessCheck: AccessCheck): string {
  const lines = accessCheck.results.flatMap((result) =>
    result.checks.filter((c) => !c.ok).map((c) => `  ${result.vm} (${result.identity}): ${c.name}: ${c.detail}`),
  );
  return lines.length > 0 ? lines.join("\n") : "  no probe result to judge";
}
