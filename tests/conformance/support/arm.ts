import { AuthorizationManagementClient } from "@azure/arm-authorization";
import { ComputeManagementClient } from "@azure/arm-compute";
import { ManagedServiceIdentityClient } from "@azure/arm-msi";
import { NetworkManagementClient } from "@azure/arm-network";
import { ResourceManagementClient } from "@azure/arm-resources";
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import { isRestError, type RestError } from "@azure/core-rest-pipeline";
import { ClientSecretCredential } from "@azure/identity";
import type { LocalAzure, LocalAzureOptions } from "../../../local-azure/index";

/**
 * What every ARM conformance file shares: Local Azure started for speed, the credentials Microsoft's
 * management clients sign in with, and the options that point a client at Local Azure.
 */

/**
 * Fast, deterministic timings: no RBAC or directory delay, and long-running operations that have
 * finished by the SDK's first poll (which @azure/core-lro sends at once). An operation still running
 * would answer that poll with Retry-After (whole seconds, as ARM does), which core-lro obeys over
 * POLL's interval: a second per operation. arm-deployer's "waits as ARM's Retry-After says" runs one
 * that way.
 */
export const FAST_FAULTS: LocalAzureOptions["faults"] = {
  rbacDelaySeconds: 0,
  identityAttachDelaySeconds: 0,
  sshNotReadySeconds: 0,
  directoryReplicationSeconds: 0,
  lroSeconds: 0,
};

/**
 * Poller options for `begin…AndWait`: between polls of a running operation that sends no Retry-After,
 * 10 ms instead of core-lro's default 2000 ms. Local Azure's running operations send one, which
 * core-lro puts before this interval.
 */
export const POLL = { updateIntervalInMs: 10 } as const;

/**
 * The deployer (Owner on the subscription) signs in as any client would: `ClientSecretCredential`
 * against Local Azure's Entra, over HTTPS, with instance discovery off (there is no public cloud to
 * ask). Every ARM conformance file therefore also exercises that sign-in path.
 */
export function deployerCredential(azure: LocalAzure): TokenCredential {
  return new ClientSecretCredential(azure.tenantId, azure.deployer.clientId, azure.deployer.clientSecret, {
    authorityHost: azure.authorityHost,
    disableInstanceDiscovery: true,
    tlsOptions: { ca: azure.caCertPem },
  });
}

/** A managed identity's ARM token, as the VM would get it from IMDS. */
export function identityCredential(azure: LocalAzure, principalId: string): TokenCredential {
  return {
    async getToken(): Promise<AccessToken> {
      const token = await azure.issueToken({ principalId, resource: `${azure.armEndpoint}/` });
      return { token, expiresOnTimestamp: Date.now() + 3_600_000 };
    },
  };
}

/** A credential that hands out a fixed token (expired, forged, for another audience). */
export function fixedCredential(token: string): TokenCredential {
  return { getToken: async () => ({ token, expiresOnTimestamp: Date.now() + 3_600_000 }) };
}

/**
 * Client options that point a management client at Local Azure: `endpoint`, the token scope for it,
 * and the CA through the pipeline's `tlsOptions.ca`. The classic clients derive the scope
 * `{endpoint}/.default` themselves (`credentialScopes`); the TypeSpec-generated @azure/arm-compute 24
 * asks for https://management.azure.com/.default whatever the endpoint unless `credentials.scopes`
 * says otherwise, as with any cloud but the public one. Retries stay on, so the SDK's own retry policy meets
 * every answer.
 */
export function clientOptions(azure: LocalAzure) {
  return {
    endpoint: azure.armEndpoint,
    credentialScopes: [`${azure.armEndpoint}/.default`],
    credentials: { scopes: [`${azure.armEndpoint}/.default`] },
    tlsOptions: { ca: azure.caCertPem },
  };
}

/** Each management client the stack's resource types need, signed in as `credential` and pointed at Local Azure. */
export function managementClients(azure: LocalAzure, credential: TokenCredential) {
  const options = clientOptions(azure);
  return {
    resources: new ResourceManagementClient(credential, azure.subscriptionId, options),
    network: new NetworkManagementClient(credential, azure.subscriptionId, options),
    compute: new ComputeManagementClient(credential, azure.subscriptionId, options),
    msi: new ManagedServiceIdentityClient(credential, azure.subscriptionId, options),
    authorization: new AuthorizationManagementClient(credential, azure.subscriptionId, options),
  };
}

/** Drains a paged list (the SDK's PagedAsyncIterableIterator). */
export async function all<T>(pages: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of pages) items.push(item);
  return items;
}

/** What a failed SDK call threw, as [statusCode, code]: the SDK's own parse of ARM's error body. */
export async function failure(call: Promise<unknown>): Promise<[number | undefined, string | undefined]> {
  const { statusCode, code } = await refusal(call);
  return [statusCode, code];
}

/** The RestError a failed SDK call threw. */
export async function refusal(call: Promise<unknown>): Promise<RestError> {
  try {
    await call;
  } catch (error) {
    if (isRestError(error)) return error;
    throw error;
  }
  throw new Error("expected the call to fail, and it succeeded");
}
