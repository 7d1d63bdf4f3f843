import type { Check, Expectation } from "../verify/contract";
import type { NamedCheck, ProbeEvidence, TokenClaims } from "./vmAccessCheck";

/**
 * The typed evidence of one probe run, read out of its JSON (untrusted: a field of the wrong type is
 * left out rather than passed on), for the component's `evidence` output. Never the token: the probe
 * prints only claims.
 */

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json =>
  typeof value === "object" && value !== null && !Array.isArray(value);
const at = (value: unknown, ...path: string[]): unknown =>
  path.reduce<unknown>((current, key) => (isObject(current) ? current[key] : undefined), value);
const text = (value: unknown) => (typeof value === "string" ? value : undefined);
const count = (value: unknown) => (typeof value === "number" && Number.isFinite(value) ? value : undefined);

const STRING_CLAIMS = ["aud", "iss", "oid", "sub", "tid", "appid", "idtyp", "xms_mirid"] as const;
const NUMBER_CLAIMS = ["iat", "nbf", "exp"] as const;

/** Only the defined fields, so outputs carry no nulls for what the probe did not report. */
function defined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

function claimsOf(probe: unknown): TokenClaims | undefined {
  const claims = at(probe, "token", "claims");
  if (!isObject(claims)) return undefined;
  const result: Record<string, string | number> = {};
  for (const name of STRING_CLAIMS) if (typeof claims[name] === "string") result[name] = claims[name] as string;
  for (const name of NUMBER_CLAIMS) if (count(claims[name]) !== undefined) result[name] = claims[name] as number;
  return result as TokenClaims;
}

function permissionLists(probe: unknown): { actions?: string[]; notActions?: string[] } {
  const entries = at(probe, "permissions", "body", "value");
  if (at(probe, "permissions", "status") !== 200 || !Array.isArray(entries)) return {};
  const list = (key: string) =>
    entries.flatMap((entry) => {
      const values = at(entry, key);
      return Array.isArray(values) ? values.filter((v): v is string => typeof v === "string") : [];
    });
  return { actions: list("actions"), notActions: list("notActions") };
}

function errorLine(probe: unknown): string | undefined {
  const error = at(probe, "error");
  if (!isObject(error)) return undefined;
  const where = [error.stage, error.status, error.code].filter((part) => part !== null && part !== undefined).join(" ");
  return `${where}: ${text(error.message) ?? ""}`;
}

export function probeEvidence(run: {
  scope: string;
  expectation: Expectation;
  verified: boolean;
  probe: unknown;
}): ProbeEvidence {
  const { probe } = run;
  return defined({
    scope: run.scope,
    expectation: run.expectation,
    verified: run.verified,
    selector: text(at(probe, "identity", "selector")),
    tokenStatus: count(at(probe, "token", "status")),
    claims: claimsOf(probe),
    readStatus: count(at(probe, "resourceGroup", "status")),
    readErrorCode: text(at(probe, "resourceGroup", "body", "error", "code")),
    readAttempts: count(at(probe, "resourceGroup", "attempts")),
    ...permissionLists(probe),
    elapsedSeconds: count(at(probe, "elapsedSeconds")),
    error: errorLine(probe),
  });
}

/** A run's checks, each with the scope it was made at. */
export function scopedChecks(scope: string, checks: Check[]): NamedCheck[] {
  return checks.map((check) => ({ scope, name: check.name, ok: check.ok, detail: check.detail }));
}
