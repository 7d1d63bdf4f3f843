import { azureNativeOutputs, type ResourceMapping, resourceMappings } from "./armMapping";

/**
 * azure-native's resource getter functions (`azure-native:<module>:get<Type>`) for the types Local
 * Azure models, shared by the mock runner (local/mocks.ts) and the azure-native stand-in plugin
 * (engine/plugins/): a GET of the resource's path at the type's API version, ARM's answer as the
 * outputs azure-native gives, and a failure worded as azure-native words it
 * (`request failed <id>: Status=404 Code="…" Message="…"`), so a program that tells a 404 from other
 * failures reads both the same way.
 */

/** What the getter needs of ARM: Local Azure's ArmClient as the deployer satisfies it. */
export interface ArmReader {
  request(method: "GET", path: string): Promise<{ status: number; body: unknown }>;
}

/** The type a getter token reads (`azure-native:compute:getVirtualMachine` reads VirtualMachine), if modelled. */
export function getterMapping(token: string): ResourceMapping | undefined {
  const match = /^azure-native:([^:]+):get([A-Z]\w*)$/.exec(token);
  if (!match) return undefined;
  return resourceMappings.find((mapping) => mapping.type === `azure-native:${match[1]}:${match[2]}`);
}

/** The tokens of every getter Local Azure answers. */
export function getterTokens(): string[] {
  return resourceMappings.map((mapping) => {
    const [, module, type] = mapping.type.split(":");
    return `azure-native:${module}:get${type}`;
  });
}

function errorFields(body: unknown): { code: string; message: string } {
  const error = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  return { code: String(error?.code ?? ""), message: String(error?.message ?? JSON.stringify(body)) };
}

/**
 * The getter's query: the api-version, then each argument the type sends as a query parameter
 * (`expand: "instanceView"` as `$expand=instanceView`), as azure-native puts a function's optional
 * query parameters on its GET.
 */
export function getterQuery(mapping: ResourceMapping, args: Record<string, unknown>): string {
  const query = [`api-version=${mapping.apiVersion}`];
  for (const [argument, parameter] of Object.entries(mapping.getterQuery ?? {})) {
    const value = args[argument];
    if (value !== undefined && value !== null && value !== "")
      query.push(`${parameter}=${encodeURIComponent(String(value))}`);
  }
  return query.join("&");
}

/** Runs the getter `token` with `args`; throws azure-native's error for any answer but 200. */
export async function invokeGetter(
  arm: ArmReader,
  token: string,
  args: Record<string, unknown>,
  subscriptionId: string,
): Promise<Record<string, unknown>> {
  const mapping = getterMapping(token);
  if (!mapping) throw new Error(`Local Azure does not answer the function ${token}`);
  const id = mapping.path(args, String(args[mapping.nameInput] ?? ""), { subscriptionId });
  const answer = await arm.request("GET", `${id}?${getterQuery(mapping, args)}`);
  if (answer.status !== 200) {
    const { code, message } = errorFields(answer.body);
    const status = code === "" ? `Status=${answer.status}` : `Status=${answer.status} Code="${code}"`;
    throw new Error(`request failed ${id}: ${status} Message="${message}"`);
  }
  return azureNativeOutputs(mapping, answer.body);
}
