import { UnknownValueError } from "@pulumi/policy";

/**
 * Reading resource inputs that may be unknown. During a preview, an input computed from another
 * resource's output (a resource group's ID, a VM's principal) is not known yet: the analyzer hands
 * it over as a sentinel string, behind a proxy that throws UnknownValueError when it is read. A
 * check cannot judge such a value, so it skips that one property (the update analyzes the resource
 * again with the value known) and still judges every known one.
 */

/** A value a check could not read because it is not known yet (preview). */
export const UNKNOWN: unique symbol = Symbol("unknown during preview");
export type Unknown = typeof UNKNOWN;

// The sentinels Pulumi's wire format uses for unknown values (one per type; the SDKs send the string one).
const UNKNOWN_SENTINELS = new Set([
  "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7",
  "3eeb2bf0-c639-47a8-9e75-3b44932eb421",
  "04da6b54-80e4-46f7-96ec-b56ff0331ba9",
  "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",
  "030794c1-ac77-496b-92df-f27374a8bd58",
  "e48ece36-62e2-4504-bad9-02848725956a",
  "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",
]);

/** `read()`, or UNKNOWN when the value is not known yet (read through the analyzer's proxy or raw). */
export function peek<T>(read: () => T): T | Unknown {
  try {
    const value = read();
    return typeof value === "string" && UNKNOWN_SENTINELS.has(value) ? UNKNOWN : value;
  } catch (error) {
    if (error instanceof UnknownValueError) return UNKNOWN;
    throw error;
  }
}

/** The known elements of a list input with their indexes; an unknown list or element is skipped. */
export function knownItems<T>(list: readonly T[] | undefined | Unknown): Array<{ index: number; item: T }> {
  if (list === undefined || list === UNKNOWN || !Array.isArray(list)) return [];
  const items: Array<{ index: number; item: T }> = [];
  const length = peek(() => list.length);
  if (length === UNKNOWN) return items;
  for (let index = 0; index < length; index++) {
    const item = peek(() => list[index]);
    if (item !== UNKNOWN && item !== undefined && item !== null) items.push({ index, item });
  }
  return items;
}

/** A value as a violation message shows it: JSON for plain values, "not set" when absent. */
export function shown(value: unknown): string {
  return value === undefined || value === null ? "not set" : JSON.stringify(value);
}

/** Case-insensitive equality for ARM enum values ("Allow", "allow"), which ARM itself accepts in any case. */
export function sameText(value: unknown, expected: string): boolean {
  return typeof value === "string" && value.trim().toLowerCase() === expected.toLowerCase();
}
