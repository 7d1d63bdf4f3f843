import { X509Certificate } from "node:crypto";
import { type AddressInfo, createServer as createNetServer, isIP } from "node:net";
import { SERVER_NAMES } from "./ca";
import type { Entra } from "./entra";
import { hostFacts, realGuestsUnavailable } from "./linuxGuest/host";
import { reapEnvironment, sweepLeftovers } from "./linuxGuest/reaper";
import { DEFAULT_FAULTS, type Faults, type Store } from "./store";

/**
 * What LocalAzure.start (./index.ts) sets up before its servers listen, one concern each: the faults
 * in force, the host's real guests, the deployer service principal, saved TLS material's validity, a
 * free port.
 */

const OWNER_ROLE_ID = "8e3af657-a8ff-443c-a75c-2fe8c4bf8635";

/** The faults in force: the defaults, overridden by what was given (nested ones member by member). */
export function faultsFrom(given: Partial<Faults> | undefined): Faults {
  return {
    ...DEFAULT_FAULTS,
    ...given,
    armThrottle: { ...DEFAULT_FAULTS.armThrottle, ...given?.armThrottle },
    armUnauthorized: { ...DEFAULT_FAULTS.armUnauthorized, ...given?.armUnauthorized },
    revocationLag: { ...DEFAULT_FAULTS.revocationLag, ...given?.revocationLag },
    imdsBurst: given?.imdsBurst ? { ...given.imdsBurst } : null,
  };
}

/**
 * The faults, telling `changed` of each member set on them (a test stretching or ending a delete sets
 * `lroSeconds` while it runs): the object every part of Local Azure reads them from.
 */
export function watchedFaults(faults: Faults, changed: () => void): Faults {
  return new Proxy(faults, {
    set(target, member, value) {
      const set = Reflect.set(target, member, value);
      changed();
      return set;
    },
  });
}

export type RealGuestHost = {
  image: NonNullable<ReturnType<typeof hostFacts>["image"]>;
  cgroups: NonNullable<ReturnType<typeof hostFacts>["cgroups"]>;
};

/**
 * With real guests: the image they boot and the host's cgroups, or why this host cannot boot them
 * (thrown); what an earlier run that crashed left behind goes before anything new starts.
 */
export async function realGuestHost(): Promise<RealGuestHost> {
  const facts = hostFacts();
  const why = realGuestsUnavailable(facts);
  if (why !== null || facts.image === null || facts.cgroups === null) throw new Error(why ?? "no guest image");
  await sweepLeftovers(reapEnvironment(facts.cgroups));
  return { image: facts.image, cgroups: facts.cgroups };
}

/**
 * The deployer: a service principal that signs in with a client secret (a kept one, if saved), as a
 * CI deployer does, and holds Owner on the subscription, long established (no propagation delay).
 */
export function seedDeployer(
  store: Store,
  entra: Entra,
  subscriptionId: string,
  savedSecret: string | undefined,
): { principalId: string; clientId: string; clientSecret: string } {
  const ids = {
    principalId: "0a1b2c3d-0000-4000-8000-00000000d001",
    clientId: "0a1b2c3d-0000-4000-8000-00000000c001",
  };
  store.principals.set(ids.principalId, { ...ids, resourceId: "", createdAt: 0 });
  const clientSecret = entra.registerApplication(ids.clientId, ids.principalId, savedSecret);
  const ownerScope = `/subscriptions/${subscriptionId}`;
  store.roleAssignments.set(`${ownerScope}/providers/microsoft.authorization/roleassignments/deployer-owner`, {
    id: `${ownerScope}/providers/Microsoft.Authorization/roleAssignments/deployer-owner`,
    name: "deployer-owner",
    scope: ownerScope,
    roleDefinitionId: `${ownerScope}/providers/Microsoft.Authorization/roleDefinitions/${OWNER_ROLE_ID}`,
    principalId: ids.principalId,
    principalType: "ServicePrincipal",
    createdAt: 0,
  });
  return { ...ids, clientSecret };
}

/**
 * Whether saved TLS material is still good: valid for an hour at least (the CA lasts a day; then a new
 * one is made), and the server certificate names every host it serves (older ones lack Azure's).
 */
export function stillValid(tls: { caCertPem: string; serverCertPem: string }): boolean {
  try {
    const valid = new Date(new X509Certificate(tls.caCertPem).validTo).getTime() > Date.now() + 3600_000;
    const server = new X509Certificate(tls.serverCertPem);
    const covers = (name: string) => (isIP(name) ? server.checkIP(name) : server.checkHost(name)) !== undefined;
    return valid && SERVER_NAMES.every(covers);
  } catch {
    return false;
  }
}

export async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
