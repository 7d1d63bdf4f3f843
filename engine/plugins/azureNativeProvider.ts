import { randomUUID } from "node:crypto";
import type * as provider from "@pulumi/pulumi/provider";
import { diffInputs, INPUTS_KEY } from "../../local/armDiff";
import { getterMapping, getterTokens, invokeGetter } from "../../local/armGetter";
import { mappingFor, type ResourceMapping } from "../../local/armMapping";
import { type ArmHttp, ArmPutError, putResource, readAfterFailure } from "../../local/armPut";
import { armFailure, armPlan, armResult, resourceName } from "../../local/armResource";
import { isWrappedSecret, unwrapSecrets, wrapSecret } from "../../local/secrets";

/**
 * The azure-native stand-in's resource provider: Check/Diff/Create/Read/Update/Delete for the types
 * local/armMapping/ models, the getClientConfig invoke and those types' getters (local/armGetter.ts), over
 * Local Azure's ARM as the deployer.
 * Requests and outputs come from the same tables and steps the mock runner uses (local/armResource.ts).
 *
 * Like azure-native v1, the resource's inputs are kept in its state under `__inputs`, because the
 * provider API hands Diff the old state, and azure-native diffs old inputs against new inputs.
 */

/** The version the SDK asks the engine for (node_modules/@pulumi/azure-native/package.json). */
export const AZURE_NATIVE_VERSION = "3.28.0";

export { diffInputs, forceNewInputs, type InputDiff, UNKNOWN } from "../../local/armDiff";

const GET_CLIENT_CONFIG = "azure-native:authorization:getClientConfig";

/** What the provider needs of ARM: Local Azure's ArmClient as the deployer satisfies it. */
export interface ArmApi extends ArmHttp {
  deleteAndWait(path: string): Promise<unknown>;
}

/**
 * How a provider built on @pulumi/pulumi/provider reports a partial create or update to the engine: an
 * error carrying `id`, `properties` and `reasons`, which its server (provider/server.js,
 * grpcResponseFromError) packs as pulumirpc.ErrorResourceInitFailed; the engine then records the
 * resource with those outputs, its new inputs and the reasons as initialization errors
 * (sdk/go/common/resource/plugin/provider_plugin.go parseError; pkg/resource/deploy/step.go), and the
 * next `pulumi up` updates it even when nothing changed (step_generator.go: hasInitErrors). The Node.js
 * server sends no `inputs` in the detail, which the engine ignores for Create anyway.
 */
export class PartialResourceError extends Error {
  constructor(
    message: string,
    readonly id: string,
    readonly properties: Record<string, unknown>,
    readonly reasons: string[],
  ) {
    super(message);
    this.name = "PartialResourceError";
  }
}

export interface AzureNativeProviderOptions {
  arm: ArmApi;
  subscriptionId: string;
  tenantId: string;
  /** Where a resource group goes when the program gives no location. */
  location: string;
  deployerClientId: string;
  /** The deployer's object ID (the `oid` of its token). */
  deployerObjectId: () => Promise<string>;
  random?: () => string;
}

/** The type token and logical name in a URN (`urn:pulumi:stack::project::parent$type::name`). */
export function parseUrn(urn: string): { type: string; name: string } {
  const parts = urn.split("::");
  if (parts.length < 4) throw new Error(`not a resource URN: ${urn}`);
  const qualifiedType = parts[2];
  return { type: qualifiedType.slice(qualifiedType.lastIndexOf("$") + 1), name: parts.slice(3).join("::") };
}

function tableFor(type: string): ResourceMapping {
  const mapping = mappingFor(type);
  if (!mapping) {
    throw new Error(
      `Local Azure does not model resource type ${type}: the azure-native stand-in handles only the types in local/armMapping/`,
    );
  }
  return mapping;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function containsSecret(value: unknown): boolean {
  if (isWrappedSecret(value)) return true;
  if (Array.isArray(value)) return value.some(containsSecret);
  if (isRecord(value)) return Object.values(value).some(containsSecret);
  return false;
}

/**
 * The outputs with every value that was a secret input kept secret at the same path; a secret input
 * ARM does not return (a VM's customData) is carried over from the inputs, still secret.
 */
export function carrySecrets(inputs: unknown, outputs: unknown): unknown {
  if (isWrappedSecret(inputs)) return wrapSecret(unwrapSecrets(outputs === undefined ? inputs.value : outputs));
  if (!containsSecret(inputs)) return outputs;
  if (Array.isArray(inputs)) {
    const items = Array.isArray(outputs) ? outputs : [];
    return inputs.map((item, index) => carrySecrets(item, items[index]));
  }
  if (isRecord(inputs)) {
    const result: Record<string, unknown> = isRecord(outputs) ? { ...outputs } : {};
    for (const [key, value] of Object.entries(inputs)) {
      if (containsSecret(value)) result[key] = carrySecrets(value, result[key]);
    }
    return result;
  }
  return outputs;
}

/** azure-native's Check: a resource group's default location and an absent name filled in, the old name kept. */
export function checkInputs(
  mapping: ResourceMapping,
  logicalName: string,
  olds: Record<string, unknown>,
  news: Record<string, unknown>,
  opts: { location: string; random: () => string },
): Record<string, unknown> {
  const inputs = { ...news };
  if (mapping.type === "azure-native:resources:ResourceGroup" && inputs.location === undefined) {
    inputs.location = typeof olds.location === "string" ? olds.location : opts.location;
  }
  if (inputs[mapping.nameInput] === undefined || inputs[mapping.nameInput] === "") {
    const previous = olds[mapping.nameInput];
    inputs[mapping.nameInput] = resourceName(mapping, logicalName, inputs, {
      previousAutoname: typeof previous === "string" && previous !== "" ? previous : undefined,
      random: opts.random,
    }).name;
  }
  return inputs;
}

function inputsOf(state: unknown): Record<string, unknown> {
  const inputs = isRecord(state) ? state[INPUTS_KEY] : undefined;
  return isRecord(inputs) ? inputs : {};
}

export function azureNativeProvider(options: AzureNativeProviderOptions): provider.Provider {
  const random = options.random ?? randomUUID;

  /**
   * PUT (create or update), then the outputs azure-native would store: what a plain GET reads back (no
   * `$expand`). A long-running PUT that was accepted and then failed is reported as partially done, with
   * what ARM holds (pulumi-azure-native crud.go HandleErrorWithCheckpoint; #1066).
   */
  async function put(verb: "creating" | "updating", urn: string, inputs: Record<string, unknown>) {
    const { type, name } = parseUrn(urn);
    const mapping = tableFor(type);
    const plan = armPlan(mapping, name, unwrapSecrets(inputs) as Record<string, unknown>, {
      subscriptionId: options.subscriptionId,
      defaultLocation: options.location,
      random,
    });
    const stored = (outputs: Record<string, unknown>) => ({
      ...(carrySecrets(inputs, outputs) as Record<string, unknown>),
      [INPUTS_KEY]: inputs,
    });
    let answer: { body: unknown };
    try {
      // azure-native's wait: the request's timeout, else two hours (local/armPut.ts). @pulumi/pulumi/provider's
      // server hands create and update no timeout (create(urn, inputs)), so the stand-in has the two hours,
      // which is azure-native's wait for this program: it sets no customTimeouts.
      answer = await putResource(options.arm, plan.request.path, plan.request.body);
    } catch (error) {
      const failure = armFailure(verb, type, name, error);
      if (error instanceof ArmPutError && error.accepted) {
        const held = await readAfterFailure(options.arm, plan.request.path);
        const outputs = held === null ? {} : armResult(mapping, name, held).outputs;
        const id = String(outputs.id ?? plan.request.path.split("?")[0]);
        throw new PartialResourceError(failure.message, id, stored(outputs), [failure.message]);
      }
      throw failure;
    }
    const { id, outputs } = armResult(mapping, name, answer.body);
    return { id, outs: stored(outputs) };
  }

  return {
    version: AZURE_NATIVE_VERSION,

    async check(urn, olds, news) {
      const { type, name } = parseUrn(urn);
      const mapping = mappingFor(type);
      if (!mapping) {
        return {
          inputs: news,
          failures: [{ property: "", reason: `Local Azure does not model resource type ${type}` }],
        };
      }
      return { inputs: checkInputs(mapping, name, olds ?? {}, news ?? {}, { location: options.location, random }) };
    },

    async diff(_id, urn, olds, news) {
      const mapping = tableFor(parseUrn(urn).type);
      const result = diffInputs(mapping, inputsOf(olds), news ?? {});
      return {
        changes: result.changed.length > 0,
        replaces: result.replaces,
        deleteBeforeReplace: result.deleteBeforeReplace,
      };
    },

    create: (urn, inputs) => put("creating", urn, inputs),

    async update(_id, urn, _olds, news) {
      const { outs } = await put("updating", urn, news);
      return { outs };
    },

    async read(id, urn, props) {
      const { type, name } = parseUrn(urn);
      const mapping = tableFor(type);
      const answer = await options.arm.request("GET", `${id}?api-version=${mapping.apiVersion}`);
      // Gone from Azure: the engine drops it from the state on refresh.
      if (answer.status === 404) return { id: "", props: {} };
      if (answer.status >= 400) throw armFailure("reading", type, name, { status: answer.status, ...errorOf(answer) });
      const inputs = inputsOf(props);
      const { outputs } = armResult(mapping, name, answer.body);
      return {
        id,
        props: { ...(carrySecrets(inputs, outputs) as Record<string, unknown>), [INPUTS_KEY]: inputs },
        inputs,
      };
    },

    async delete(id, urn) {
      const { type, name } = parseUrn(urn);
      const mapping = tableFor(type);
      try {
        await options.arm.deleteAndWait(`${id}?api-version=${mapping.apiVersion}`);
      } catch (error) {
        // Already gone (its resource group took it along): nothing left to delete.
        if ((error as { status?: number }).status === 404) return;
        throw armFailure("deleting", type, name, error);
      }
    },

    async invoke(token, inputs) {
      if (getterMapping(token)) {
        return {
          outputs: await invokeGetter(
            options.arm,
            token,
            unwrapSecrets(inputs) as Record<string, unknown>,
            options.subscriptionId,
          ),
        };
      }
      if (token !== GET_CLIENT_CONFIG) {
        throw new Error(
          `Local Azure does not answer the function ${token}: the stand-in supports ${GET_CLIENT_CONFIG} and the getters of the types it models (${getterTokens().join(", ")})`,
        );
      }
      return {
        outputs: {
          clientId: options.deployerClientId,
          objectId: await options.deployerObjectId(),
          subscriptionId: options.subscriptionId,
          tenantId: options.tenantId,
        },
      };
    },
  };
}

function errorOf(answer: { body: unknown }): { code?: string; message?: string } {
  const error = isRecord(answer.body) ? answer.body.error : undefined;
  return isRecord(error) ? { code: String(error.code ?? ""), message: String(error.message ?? "") } : {};
}
