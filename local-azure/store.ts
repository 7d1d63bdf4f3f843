import { type BlockClaims, claimBlock, defaultClaims } from "./addressBlocks";
import type { RoleAssignment } from "./arm/rbac";
import type { VirtualClock } from "./virtualClock";

/**
 * Local Azure's in-memory state: what ARM holds (resource groups, resources, role assignments), the
 * directory of principals, and each VM's runtime. Keys are lower-cased IDs: ARM IDs compare
 * case-insensitively.
 */

export interface Faults {
  /**
   * A new role assignment authorizes managed-identity requests only after this delay, and a deleted
   * one keeps authorizing them for as long (RBAC propagation, both ways).
   */
  rbacDelaySeconds: number;
  /**
   * How long a deleted role assignment keeps authorizing managed-identity requests (Azure's revocation
   * takes minutes to reach ARM, as a grant does). Unset: rbacDelaySeconds, the same window both ways.
   */
  revocationDelaySeconds?: number;
  /**
   * The next N ARM requests that only a deleted role assignment authorizes are still allowed, however
   * long ago it was deleted: a revocation that has not reached ARM yet, counted in requests rather
   * than seconds, so that a test's window neither closes nor stays open with the machine's load.
   */
  revocationLag: { count: number };
  /** IMDS answers "Identity not found" for an identity this long after it is attached to a VM. */
  identityAttachDelaySeconds: number;
  /** A VM's SSH server refuses connections this long after the VM is created. */
  sshNotReadySeconds: number;
  /** The next N ARM requests by managed identities: 429 with Retry-After. */
  armThrottle: { count: number; retryAfterSeconds: number };
  /** The next N ARM requests by managed identities: 401 InvalidAuthenticationToken. */
  armUnauthorized: { count: number };
  /** The next N identity-token requests answer this status. */
  imdsBurst: { status: 404 | 410 | 429 | 500 | 503; count: number } | null;
  /** A new principal is unknown to role-assignment PUTs without principalType for this long. */
  directoryReplicationSeconds: number;
  /**
   * How long long-running PUT/DELETE operations stay in progress; 0 (the default): they end with their
   * first answer (arm/operations.ts says why that is still ARM's contract).
   */
  lroSeconds: number;
  /**
   * Not a fault: the time Local Azure and its portable guests run on, for tests (never a flag or a
   * setting of the program). Unset: the real clock. A running virtual clock (./virtualClock.ts): RBAC
   * propagation, IMDS's "Identity not found" and the directory's replication windows, and the stamps
   * they are measured from, read it (cloudNow), and every command a portable guest runs has its bash
   * definitions (BASH_ENV), so that the probe's sleeps move it on instead of being waited for. Give every
   * Local Azure on one kept cloud the same clock: the stamps it holds are on it. Real guests keep the
   * real clock (nothing in them moves this one on, so it stays the real time).
   */
  clock?: VirtualClock;
}

export const DEFAULT_FAULTS: Faults = {
  rbacDelaySeconds: 0,
  revocationLag: { count: 0 },
  identityAttachDelaySeconds: 0.3,
  sshNotReadySeconds: 0.3,
  armThrottle: { count: 0, retryAfterSeconds: 1 },
  armUnauthorized: { count: 0 },
  imdsBurst: null,
  directoryReplicationSeconds: 2,
  lroSeconds: 0,
};

/** Milliseconds since the epoch on the clock Local Azure runs on (faults.clock, else the real one). */
export function cloudNow(faults: Pick<Faults, "clock">): number {
  return faults.clock?.now() ?? Date.now();
}

export interface Principal {
  principalId: string;
  clientId: string;
  /** The identity's ARM resource ID (a VM's ID for a system-assigned identity). */
  resourceId: string;
  createdAt: number;
}

export interface StoredResource {
  id: string;
  /** ARM type, e.g. Microsoft.Network/virtualNetworks/subnets. */
  type: string;
  /** The resource as ARM returns it (provisioningState filled in on read). */
  body: Record<string, unknown>;
  /** Until then, provisioningState reads Creating/Updating. */
  readyAt: number;
  created: boolean;
  /**
   * When a long-running DELETE began: from then the resource reads back with provisioningState
   * Deleting, and it is gone once `lroSeconds` have passed (a timer, re-armed when the faults change:
   * arm/deletions.ts).
   */
  deletingSince?: number;
}

/** A resource group; `deletingSince` as a resource's, while its long-running delete runs. */
export interface StoredResourceGroup {
  id: string;
  name: string;
  location: string;
  tags?: unknown;
  deletingSince?: number;
}

export interface Operation {
  /** When it ends (epoch ms); Infinity while it waits for work whose end is not known (a script). */
  readyAt: number;
  /** Set for a delete: it ends `lroSeconds` after this, the faults read when asked (so a test can stretch or end it). */
  startedAt?: number;
  /** Set for a delete: the key of its deletion (arm/deletions.ts), which a poll that finds it done waits for. */
  deletes?: string;
  /** Set when it ended Failed: the status poll's `error`. */
  error?: { code: string; message: string };
  /** What its Location answers once it succeeded (a POST action's result), or a function that makes it then. */
  result?: unknown;
}

export interface RequestLogEntry {
  at: number;
  service: "arm" | "imds" | "graph";
  method: string;
  path: string;
  status: number;
  principalId: string | null;
}

// Public IPs are unique per process, from blocks of 250 the process claims machine-wide
// (./addressBlocks.ts) when it first needs one: no two Local Azures on a machine share a guest's address.
let nextPublicIp = 0;
const claimedBlocks: number[] = [];
let claims: BlockClaims | undefined;

function publicIpBlock(index: number): number {
  while (claimedBlocks.length <= index) {
    claims ??= defaultClaims();
    claimedBlocks.push(claimBlock(claims, claimedBlocks));
  }
  return claimedBlocks[index];
}

export class Store {
  readonly resourceGroups = new Map<string, StoredResourceGroup>();
  readonly resources = new Map<string, StoredResource>();
  readonly roleAssignments = new Map<string, RoleAssignment>();
  /** Deleted assignments (with deletedAt), still authorizing while their revocation propagates. */
  readonly revokedAssignments: RoleAssignment[] = [];
  readonly principals = new Map<string, Principal>();
  readonly operations = new Map<string, Operation>();
  /** Per VM (lower-cased ID): when each identity (by principal ID) was attached. */
  readonly attachedAt = new Map<string, Map<string, number>>();
  readonly requestLog: RequestLogEntry[] = [];
  /** A loopback address no other Local Azure on this machine uses. */
  allocatePublicIp(): string {
    // A kept cloud (local-azure/persist.ts) already holds addresses an earlier process handed out.
    const used = new Set(
      [...this.resources.values()].map((r) => (r.body.properties as { ipAddress?: unknown } | undefined)?.ipAddress),
    );
    for (;;) {
      const n = nextPublicIp++;
      const address = `127.77.${publicIpBlock(Math.floor(n / 250))}.${(n % 250) + 2}`;
      if (!used.has(address)) return address;
    }
  }

  /** What RBAC decides from: the assignments, and the deleted ones whose revocation may still propagate. */
  authorizingAssignments(): RoleAssignment[] {
    return [...this.roleAssignments.values(), ...this.revokedAssignments];
  }

  resource(id: string): StoredResource | undefined {
    return this.resources.get(id.toLowerCase());
  }

  principalByClientId(clientId: string): Principal | undefined {
    return [...this.principals.values()].find((p) => p.clientId.toLowerCase() === clientId.toLowerCase());
  }
}
