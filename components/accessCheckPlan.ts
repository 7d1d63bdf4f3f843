import * as pulumi from "@pulumi/pulumi";
import type { Check, Expectation, Expected, IdentityKind } from "../verify/contract";
import { GRANT_REMOVED_CHECK, REVOCATION_PENDING_CHECK } from "./checkNames";
import {
  invocationCommandLine,
  type ProbeInvocation,
  type ProbeSettings,
  REVOCATION_PENDING_COMMAND,
} from "./probeCommand";

/**
 * The access check's arguments, validated, and what each probe run sends: pure functions that the
 * component (components/vmAccessCheck.ts) calls once the args are known, and that tests call directly.
 */

export const DEFAULT_ARM_ENDPOINT = "https://management.azure.com";
export const DEFAULT_DEADLINE_SECONDS = 600;
export const DEFAULT_SSH_PORT = 22;
export const DEFAULT_SSH_USER = "azureuser";
export const DEFAULT_DIAL_ERROR_LIMIT = 60;
/** Seconds one dial may take (the command provider's perDialTimeout). */
export const PER_DIAL_TIMEOUT_SECONDS = 20;

/** Bad arguments: Pulumi prints a RunError's message without a stack trace. */
export class AccessCheckArgsError extends pulumi.RunError {
  constructor(
    readonly component: string,
    readonly problems: string[],
  ) {
    super(
      problems.length === 1
        ? `VmAccessCheck ${component}: ${problems[0]}`
        : `VmAccessCheck ${component} has ${problems.length} invalid arguments:\n${problems.map((p) => `  - ${p}`).join("\n")}`,
    );
    this.name = "AccessCheckArgsError";
  }
}

/** The managed identity as given (every Input resolved). */
export interface IdentityValues {
  type?: unknown;
  principalId?: unknown;
  tenantId?: unknown;
  clientId?: unknown;
  resourceId?: unknown;
  selectBy?: unknown;
}

/** Every setting of the check but SSH, as given (every Input resolved). */
export interface CheckValues {
  identity?: IdentityValues;
  readOnly?: unknown;
  refusedActions?: unknown;
  deadlineSeconds?: unknown;
  quickRefusalSeconds?: unknown;
  revocationPending?: unknown;
  armEndpoint?: unknown;
  imdsEndpoint?: unknown;
}

type Selector = "clientId" | "objectId" | "resourceId";

/** The check's settings, validated, defaults applied. */
export interface CheckSettings {
  kind: IdentityKind;
  principalId: string;
  tenantId: string;
  clientId?: string;
  resourceId?: string;
  /** How a user-assigned identity is selected at IMDS; undefined for the system-assigned one. */
  selectBy?: Selector;
  readOnly: boolean;
  refusedActions: string[];
  deadlineSeconds: number;
  quickRefusalSeconds?: number;
  revocationPending: boolean;
  /** Without a trailing slash. */
  armEndpoint: string;
  imdsEndpoint?: string;
}

const shown = (value: unknown) => (typeof value === "string" ? JSON.stringify(value) : String(value));
const present = (value: unknown) => value !== undefined && value !== null;
const isText = (value: unknown): value is string => typeof value === "string" && value.trim() !== "";

function wholeNumber(value: unknown, min: number, max: number): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= min && value <= max;
}

/** The base URL without its trailing slashes, or undefined when it is not one of `schemes`. */
function baseUrl(value: unknown, schemes: string[]): string | undefined {
  if (typeof value !== "string") return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  if (!schemes.includes(url.protocol.slice(0, -1)) || url.search || url.hash || url.username || url.password) {
    return undefined;
  }
  return value.replace(/\/+$/, "");
}

function identityProblems(identity: IdentityValues | undefined): string[] {
  if (identity === undefined || identity === null) return ["identity is required: its type, principalId and tenantId"];
  const problems: string[] = [];
  const { type } = identity;
  if (type !== "SystemAssigned" && type !== "UserAssigned") {
    problems.push(`identity.type = ${shown(type)} must be SystemAssigned or UserAssigned`);
  }
  if (!isText(identity.principalId)) {
    problems.push("identity.principalId is required: the principal (object) ID the token's oid must carry");
  }
  if (!isText(identity.tenantId)) problems.push("identity.tenantId is required: the tenant the token's tid must name");
  if (type === "SystemAssigned") {
    for (const key of ["clientId", "resourceId", "selectBy"] as const) {
      if (present(identity[key])) {
        problems.push(`identity.${key} is for a user-assigned identity; a SystemAssigned one has none`);
      }
    }
  }
  if (type === "UserAssigned") {
    const { selectBy } = identity;
    if (present(selectBy) && selectBy !== "clientId" && selectBy !== "objectId" && selectBy !== "resourceId") {
      problems.push(`identity.selectBy = ${shown(selectBy)} must be clientId, objectId or resourceId`);
    } else if (selectBy === "clientId" && !isText(identity.clientId)) {
      problems.push('identity.selectBy = "clientId" needs identity.clientId');
    } else if (selectBy === "resourceId" && !isText(identity.resourceId)) {
      problems.push('identity.selectBy = "resourceId" needs identity.resourceId');
    }
  }
  return problems;
}

/** Validates everything but SSH and the scopes, and applies the defaults; throws AccessCheckArgsError. */
export function checkSettings(component: string, values: CheckValues): CheckSettings {
  const problems = identityProblems(values.identity);
  const deadlineSeconds = values.deadlineSeconds ?? DEFAULT_DEADLINE_SECONDS;
  if (!wholeNumber(deadlineSeconds, 1, 86400)) {
    problems.push(`deadlineSeconds = ${shown(deadlineSeconds)} must be a whole number from 1 to 86400`);
  }
  const quick = values.quickRefusalSeconds;
  if (present(quick) && !wholeNumber(quick, 1, 86400)) {
    problems.push(`quickRefusalSeconds = ${shown(quick)} must be a whole number from 1 to 86400`);
  }
  const armEndpoint = baseUrl(values.armEndpoint ?? DEFAULT_ARM_ENDPOINT, ["https"]);
  if (armEndpoint === undefined) {
    problems.push(
      `armEndpoint = ${shown(values.armEndpoint)} must be an https:// base URL (the token must not travel in clear)`,
    );
  }
  const imdsEndpoint = present(values.imdsEndpoint) ? baseUrl(values.imdsEndpoint, ["http", "https"]) : undefined;
  if (present(values.imdsEndpoint) && imdsEndpoint === undefined) {
    problems.push(`imdsEndpoint = ${shown(values.imdsEndpoint)} must be an http:// or https:// base URL`);
  }
  const refusedActions = values.refusedActions ?? [];
  if (!Array.isArray(refusedActions) || !refusedActions.every(isText)) {
    problems.push(`refusedActions = ${shown(JSON.stringify(refusedActions))} must be a list of action names`);
  }
  for (const key of ["readOnly", "revocationPending"] as const) {
    if (present(values[key]) && typeof values[key] !== "boolean") {
      problems.push(`${key} = ${shown(values[key])} must be true or false`);
    }
  }
  if (problems.length > 0) throw new AccessCheckArgsError(component, problems);

  const identity = values.identity as Required<Pick<IdentityValues, "type">> & Record<string, unknown>;
  const user = identity.type === "UserAssigned";
  const given = (key: string) => (isText(identity[key]) ? (identity[key] as string) : undefined);
  const clientId = given("clientId");
  const resourceId = given("resourceId");
  const selectBy = user
    ? ((identity.selectBy as Selector | undefined) ??
      (clientId !== undefined ? "clientId" : resourceId !== undefined ? "resourceId" : "objectId"))
    : undefined;
  return {
    kind: user ? "user" : "system",
    principalId: identity.principalId as string,
    tenantId: identity.tenantId as string,
    ...(clientId !== undefined ? { clientId } : {}),
    ...(resourceId !== undefined ? { resourceId } : {}),
    ...(selectBy !== undefined ? { selectBy } : {}),
    readOnly: values.readOnly !== false,
    refusedActions: refusedActions as string[],
    deadlineSeconds: deadlineSeconds as number,
    ...(present(quick) ? { quickRefusalSeconds: quick as number } : {}),
    revocationPending: values.revocationPending === true,
    armEndpoint: armEndpoint as string,
    ...(imdsEndpoint !== undefined ? { imdsEndpoint } : {}),
  };
}

/** SSH's settings as given (every Input resolved), the private key aside. */
export interface SshValues {
  host?: unknown;
  port?: unknown;
  user?: unknown;
  hostKey?: unknown;
  dialErrorLimit?: unknown;
}

export interface SshSettings {
  host: string;
  port: number;
  user: string;
  hostKey: string;
  dialErrorLimit: number;
}

/** One OpenSSH public key line: its type, then base64 key data, then an optional comment. */
const HOST_KEY_LINE = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/]+={0,2}( [^\r\n]*)?$/;

/** Validates the connection (the private key is checked on its own, as a secret); throws AccessCheckArgsError. */
export function sshSettings(component: string, values: SshValues): SshSettings {
  const problems: string[] = [];
  const port = values.port ?? DEFAULT_SSH_PORT;
  const user = values.user ?? DEFAULT_SSH_USER;
  const dialErrorLimit = values.dialErrorLimit ?? DEFAULT_DIAL_ERROR_LIMIT;
  if (!isText(values.host)) problems.push("ssh.host is required: the address the VM's SSH server answers at");
  if (!wholeNumber(port, 1, 65535)) problems.push(`ssh.port = ${shown(port)} must be a whole number from 1 to 65535`);
  if (!isText(user)) problems.push(`ssh.user = ${shown(user)} must be a user name`);
  if (typeof values.hostKey !== "string" || !HOST_KEY_LINE.test(values.hostKey.trim())) {
    const hostKey =
      typeof values.hostKey === "string" && values.hostKey.length > 40
        ? `${values.hostKey.slice(0, 37)}...`
        : values.hostKey;
    problems.push(
      `ssh.hostKey = ${shown(hostKey)} must be the VM's SSH host public key, one OpenSSH line (ssh-ed25519 AAAA…): the only key the check accepts`,
    );
  }
  if (!wholeNumber(dialErrorLimit, -1, Number.MAX_SAFE_INTEGER)) {
    problems.push(`ssh.dialErrorLimit = ${shown(dialErrorLimit)} must be -1 (no limit) or a whole number from 0`);
  }
  if (problems.length > 0) throw new AccessCheckArgsError(component, problems);
  return {
    host: values.host as string,
    port: port as number,
    user: user as string,
    hostKey: (values.hostKey as string).trim(),
    dialErrorLimit: dialErrorLimit as number,
  };
}

/** The private key, or AccessCheckArgsError when there is none (its text is never shown). */
export function privateKeyValue(component: string, value: unknown): string {
  if (!isText(value)) {
    throw new AccessCheckArgsError(component, [
      "ssh.privateKey is required: an OpenSSH private key authorized for ssh.user",
    ]);
  }
  return value;
}

const RESOURCE_GROUP_ID = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)$/i;

/** The subscription and resource group a scope names, or undefined when it is not a resource group ID. */
export function resourceGroupScope(scope: unknown): { subscriptionId: string; resourceGroup: string } | undefined {
  if (typeof scope !== "string") return undefined;
  const match = RESOURCE_GROUP_ID.exec(scope);
  return match ? { subscriptionId: match[1], resourceGroup: match[2] } : undefined;
}

/**
 * What became of the grant a check watches on its refused scopes (components/grantState.ts decides):
 * - absent: ARM says it is gone (or no grant is watched): the refusal is probed;
 * - pending: first seen still there by this update, which (as far as a program can tell) removes it
 *   at its end, after the check (Pulumi deletes removed resources last): nothing is probed;
 * - pending-again: still there in a second update: the first may have failed before Pulumi's deletes,
 *   so this one gets the benefit of the doubt once more;
 * - stays: still there in a third: it is not going away, and the check fails naming it.
 */
export type GrantFate =
  | { state: "absent" }
  | {
      state: "pending" | "pending-again" | "stays";
      /** The role assignment's ARM ID. */
      grant: string;
      /** Its scope: the refused scopes at or below it are the ones it still opens. */
      grantScope: string;
      /** When the first update that saw it still there ran (ISO 8601). */
      firstSeen: string;
    };

/** A run that probes nothing in this update: its named checks, and whether that only defers the proof. */
export interface UnprobedRun {
  checks: Check[];
  /** True: the next update proves it (no failure now); false: the check fails. */
  pending: boolean;
}

/** What one probe run proves and sends. */
export interface RunPlan {
  scope: string;
  expectation: Expectation;
  kind: IdentityKind;
  expected: Expected;
  /** What the first run at this scope sends. */
  first: ProbeInvocation;
  /** What a run repeated where one ran before sends, when it must differ from the first. */
  repeat?: ProbeInvocation;
  /** Set when nothing is probed in this update (a revocation still to happen, or a grant that stays). */
  unprobed?: UnprobedRun;
  /** The remote command's `create` (SSH). */
  create: string;
  /** The remote command's `update`, when a run repeated in place must differ from the first (SSH). */
  update?: string;
  /** Whether the probe script goes on stdin (not while nothing is probed). */
  sendsProbe: boolean;
  /** Whether this run only says the denial is proven by the next update. */
  pending: boolean;
}

/** Whether `scope` is `grantScope` or below it (ARM's inheritance; IDs compare case-insensitively). */
export function scopeCovers(grantScope: string, scope: string): boolean {
  const above = grantScope.replace(/\/+$/, "").toLowerCase();
  const below = scope.toLowerCase();
  return below === above || below.startsWith(`${above}/`);
}

/** The probe run for `scope` (the `index`-th of `arg`); throws AccessCheckArgsError for a bad scope. */
export function planRun(
  component: string,
  settings: CheckSettings,
  run: { scope: unknown; expectation: Expectation; arg: string; index: number },
  fate: GrantFate = { state: "absent" },
): RunPlan {
  const target = resourceGroupScope(run.scope);
  if (target === undefined) {
    throw new AccessCheckArgsError(component, [
      `${run.arg}[${run.index}] = ${shown(run.scope)} must be a resource group ID: /subscriptions/<subscription ID>/resourceGroups/<name>`,
    ]);
  }
  const scope = run.scope as string;
  const selector: Pick<ProbeSettings, "clientId" | "objectId" | "resourceId"> =
    settings.selectBy === "clientId"
      ? { clientId: settings.clientId }
      : settings.selectBy === "objectId"
        ? { objectId: settings.principalId }
        : settings.selectBy === "resourceId"
          ? { resourceId: settings.resourceId }
          : {};
  const probe = (deadlineSeconds: number): ProbeSettings => ({
    armEndpoint: settings.armEndpoint,
    ...selector,
    ...target,
    deadlineSeconds,
    ...(settings.imdsEndpoint !== undefined ? { imdsEndpoint: settings.imdsEndpoint } : {}),
  });
  const expected: Expected = {
    principalId: settings.principalId,
    ...(settings.clientId !== undefined ? { clientId: settings.clientId } : {}),
    ...(settings.resourceId !== undefined ? { resourceId: settings.resourceId } : {}),
    tenantId: settings.tenantId,
    resourceGroupId: scope,
    resource: `${settings.armEndpoint}/`,
    ...(settings.selectBy === "objectId" ? { selector: "object_id" as const } : {}),
    ...(settings.selectBy === "resourceId" ? { selector: "msi_res_id" as const } : {}),
    ...(run.expectation === "granted" && !settings.readOnly ? { readOnly: false as const } : {}),
    ...(run.expectation === "granted" && settings.refusedActions.length > 0
      ? { refusedActions: settings.refusedActions }
      : {}),
  };
  const common = { scope, expectation: run.expectation, kind: settings.kind, expected };
  const probed = (first: ProbeInvocation, repeat?: ProbeInvocation): RunPlan => ({
    ...common,
    first,
    ...(repeat !== undefined ? { repeat } : {}),
    create: invocationCommandLine(first),
    ...(repeat !== undefined ? { update: invocationCommandLine(repeat) } : {}),
    sendsProbe: true,
    pending: false,
  });
  if (run.expectation === "granted") return probed({ form: "granted", settings: probe(settings.deadlineSeconds) });
  const refusal: ProbeInvocation = { form: "refusal", settings: probe(settings.deadlineSeconds) };
  const unprobed = unprobedRun(scope, settings.revocationPending, fate);
  if (unprobed !== undefined) {
    // Nothing is probed; the line differs from every probe line, so the next update runs the refusal in place.
    return {
      ...common,
      first: refusal,
      repeat: refusal,
      unprobed,
      create: REVOCATION_PENDING_COMMAND,
      update: invocationCommandLine(refusal),
      sendsProbe: false,
      pending: unprobed.pending,
    };
  }
  if (settings.quickRefusalSeconds !== undefined) {
    // A first run takes ARM's answer quickly; a run repeated in place (after a revocation) waits.
    return probed({ form: "denied", settings: probe(settings.quickRefusalSeconds) }, refusal);
  }
  return probed(refusal);
}

/** Why a refused scope is not probed in this update, if it is not. */
function unprobedRun(scope: string, revocationPending: boolean, fate: GrantFate): UnprobedRun | undefined {
  if (fate.state === "absent" || !scopeCovers(fate.grantScope, scope)) {
    return revocationPending ? { checks: pendingChecks(scope), pending: true } : undefined;
  }
  if (fate.state === "pending") return { checks: pendingChecks(scope), pending: true };
  if (fate.state === "pending-again") {
    return {
      checks: [
        {
          name: REVOCATION_PENDING_CHECK,
          ok: false,
          detail:
            `the grant ${fate.grant} on ${scope} is still there after the update that should have removed it ` +
            `(that update may have failed before Pulumi's deletes): run pulumi up again to prove the denial; ` +
            `if the grant is still there then, it is not going away and the check fails`,
        },
      ],
      pending: true,
    };
  }
  return {
    checks: [
      {
        name: GRANT_REMOVED_CHECK,
        ok: false,
        detail:
          `the role assignment ${fate.grant} still grants access to ${scope}, two updates after the first that ` +
          `should have removed it (${fate.firstSeen}): it is not going away (kept by retainOnDelete, made outside ` +
          `this stack, or dropped from its state). Delete it (az role assignment delete --ids ${fate.grant}), ` +
          `or stop refusing ${scope}`,
      },
    ],
    pending: false,
  };
}

/** The named checks of a run that probed nothing because its revocation is pending. */
export function pendingChecks(scope: string): Check[] {
  return [
    {
      name: REVOCATION_PENDING_CHECK,
      ok: false,
      detail: `the grant on ${scope} is removed at the end of this update, after the check: run pulumi up again to prove the denial`,
    },
  ];
}
