import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { RoleAssignment } from "./arm/rbac";
import type { TlsMaterial } from "./ca";
import type { Principal, Store, StoredResource, StoredResourceGroup } from "./store";
import type { PersistedVm } from "./vm/virtualMachines";

/**
 * A Local Azure that keeps its cloud between runs, as a real cloud does: what ARM holds (resource
 * groups, resources, role assignments, the directory of principals, when identities were attached)
 * and what makes its endpoints stable (ports, CA and server certificate, Entra's signing key, tenant,
 * subscription, the deployer's credentials, each VM's IMDS address). One JSON file, written
 * atomically and owner-only (it holds private keys and the deployer's secret).
 */

export const CLOUD_FILE = "cloud.json";

export interface StoreSnapshot {
  resourceGroups: StoredResourceGroup[];
  resources: StoredResource[];
  roleAssignments: RoleAssignment[];
  /** Deleted assignments still propagating (absent in clouds saved before revocation was modelled). */
  revokedAssignments?: RoleAssignment[];
  principals: Principal[];
  /** Per VM (lower-cased ID): principal ID → epoch ms it was attached. */
  attachedAt: Record<string, Record<string, number>>;
}

export type { PersistedVm };

/** Everything a restarted Local Azure needs to answer on the same endpoints with the same keys. */
export interface CloudIdentity {
  armPort: number;
  entraPort: number;
  /** Graph's port; absent in a cloud kept before Local Azure served Graph (a new port is picked). */
  graphPort?: number;
  sshPort: number;
  subscriptionId: string;
  tenantId: string;
  location: string;
  tls: TlsMaterial;
  /** Entra's signing keys (private JWKs), so tokens and the JWKS stay valid across restarts. */
  entraKeys: unknown;
  deployer: { principalId: string; clientId: string; clientSecret: string };
  vms: PersistedVm[];
  nextImdsHost: number;
}

export interface PersistedCloud {
  version: 1;
  savedAt: string;
  identity: CloudIdentity;
  store: StoreSnapshot;
}

/** The store as plain JSON (Maps become arrays and records). */
export function snapshotStore(store: Store): StoreSnapshot {
  return {
    resourceGroups: [...store.resourceGroups.values()],
    resources: [...store.resources.values()],
    roleAssignments: [...store.roleAssignments.values()],
    revokedAssignments: [...store.revokedAssignments],
    principals: [...store.principals.values()],
    attachedAt: Object.fromEntries(
      [...store.attachedAt].map(([vm, attached]) => [vm, Object.fromEntries(attached)] as const),
    ),
  };
}

/** Loads a snapshot into an empty store, keyed as ARM keys it (lower-cased IDs). */
export function restoreStore(store: Store, snapshot: StoreSnapshot): void {
  for (const group of snapshot.resourceGroups) store.resourceGroups.set(group.name.toLowerCase(), group);
  for (const resource of snapshot.resources) store.resources.set(resource.id.toLowerCase(), resource);
  for (const assignment of snapshot.roleAssignments) store.roleAssignments.set(assignment.id.toLowerCase(), assignment);
  store.revokedAssignments.push(...(snapshot.revokedAssignments ?? []));
  for (const principal of snapshot.principals) store.principals.set(principal.principalId.toLowerCase(), principal);
  for (const [vm, attached] of Object.entries(snapshot.attachedAt)) {
    store.attachedAt.set(vm, new Map(Object.entries(attached)));
  }
}

/** The saved cloud in `dir`, or null when there is none (or it is unreadable: a fresh cloud starts). */
export function readCloud(dir: string): PersistedCloud | null {
  const file = join(dir, CLOUD_FILE);
  if (!existsSync(file)) return null;
  try {
    const cloud = JSON.parse(readFileSync(file, "utf8")) as PersistedCloud;
    return cloud?.version === 1 && cloud.identity && cloud.store ? cloud : null;
  } catch {
    return null;
  }
}

/** Writes the cloud atomically (a reader never sees half a file), mode 600. */
export function writeCloud(dir: string, cloud: PersistedCloud): void {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, CLOUD_FILE);
  const partial = `${file}.${process.pid}.partial`;
  writeFileSync(partial, `${JSON.stringify(cloud)}\n`, { mode: 0o600 });
  chmodSync(partial, 0o600);
  renameSync(partial, file);
}

/** Empties the kept cloud: the next start is a fresh one. */
export function clearCloud(dir: string): void {
  rmSync(join(dir, CLOUD_FILE), { force: true });
}
