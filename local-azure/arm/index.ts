/**
 * Local Azure's Resource Manager, organised as moto and LocalStack organise AWS services:
 *
 *   service.ts            the pipeline every request goes through: discovery, authentication,
 *                         faults, api-version, routing, RBAC, then the provider
 *   auth.ts, rbac.ts      who the caller is (bearer token, 401 challenge) and what it may do
 *   http.ts               the HTTP adapter (body, request log, HEAD)
 *   operations.ts         long-running operations and their poll URLs, for every provider
 *   providerResources.ts  ARM's common life cycle of `/providers/{namespace}/…` resources
 *   providers/*.ts        one module per resource provider, with its routes, rules and errors:
 *                         resources (Microsoft.Resources), authorization, network, compute,
 *                         managedIdentity, and discovery (/metadata/endpoints, subscriptions,
 *                         tenants, locations, providers)
 *
 * Microsoft Graph is not ARM: it has its own address and audience (../graph/). The state stays one
 * Store (../store.ts): a kept cloud saves it as one snapshot (../persist.ts). docs/local-azure.md
 * describes the layout for a reader adding a provider.
 */

export type { ArmContext } from "./context";
export { type ArmReply, armError } from "./errors";
export { armRequestHandler } from "./http";
export type { Route } from "./routes";
export { ArmService } from "./service";
