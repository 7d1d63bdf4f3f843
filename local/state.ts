import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type StateEntry, stateKey } from "./mocks";

/**
 * The local stack's state folder (git-ignored): state.json (per resource: type, ARM id, autoname,
 * inputs, outputs; secrets redacted, with their SHA-256 fingerprints so that a changed secret still
 * counts as a change, except the key pairs the next run reuses) and outputs.json (exactly what `pulumi
 * stack output --json` prints: secrets "[secret]"). The next run decides from it, as the engine from its
 * checkpoint, what to create, update, replace or leave alone.
 */

export const STATE_FILE = "state.json";
export const OUTPUTS_FILE = "outputs.json";

export interface LocalState {
  version: 1;
  /** When the run that wrote it finished (ISO 8601). */
  updatedAt: string;
  /** The ARM endpoint of the Local Azure that holds these resources (its kept cloud keeps its port). */
  armEndpoint: string | null;
  /**
   * By state key (type::logical name), in creation order. A resource replaced by one that the next
   * successful run deletes (a failed run deletes nothing) is kept as `type::name@id`.
   */
  resources: Record<string, StateEntry>;
}

export function readState(stateDir: string): LocalState | null {
  const file = join(stateDir, STATE_FILE);
  if (!existsSync(file)) return null;
  try {
    const state = JSON.parse(readFileSync(file, "utf8")) as LocalState;
    return state && typeof state.resources === "object" ? state : null;
  } catch {
    // A corrupt state only costs the autonames and keys of the previous run.
    return null;
  }
}

export function writeState(stateDir: string, resources: StateEntry[], armEndpoint: string | null): void {
  mkdirSync(stateDir, { recursive: true });
  // The current resources (last in the list) take their keys first; what they replaced, still to be
  // deleted, goes by ID.
  const byKey = new Map<string, StateEntry>();
  for (const entry of [...resources].reverse()) {
    const key = stateKey(entry.type, entry.name);
    const slot = byKey.has(key) ? `${key}@${entry.id}` : key;
    if (!byKey.has(slot)) byKey.set(slot, entry);
  }
  const state: LocalState = {
    version: 1,
    updatedAt: new Date().toISOString(),
    armEndpoint,
    resources: Object.fromEntries([...byKey].reverse()),
  };
  // The file holds private keys: owner-only.
  writeFileSync(join(stateDir, STATE_FILE), `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
}

export function writeOutputs(stateDir: string, outputs: Record<string, unknown>): void {
  mkdirSync(stateDir, { recursive: true });
  writeFileSync(join(stateDir, OUTPUTS_FILE), `${JSON.stringify(outputs, null, 2)}\n`);
}

/** The last run's outputs, or null when there is none. Throws a clear error when the file is unreadable. */
export function readOutputs(stateDir: string): Record<string, unknown> | null {
  const file = join(stateDir, OUTPUTS_FILE);
  if (!existsSync(file)) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, "utf8"));
  } catch (error) {
    throw new Error(`${file} is not valid JSON (${(error as Error).message}); run npm run local again`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new Error(`${file} must hold one JSON object of outputs; run npm run local again`);
  }
  return parsed as Record<string, unknown>;
}

export function clearState(stateDir: string): void {
  rmSync(join(stateDir, STATE_FILE), { force: true });
  rmSync(join(stateDir, OUTPUTS_FILE), { force: true });
}
