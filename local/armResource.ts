import { type ArmRequest, armRequest, autoname, azureNativeOutputs, type ResourceMapping } from "./armMapping";

/**
 * One azure-native resource as ARM sees it, shared by the mock runner (local/mocks.ts) and the
 * azure-native stand-in plugin under the real engine (engine/plugins/): the inputs azure-native
 * completes (a resource group's default location, an absent name), the PUT they become, the outputs
 * ARM's answer gives, and the error a failed request reports.
 */

export interface ArmPlanOptions {
  subscriptionId: string;
  /** Location of a resource group created without one (azure-native takes it from `azure-native:location`). */
  defaultLocation: string;
  /** The name a previous run generated for this resource, reused (azure-native keeps it in state). */
  previousAutoname?: string;
  random: () => string;
}

export interface ArmPlan {
  mapping: ResourceMapping;
  /** The inputs with azure-native's defaults applied (the name is not added: see `name`). */
  inputs: Record<string, unknown>;
  /** The resource's ARM name: the name input, or the one generated. */
  name: string;
  /** Set when the name was generated (or reused from a previous run) rather than given. */
  generated?: string;
  request: ArmRequest;
}

/** The inputs azure-native fills in before it talks to ARM: only a resource group's location, today. */
export function withDefaultLocation(
  mapping: ResourceMapping,
  inputs: Record<string, unknown>,
  defaultLocation: string,
): Record<string, unknown> {
  if (mapping.type === "azure-native:resources:ResourceGroup" && inputs.location === undefined) {
    return { ...inputs, location: defaultLocation };
  }
  return inputs;
}

/** The name input's value, or a generated name (the previous one when there is one). */
export function resourceName(
  mapping: ResourceMapping,
  logicalName: string,
  inputs: Record<string, unknown>,
  opts: Pick<ArmPlanOptions, "previousAutoname" | "random">,
): { name: string; generated?: string } {
  const given = inputs[mapping.nameInput];
  if (typeof given === "string" && given !== "") return { name: given };
  const generated = opts.previousAutoname ?? autoname(mapping, logicalName, opts.random);
  return { name: generated, generated };
}

/** The PUT that creates or updates the resource: defaults applied, name resolved. */
export function armPlan(
  mapping: ResourceMapping,
  logicalName: string,
  rawInputs: Record<string, unknown>,
  opts: ArmPlanOptions,
): ArmPlan {
  const inputs = withDefaultLocation(mapping, rawInputs, opts.defaultLocation);
  const { name, generated } = resourceName(mapping, logicalName, inputs, opts);
  const request = armRequest(mapping, inputs, name, { subscriptionId: opts.subscriptionId });
  return { mapping, inputs, name, ...(generated ? { generated } : {}), request };
}

/** ARM's answer as azure-native's outputs and the resource's ID; throws when the answer has no id. */
export function armResult(
  mapping: ResourceMapping,
  logicalName: string,
  armBody: unknown,
): { id: string; outputs: Record<string, unknown> } {
  const outputs = azureNativeOutputs(mapping, armBody);
  const id = String(outputs.id ?? "");
  if (id === "") throw new Error(`creating ${mapping.type} ${logicalName}: ARM's answer has no id`);
  return { id, outputs };
}

/** An ARM failure as the provider reports it: status, code and ARM's message. */
export function armFailure(verb: string, type: string, name: string, error: unknown): Error {
  const { status, code, message } = error as { status?: number; code?: string; message?: string };
  if (status !== undefined) {
    return new Error(
      `${verb} ${type} ${name}: Status=${status} Code="${code ?? "Unknown"}" Message="${message ?? ""}"`,
    );
  }
  return new Error(`${verb} ${type} ${name}: ${message ?? String(error)}`);
}
