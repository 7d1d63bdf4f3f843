import type { ResourceMapping } from "./armMapping";
import { unwrapSecrets } from "./secrets";

/**
 * azure-native's Diff, shared by the mock runner (local/mocks.ts decides from the previous run's state
 * what the engine would do) and the azure-native stand-in under the real engine (engine/plugins/): old
 * inputs against new inputs, key order and empty values making no difference, a change of what Azure
 * cannot update in place a replacement (pulumi-azure-native provider/pkg/provider/diff.go,
 * calculateChangesAndReplacements).
 */

/** The engine's marker for a value not known during preview. */
export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

/** The key under which the stand-in keeps a resource's inputs in its state (as azure-native v1 did). */
export const INPUTS_KEY = "__inputs";

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function valueAt(value: unknown, path: string): unknown {
  let current = unwrapSecrets(value);
  for (const key of path.split(".")) {
    if (!isRecord(current)) return undefined;
    current = current[key];
  }
  return current;
}

/** Key order and empty values do not make a difference. */
export function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (isRecord(value)) {
    const entries = Object.keys(value)
      .sort()
      .filter((key) => value[key] !== undefined && value[key] !== null)
      .map((key) => [key, canonical(value[key])]);
    return Object.fromEntries(entries);
  }
  return value;
}

function sameValue(a: unknown, b: unknown, path: string): boolean {
  if (a === UNKNOWN || b === UNKNOWN) return false;
  if (path === "location" && typeof a === "string" && typeof b === "string") {
    // ARM spells regions several ways ("East US", "eastus"); azure-native compares them normalized.
    return a.replace(/\s+/g, "").toLowerCase() === b.replace(/\s+/g, "").toLowerCase();
  }
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

/** Every input Azure cannot change in place: the path inputs (name, resource group, scope…), location, the table's forceNew. */
export function forceNewInputs(mapping: ResourceMapping): string[] {
  return [...new Set([...mapping.pathInputs, "location", ...(mapping.forceNew ?? [])])];
}

export interface InputDiff {
  /** Top-level inputs that differ. */
  changed: string[];
  /** The force-new inputs (top-level or dotted) that differ: a replacement. */
  replaces: string[];
  /** Replacing reuses the same ARM name, so the old resource must go first. */
  deleteBeforeReplace: boolean;
}

/** azure-native's diff: old inputs against new inputs, secrets compared by value, unknowns as changes. */
export function diffInputs(
  mapping: ResourceMapping,
  oldInputs: Record<string, unknown>,
  newInputs: Record<string, unknown>,
): InputDiff {
  const olds = unwrapSecrets(oldInputs) as Record<string, unknown>;
  const news = unwrapSecrets(newInputs) as Record<string, unknown>;
  const keys = [...new Set([...Object.keys(olds), ...Object.keys(news)])].filter((key) => key !== INPUTS_KEY).sort();
  const changed = keys.filter((key) => !sameValue(olds[key], news[key], key));
  const replaces = forceNewInputs(mapping).filter(
    (path) => changed.includes(path.split(".")[0]) && !sameValue(valueAt(olds, path), valueAt(news, path), path),
  );
  const name = news[mapping.nameInput];
  const deleteBeforeReplace =
    replaces.length > 0 && typeof name === "string" && name !== UNKNOWN && sameValue(olds[mapping.nameInput], name, "");
  return { changed, replaces, deleteBeforeReplace };
}
