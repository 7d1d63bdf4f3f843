import { createHash } from "node:crypto";
import { canonical, diffInputs } from "./armDiff";
import { mappingFor, type ResourceMapping } from "./armMapping";
import { isWrappedSecret, redactSecrets, SECRET_PLACEHOLDER, unwrapSecrets } from "./secrets";
import { privateKeyRequest, TLS_PRIVATE_KEY } from "./tlsResource";

/**
 * What the engine does with one resource of a `pulumi up`, decided from the previous run's state as the
 * engine decides it from its checkpoint: pure functions that the mock runner (local/mocks.ts) calls
 * and tests call directly. plannedStep is the whole decision for one registration, for anything else
 * that must agree with the runner on what a run would do (a preview from the local state, as
 * `pulumi preview` after an `up`).
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
 * resource gets now (the name input, or the autoname kept in the state): azure-native's Check puts the
 * name into the inputs, the old one (its autoname) into the old inputs, so a name given now to a
 * resource that had an autoname replaces it, and a replacement under the same name deletes the old
 * resource first.
 */
export function armOperation(
  mapping: ResourceMapping,
  previous: (PreviousResource & { autoname?: string }) | undefined,
  inputs: unknown,
  name: string,
): { operation: Operation; deleteBeforeReplace: boolean } {
  if (!previous) return { operation: "create", deleteBeforeReplace: false };
  const olds = { [mapping.nameInput]: previous.autoname ?? name, ...storedComparableInputs(previous) };
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

/** A property path as the engine parses it: keys and array indices; "*" stands for any one. */
export type PropertyPath = Array<string | number>;

/**
 * A property path in Pulumi's syntax (`a.b`, `a[0].b`, `a[*]`, `a["b.c"]`), as pulumi/pulumi's
 * resource.ParsePropertyPath reads it; throws on one it would refuse.
 */
export function parsePropertyPath(text: string): PropertyPath {
  const path: PropertyPath = [];
  let at = 0;
  const fail = (): never => {
    throw new Error(`invalid property path ${JSON.stringify(text)}`);
  };
  while (at < text.length) {
    if (text[at] === "[") {
      // ["a key"] (which may hold "." and "]"), [*] or [0].
      const bracket = /^\[(?:("(?:[^"\\]|\\.)*")|(\*)|(\d+))\]/.exec(text.slice(at));
      if (!bracket) return fail();
      const [whole, quoted, star, index] = bracket;
      path.push(quoted !== undefined ? (JSON.parse(quoted) as string) : star !== undefined ? "*" : Number(index));
      at += whole.length;
      if (text[at] === ".") at++;
      continue;
    }
    let end = at;
    while (end < text.length && text[end] !== "." && text[end] !== "[") end++;
    if (end === at) fail();
    path.push(text.slice(at, end));
    at = text[end] === "." ? end + 1 : end;
  }
  if (path.length === 0) fail();
  return path;
}

/**
 * Whether `path` is at or below `prefix`, "*" in the prefix matching any one key or index: the
 * engine's PropertyPath.Contains.
 */
export function pathContains(prefix: PropertyPath, path: PropertyPath): boolean {
  return path.length >= prefix.length && prefix.every((key, i) => key === "*" || key === path[i]);
}

/**
 * The paths at which the new inputs differ from the previous run's (secrets by fingerprint), as deep
 * as both sides hold objects or arrays: what a provider's detailed diff names.
 */
export function changedPaths(previous: PreviousResource, inputs: unknown): PropertyPath[] {
  const changed: PropertyPath[] = [];
  const walk = (olds: unknown, news: unknown, path: PropertyPath) => {
    if (same(olds, news)) return;
    if (isRecord(olds) && isRecord(news)) {
      for (const key of new Set([...Object.keys(olds), ...Object.keys(news)]))
        walk(olds[key], news[key], [...path, key]);
    } else if (Array.isArray(olds) && Array.isArray(news)) {
      for (let i = 0; i < Math.max(olds.length, news.length); i++) walk(olds[i], news[i], [...path, i]);
    } else {
      changed.push(path);
    }
  };
  walk(storedComparableInputs(previous), comparableInputs(inputs), []);
  return changed;
}

/**
 * The program's `replaceOnChanges` turns an update into a replacement when a changed input lies at or
 * below one of its paths (`b.c` replaces on a change of `b.c`, not of `b.d`; "*" for any), as the
 * engine's applyReplaceOnChanges does with a provider's detailed diff (pkg/resource/deploy/step_generator.go).
 */
export function withReplaceOnChanges(
  operation: Operation,
  previous: PreviousResource | undefined,
  inputs: unknown,
  replaceOnChanges: readonly string[],
): Operation {
  if (operation !== "update" || !previous || replaceOnChanges.length === 0) return operation;
  const prefixes = replaceOnChanges.map(parsePropertyPath);
  const changed = changedPaths(previous, inputs);
  return changed.some((path) => prefixes.some((prefix) => pathContains(prefix, path))) ? "replace" : operation;
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

/** One registration as the engine plans it: the resource, its new inputs and the options it acts on. */
export interface Registration {
  type: string;
  /** The logical name. */
  name: string;
  inputs: Record<string, unknown>;
  /** local/mockOptions.ts StepOptions; none given: none set. */
  options?: { replaceOnChanges?: readonly string[]; ignoreChanges?: readonly string[]; deleteBeforeReplace?: boolean };
}

/** What plannedStep needs of the previous run's entry besides PreviousResource (local/mocks.ts StateEntry). */
export interface PreviousEntry extends PreviousResource {
  /** The physical name generated when the program gave none. */
  autoname?: string;
  outputs?: unknown;
}

/**
 * The engine's step for one registration, from the previous run's entry of that resource (undefined:
 * none, so a create), as the mock runner takes it: `ignoreChanges` keeps previous values, the
 * provider's rule decides (azure-native's diff, the command provider's, Pulumi's Stash; a tls key
 * generated before is kept while its algorithm stays), then `replaceOnChanges` may turn an update into
 * a replacement. `deleteBeforeReplace` is the provider's answer or the program's option. Throws for a
 * type the runner does not model.
 */
export function plannedStep(
  registration: Registration,
  previous: PreviousEntry | undefined,
): { operation: Operation; deleteBeforeReplace: boolean } {
  const options = registration.options ?? {};
  const ignored = options.ignoreChanges ?? [];
  const inputs = ignored.length > 0 ? withIgnoredChanges(registration.inputs, previous, ignored) : registration.inputs;
  const asked = options.deleteBeforeReplace === true;
  const replacing = (operation: Operation) =>
    withReplaceOnChanges(operation, previous, inputs, options.replaceOnChanges ?? []);
  const mapping = mappingFor(registration.type);
  if (mapping) {
    // The ARM name the resource has: the name input, else the autoname the state keeps.
    const given = (unwrapSecrets(inputs) as Record<string, unknown>)[mapping.nameInput];
    const name = typeof given === "string" && given !== "" ? given : (previous?.autoname ?? registration.name);
    const planned = armOperation(mapping, previous, inputs, name);
    return { operation: replacing(planned.operation), deleteBeforeReplace: planned.deleteBeforeReplace || asked };
  }
  if (registration.type === "command:remote:Command") {
    return { operation: replacing(commandOperation(previous, inputs)), deleteBeforeReplace: asked };
  }
  if (registration.type === "pulumi:index:Stash") {
    return { operation: replacing(stashOperation(previous, inputs)), deleteBeforeReplace: asked };
  }
  if (registration.type === TLS_PRIVATE_KEY) {
    // The key a previous run generated is kept (as the provider keeps it) while its algorithm stays.
    const { algorithm } = privateKeyRequest(unwrapSecrets(inputs) as Record<string, unknown>);
    const before = (previous?.outputs as { algorithm?: unknown } | undefined)?.algorithm;
    return { operation: !previous ? "create" : before === algorithm ? "same" : "replace", deleteBeforeReplace: asked };
  }
  throw new Error(`the runner does not model resource type ${registration.type} (resource ${registration.name})`);
}
