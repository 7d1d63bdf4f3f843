import type { ProviderDescription } from "./context";
import { type ArmReply, armError } from "./errors";

/**
 * ARM's routing of a request to a resource type at an api-version, and its refusals, as pure
 * functions over the catalog `/providers` shows (every provider's `describe()`), so that the versions
 * Local Azure accepts and the ones it lists are one list.
 *
 * ARM finds the namespace, then the type, then the type's endpoint for the api-version (Learn,
 * "Resource providers and types": each type lists its api-versions and locations). What it answers
 * when one is missing, as Microsoft's clients quote it:
 *
 * - no such namespace: 404 InvalidResourceNamespace "The resource namespace '{ns}' is invalid."
 *   (grafana's Azure Monitor data source error fixtures, `invalidNamespaceError`: a resource path
 *   under an unknown namespace; Azure/aci-connector-k8s#13; Azure/azure-powershell#3579);
 * - no such type in the namespace: 404 InvalidResourceType "The resource type '{type}' could not be
 *   found in the namespace '{ns}' for api version '{v}'." (Azure/azure-rest-api-specs#14807,
 *   Azure/azure-sdk-for-go#22888, cloudquery/cloudquery#6629: status 404);
 * - a regional type (a tracked resource and its children) without that version: 400
 *   NoRegisteredProviderFound "No registered resource provider found for location '{location}' and
 *   API version '{v}' for type '{type}'. The supported api-versions are '{a, b}'. The supported
 *   locations are '{l}'." (Azure/azure-cli#28496 and Azure/azure-powershell#2230 for
 *   networkInterfaces: oldest first, ", " between; pulumi/pulumi-azure-nextgen#170);
 * - a global type (no location: Microsoft.Authorization's) without that version: 404
 *   InvalidResourceType with "The supported api-versions are '{a,b}'." appended (Azure/azure-sdk-for-node#3638
 *   for roleAssignments: oldest first, "," between; Azure/azure-rest-api-specs#14807);
 * - ARM's own types (Microsoft.Resources: resource groups, subscriptions, providers…): 400
 *   InvalidApiVersionParameter "The api-version '{v}' is invalid. The supported versions are '{z,y}'."
 *   (newest first: pulumi/pulumi-azure-native#3637, ansible-collections/azure#1739);
 * - no api-version at all: 400 MissingApiVersionParameter "The api-version query parameter
 *   (?api-version=) is required for all requests." (the same threads).
 */

/**
 * ARM's own api-versions (Microsoft.Resources), newest first, as ARM lists them in
 * InvalidApiVersionParameter in 2024 (pulumi/pulumi-azure-native#3637, ansible-collections/azure#1739;
 * "2014-04" is ARM's), after 2024-11-01 (Azure CLI 2.91's azure-mgmt-resource profile) and 2025-04-01
 * (@azure/arm-resources 7 and 8), the stable versions published since (azure-rest-api-specs
 * specification/resources/resource-manager/Microsoft.Resources/resources/stable). The tutorial's curl
 * reads its group at 2016-09-01, the probe at 2021-04-01, azure-native 3.28 at 2024-03-01,
 * @azure/arm-resources-subscriptions 3 and the Azure CLI list subscriptions at 2022-12-01.
 */
export const MICROSOFT_RESOURCES_API_VERSIONS = [
  "2025-04-01",
  "2024-11-01",
  "2024-08-01",
  "2024-06-01-preview",
  "2024-03-01",
  "2023-07-01",
  "2023-07-01-preview",
  "2023-03-01-preview",
  "2022-12-01",
  "2022-11-01-preview",
  "2022-09-01",
  "2022-06-01",
  "2022-05-01",
  "2022-03-01-preview",
  "2022-01-01",
  "2021-04-01",
  "2021-01-01",
  "2020-10-01",
  "2020-09-01",
  "2020-08-01",
  "2020-07-01",
  "2020-06-01",
  "2020-05-01",
  "2020-01-01",
  "2019-11-01",
  "2019-10-01",
  "2019-09-01",
  "2019-08-01",
  "2019-07-01",
  "2019-06-01",
  "2019-05-10",
  "2019-05-01",
  "2019-03-01",
  "2018-11-01",
  "2018-09-01",
  "2018-08-01",
  "2018-07-01",
  "2018-06-01",
  "2018-05-01",
  "2018-02-01",
  "2018-01-01",
  "2017-12-01",
  "2017-08-01",
  "2017-06-01",
  "2017-05-10",
  "2017-05-01",
  "2017-03-01",
  "2016-09-01",
  "2016-07-01",
  "2016-06-01",
  "2016-02-01",
  "2015-11-01",
  "2015-01-01",
  "2014-04-01-preview",
  "2014-04-01",
  "2014-01-01",
  "2013-03-01",
  "2014-02-26",
  "2014-04",
];

/** The namespace ARM itself serves: its api-versions are checked by ARM, not by a provider. */
export const ARM_NAMESPACE = "Microsoft.Resources";

export const MISSING_API_VERSION = armError(
  400,
  "MissingApiVersionParameter",
  "The api-version query parameter (?api-version=) is required for all requests.",
);

/** ARM's own refusal of an api-version (Microsoft.Resources, /metadata/endpoints): the versions newest first. */
export function invalidApiVersion(version: string, supported: readonly string[]): ArmReply {
  return armError(
    400,
    "InvalidApiVersionParameter",
    `The api-version '${version}' is invalid. The supported versions are '${supported.join(",")}'.`,
  );
}

/** A request's resource type, as ARM resolves it: the full type (namespace first) and where the resource lives. */
export interface TypeRequest {
  /** e.g. Microsoft.Network/virtualNetworks/subnets. */
  type: string;
  version: string;
  /** The resource's location (its name: lower case, no spaces), for NoRegisteredProviderFound. */
  location: string;
  /** The locations the cloud serves its regional types in (names). */
  locations: readonly string[];
}

/** ARM's answer when the catalog has no endpoint for the request's type at its api-version; undefined when it has. */
export function apiVersionRefusal(catalog: readonly ProviderDescription[], request: TypeRequest): ArmReply | undefined {
  const [namespace, ...rest] = request.type.split("/");
  const resourceType = rest.join("/");
  const provider = catalog.find((p) => p.namespace.toLowerCase() === namespace.toLowerCase());
  if (!provider) return armError(404, "InvalidResourceNamespace", `The resource namespace '${namespace}' is invalid.`);
  const entry = provider.resourceTypes.find((t) => t.resourceType.toLowerCase() === resourceType.toLowerCase());
  const notFound = `The resource type '${resourceType}' could not be found in the namespace '${provider.namespace}' for api version '${request.version}'.`;
  if (!entry) return armError(404, "InvalidResourceType", notFound);
  if (entry.apiVersions.some((v) => v.toLowerCase() === request.version.toLowerCase())) return undefined;
  const oldestFirst = [...entry.apiVersions].sort();
  if (provider.namespace === ARM_NAMESPACE) return invalidApiVersion(request.version, entry.apiVersions);
  if (entry.global) {
    return armError(
      404,
      "InvalidResourceType",
      `${notFound} The supported api-versions are '${oldestFirst.join(",")}'.`,
    );
  }
  return armError(
    400,
    "NoRegisteredProviderFound",
    `No registered resource provider found for location '${request.location}' and API version '${request.version}' for type '${entry.resourceType}'. The supported api-versions are '${oldestFirst.join(", ")}'. The supported locations are '${request.locations.join(", ")}'.`,
  );
}
