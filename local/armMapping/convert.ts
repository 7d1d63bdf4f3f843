import type { ArmContext, ArmRequest, ResourceMapping, SubResourceArray } from "./types";

/**
 * The generic half of the mapping tables: inputs -> ARM request, ARM answer -> azure-native
 * outputs, driven by each type's table.
 */

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** One path segment, escaped as the provider's HTTP client does. */
export function segment(value: unknown, input: string): string {
  if (typeof value !== "string" || value === "") {
    throw new Error(`input ${input} must be a non-empty string to build the ARM path, got ${JSON.stringify(value)}`);
  }
  return encodeURIComponent(value);
}

/** Splits one object into ARM's form: `topLevel` keys stay, every other defined key goes under `properties`. */
export function splitProperties(
  values: Record<string, unknown>,
  topLevel: readonly string[],
  skip: readonly string[] = [],
): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  const properties: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(values)) {
    if (value === undefined || skip.includes(key)) continue;
    if (topLevel.includes(key)) body[key] = value;
    else properties[key] = value;
  }
  if (Object.keys(properties).length > 0) body.properties = properties;
  return body;
}

/** Lifts an ARM object's `properties` to its top level (ARM's own top-level keys win a clash). */
export function flattenProperties(value: Record<string, unknown>): Record<string, unknown> {
  const { properties, ...rest } = value;
  return isRecord(properties) ? { ...properties, ...rest } : rest;
}

function mapSubResources(
  properties: Record<string, unknown>,
  arrays: readonly SubResourceArray[],
  convert: (item: Record<string, unknown>, array: SubResourceArray) => Record<string, unknown>,
): Record<string, unknown> {
  const result = { ...properties };
  for (const array of arrays) {
    const items = result[array.property];
    if (Array.isArray(items))
      result[array.property] = items.map((item) => (isRecord(item) ? convert(item, array) : item));
  }
  return result;
}

/** The PUT azure-native sends for these inputs: path with api-version, body with `properties` split out. */
export function armRequest(
  mapping: ResourceMapping,
  inputs: Record<string, unknown>,
  name: string,
  context: ArmContext,
): ArmRequest {
  let body = splitProperties(inputs, mapping.topLevel, mapping.pathInputs);
  if (isRecord(body.properties) && mapping.subResources) {
    body.properties = mapSubResources(body.properties, mapping.subResources, (item, array) =>
      splitProperties(item, array.topLevel),
    );
  }
  if (mapping.adjustBody) body = mapping.adjustBody(body);
  return { path: `${mapping.path(inputs, name, context)}?api-version=${mapping.apiVersion}`, body };
}

/** azure-native's outputs from ARM's answer: properties lifted (per the table), plus `azureApiVersion`. */
export function azureNativeOutputs(mapping: ResourceMapping, armBody: unknown): Record<string, unknown> {
  if (!isRecord(armBody)) {
    throw new Error(`ARM's answer to the ${mapping.type} PUT is ${JSON.stringify(armBody)}, not a resource object`);
  }
  let outputs = mapping.flattenProperties ? flattenProperties(armBody) : { ...armBody };
  if (mapping.flattenProperties && mapping.subResources) {
    outputs = mapSubResources(outputs, mapping.subResources, (item) => flattenProperties(item));
  }
  return { ...outputs, azureApiVersion: mapping.apiVersion };
}

/** The name azure-native would give an unnamed resource: logical name + 8 random hex characters, a GUID, or the logical name. */
export function autoname(mapping: ResourceMapping, logicalName: string, random: () => string): string {
  if (mapping.autoname === "guid") return random();
  if (mapping.autoname === "copy") return logicalName;
  return `${logicalName}${random().replace(/-/g, "").slice(0, 8)}`;
}

/** The resource group path prefix every resource-group-scoped table shares. */
export function resourceGroupPath(inputs: Record<string, unknown>, context: ArmContext): string {
  return `/subscriptions/${segment(context.subscriptionId, "subscriptionId")}/resourceGroups/${segment(inputs.resourceGroupName, "resourceGroupName")}`;
}
