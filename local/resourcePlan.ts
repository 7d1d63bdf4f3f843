import { createHash } from "node:crypto";
import { canonical, diffInputs } from "./armDiff";
import type { ResourceMapping } from "./armMapping";
import { isWrappedSecret, redactSecrets, SECRET_PLACEHOLDER } from "./secrets";

/**
 * What the engine does with one resource of a `pulumi up`, decided from the previous run's state as the
 * engine decides it from its checkpoint: pure functions that the mock runner (local/mocks.ts) calls
 * and tests call directly.
 *
 * The local state never holds a secret (local/state.ts), so a secret input is compared by a SHA-256
 * fingerprint kept beside the redacted inputs: a new private key or cloud-init still counts as a change,
 * as it does for the engine, which compares the secrets' values.
 */

/** The engine's step for a resource: create, update in place, replace (create anew, the old one deleted), or nothing. */
export type Operation = "create" | "update" | "replace" | "same";

/** What the plan needs of a resource's previous state (local/mocks.ts StateEntry). */
export interface PreviousResource {
  /** The inputs as stored: secrets redacted. */
  inputs: unknown;
  /** Fingerprints of the secret inputs, by path (JSON of the key list). */
  secretDigests?: Record<string, string>;
  /** Set when the provider reported the resource created but failed (a partial create or update). */
  initErrors?: string[];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function digest(value: unknown): string {
  return `sha256:${createHash("sha256")
    .update(JSON.stringify(canonical(value)))
    .digest("hex")}`;
}

/** Every secret input's fingerprint, by its path (`["connection"]`, `["osProfile","customData"]`). */
export function secretDigests(inputs: unknown): Record<string, string> {
  const digests: Record<string, string> = {};
  const walk = (value: unknown, path: Array<string | number>) => {
    if (isWrappedSecret(value)) {
      digests[JSON.stringify(path)] = digest(value.value);
      return;
    }
    if (Array.isArray(value)) {
      for (const [index, item] of value.entries()) walk(item, [...path, index]);
    } else if (isRecord(value)) {
      for (const [key, item] of Object.entries(value)) walk(item, [...path, key]);
    }
  };
  walk(inputs, []);
  return digests;
}

/** `value` with each secret (as `isSecret` tells it) replaced by `fingerprintAt` its path. */
function markSecrets(
  value: unknown,
  isSecret: (item: unknown) => boolean,
  fingerprintAt: (path: Array<string | number>) => string | undefined,
): Record<string, unknown> {
  const mark = (item: unknown, path: Array<string | number>): unknown => {
    if (isSecret(item)) return `${SECRET_PLACEHOLDER} ${fingerprintAt(path) ?? "unknown"}`;
    if (Array.isArray(item)) return item.map((element, index) => mark(element, [...path, index]));
    if (isRecord(item)) return Object.fromEntries(Object.entries(item).map(([k, v]) => [k, mark(v, [...path, k])]));
    return item;
  };
  return (mark(value, []) as Record<string, unknown> | undefined) ?? {};
}

/** The inputs as a diff sees them: every secret replaced by its fingerprint. */
export function comparableInputs(inputs: unknown): Record<string, unknown> {
  const digests = secretDigests(inputs);
  return markSecrets(inputs, isWrappedSecret, (path) => digests[JSON.stringify(path)]);
}

/** The previous inputs as a diff sees them: each redacted secret replaced by the fingerprint stored for it. */
export function storedComparableInputs(previous: PreviousResource): Record<string, unknown> {
  return markSecrets(
    previous.inputs,
    (item) => item === SECRET_PLACEHOLDER,
    (path) => previous.secretDigests?.[JSON.stringify(path)],
  );
}

/** The inputs as the local state keeps them: secrets redacted, their fingerprints beside them. */
export function storedInputs(inputs: unknown): { inputs: unknown; secretDigests?: Record<string, string> } {
  const digests = secretDigests(inputs);
  return { inputs: redactSecrets(inputs), ...(Object.keys(digests).length > 0 ? { secretDigests: digests } : {}) };
}

const same = (a: unknown, b: unknown) => JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));

/**
 * command:remote:Command (@pulumi/command 1.2.1; engine/commandhost follows its provider): any change of
 * `triggers` replaces it (the provider's Diff replaces triggers added or removed as a whole, and the SDK
 * sets `replaceOnChanges: ["triggers[*]"]` for a changed element), so `create` runs on a new resource;
 * any other change of an input is an update, which runs `update` (else `create`); no change runs
 * nothing. A failed create left nothing in the state, so it is created again.
 */
export function commandOperation(previous: PreviousResource | undefined, inputs: unknown): Operation {
  if (!previous) return "create";
  const olds = storedComparableInputs(previous);
  const news = comparableInputs(inputs);
  if (!same(olds.triggers, news.triggers)) return "replace";
  return same(olds, news) ? "same" : "update";
}

/**
 * An azure-native resource: azure-native's Diff of old and new inputs (local/armDiff.ts) decides update
 * or replace; a resource left with initialization errors (created, then its long-running operation
 * failed) is updated even when nothing changed, as the engine "continues awaiting initialization"
 * (pulumi/pulumi pkg/resource/deploy/step_generator.go: hasInitErrors). `name` is the ARM name the
 * resource has (the name input, or the autoname kept in the state), put into both sides as azure-native's
 * Check does, so a replacement under the same name deletes the old resource first.
 */
export function armOperation(
  mapping: ResourceMapping,
  previous: PreviousResource | undefined,
  inputs: unknown,
  name: string,
): { operation: Operation; deleteBeforeReplace: boolean } {
  if (!previous) return { operation: "create", deleteBeforeReplace: false };
  const olds = { [mapping.nameInput]: name, ...storedComparableInputs(previous) };
  const news = { [mapping.nameInput]: name, ...comparableInputs(inputs) };
  const diff = diffInputs(mapping, olds, news);
  if (diff.replaces.length > 0) return { operation: "replace", deleteBeforeReplace: diff.deleteBeforeReplace };
  const initErrors = (previous.initErrors ?? []).length > 0;
  return { operation: diff.changed.length > 0 || initErrors ? "update" : "same", deleteBeforeReplace: false };
}

/**
 * Pulumi's builtin pulumi:index:Stash (pulumi/pulumi pkg/resource/deploy/builtins.go): a changed `input`
 * is an update that stores the new input and keeps the old `output`; the first create sets `output` to
 * the input.
 */
export function stashOperation(previous: PreviousResource | undefined, inputs: unknown): Operation {
  if (!previous) return "create";
  const olds = storedComparableInputs(previous);
  const news = comparableInputs(inputs);
  return same(olds.input, news.input) ? "same" : "update";
}

/** The top-level inputs whose values differ from the previous run's (secrets by fingerprint). */
export function changedInputs(previous: PreviousResource, inputs: unknown): string[] {
  const olds = storedComparableInputs(previous);
  const news = comparableInputs(inputs);
  return [...new Set([...Object.keys(olds), ...Object.keys(news)])].filter((key) => !same(olds[key], news[key])).sort();
}

/**
 * The program's `replaceOnChanges` turns an update into a replacement when a changed input lies on one
 * of its paths ("*" for any), as the engine's applyReplaceOnChanges does (pkg/resource/deploy/step_generator.go).
 */
export function withReplaceOnChanges(
  operation: Operation,
  previous: PreviousResource | undefined,
  inputs: unknown,
  replaceOnChanges: readonly string[],
): Operation {
  if (operation !== "update" || !previous || replaceOnChanges.length === 0) return operation;
  const heads = replaceOnChanges.map((path) => path.split(/[.[]/)[0]);
  const changed = changedInputs(previous, inputs);
  return changed.some((key) => heads.includes("*") || heads.includes(key)) ? "replace" : operation;
}

/**
 * The program's `ignoreChanges`: on an update, an ignored input keeps its previous value (the engine
 * diffs and updates with it). A top-level input or a dotted path into objects; a value the state only
 * holds redacted (a secret) cannot be carried over, so the new one stays.
 */
export function withIgnoredChanges(
  inputs: Record<string, unknown>,
  previous: PreviousResource | undefined,
  ignoreChanges: readonly string[],
): Record<string, unknown> {
  if (!previous || ignoreChanges.length === 0 || !isRecord(previous.inputs)) return inputs;
  const result = { ...inputs };
  for (const path of ignoreChanges) {
    const keys = path.split(".");
    let from: unknown = previous.inputs;
    for (const key of keys) from = isRecord(from) ? from[key] : undefined;
    if (JSON.stringify(from ?? null).includes(SECRET_PLACEHOLDER)) continue;
    // Copied along the path only: the rest of the inputs is shared, never changed.
    let into: Record<string, unknown> = result;
    for (const key of keys.slice(0, -1)) {
      into[key] = isRecord(into[key]) ? { ...(into[key] as Record<string, unknown>) } : {};
      into = into[key] as Record<string, unknown>;
    }
    const last = keys[keys.length - 1];
    if (from === undefined) delete into[last];
    else into[last] = from;
  }
  return result;
}
