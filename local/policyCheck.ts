import {
  type EnforcementLevel,
  type Policies,
  type PolicyResource,
  type ReportViolation,
  type ResourceValidation,
  type ResourceValidationArgs,
  type ResourceValidationPolicy,
  type StackValidationArgs,
  type StackValidationPolicy,
  UnknownValueError,
  unknownCheckingProxy,
} from "@pulumi/policy";
import { isUnknown } from "@pulumi/pulumi";
import { securityPolicies } from "../policy/policies";
import type { PolicyViolation } from "./policyVerdict";
import { isWrappedSecret } from "./secrets";

/**
 * The policy pack's own policies (policy/policies.ts) run on the resources the program registers,
 * as Pulumi's analyzer runs them: each resource's inputs before it is created (validateResource),
 * then all of them at the end (validateStack). Pure: registered resources in, violations out.
 */

/** One registration as the mocks see it: the type token, the logical name and the inputs as registered. */
export interface RegisteredResource {
  type: string;
  name: string;
  inputs: unknown;
}

export const STACK_SUBJECT = "(stack)";
const PACK_ENFORCEMENT_LEVEL: EnforcementLevel = "mandatory";
// What the engine puts in place of a value not known yet (preview), as the analyzer receives it.
const UNKNOWN_SENTINEL = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

class NotApplicable extends Error {}

function notApplicable(reason?: string): never {
  throw new NotApplicable(reason);
}

/**
 * The inputs as the analyzer hands them to a policy: secrets in clear, unknowns (Pulumi's `unknown`
 * in a preview) as the wire's sentinel, behind the same proxy that throws UnknownValueError on reading one.
 */
export function analyzerProps<T = Record<string, unknown>>(inputs: unknown): T {
  const plain = (value: unknown): unknown => {
    if (isUnknown(value)) return UNKNOWN_SENTINEL;
    if (isWrappedSecret(value)) return plain(value.value);
    if (Array.isArray(value)) return value.map(plain);
    if (typeof value === "object" && value !== null) {
      return Object.fromEntries(
        Object.entries(value)
          .filter(([, item]) => item !== undefined)
          .map(([key, item]) => [key, plain(item)]),
      );
    }
    return value;
  };
  return unknownCheckingProxy((plain(inputs) ?? {}) as Record<string, unknown>) as T;
}

/** The type a validateResourceOfType/asType check compares: the class's Pulumi type token. */
function isTypeOf(type: string, resourceClass: unknown): boolean {
  const token = (resourceClass as { __pulumiType?: unknown }).__pulumiType;
  if (typeof token === "string" && token !== "") return token === type;
  const isInstance = (resourceClass as { isInstance?: (obj: unknown) => boolean }).isInstance;
  return typeof isInstance === "function" && isInstance({ __pulumiType: type }) === true;
}

function levelOf(policy: { enforcementLevel?: EnforcementLevel }): EnforcementLevel {
  return policy.enforcementLevel ?? PACK_ENFORCEMENT_LEVEL;
}

/** Mandatory and remediate block (remediation is not run here, so a violation stands), advisory only reports. */
function reported(level: EnforcementLevel): PolicyViolation["enforcementLevel"] {
  return level === "advisory" ? "advisory" : "mandatory";
}

function isResourcePolicy(policy: Policies[number]): policy is ResourceValidationPolicy {
  return "validateResource" in policy && policy.validateResource !== undefined;
}

function isStackPolicy(policy: Policies[number]): policy is StackValidationPolicy {
  return typeof (policy as StackValidationPolicy).validateStack === "function";
}

/** Runs one validation; an unknown value the policy did not handle is reported as the analyzer does. */
async function runValidation(
  policyName: string,
  level: EnforcementLevel,
  subject: string,
  violations: PolicyViolation[],
  validate: (report: ReportViolation) => Promise<void> | void,
): Promise<void> {
  const report: ReportViolation = (message) =>
    violations.push({ policy: policyName, enforcementLevel: reported(level), resource: subject, message });
  try {
    await validate(report);
  } catch (error) {
    if (error instanceof NotApplicable) return;
    if (error instanceof UnknownValueError) {
      violations.push({
        policy: policyName,
        enforcementLevel: "advisory",
        resource: subject,
        message: `can't run policy '${policyName}' during preview: ${(error as Error).message}`,
      });
      return;
    }
    throw error;
  }
}

/** The violations of one resource: every resource policy's validateResource on its inputs. */
export async function evaluateResource(
  resource: RegisteredResource,
  policies: Policies = securityPolicies,
): Promise<PolicyViolation[]> {
  const violations: PolicyViolation[] = [];
  for (const policy of policies) {
    const level = levelOf(policy);
    if (level === "disabled" || !isResourcePolicy(policy) || policy.validateResource === undefined) continue;
    const validations: ResourceValidation[] = Array.isArray(policy.validateResource)
      ? policy.validateResource
      : [policy.validateResource];
    for (const validation of validations) {
      const props = analyzerProps<Record<string, unknown>>(resource.inputs);
      const args: ResourceValidationArgs = {
        type: resource.type,
        props,
        urn: resourceUrn(resource),
        name: resource.name,
        opts: defaultOptions(),
        stackTags: new Map(),
        isType: (resourceClass) => isTypeOf(resource.type, resourceClass),
        asType: ((resourceClass: unknown) =>
          isTypeOf(resource.type, resourceClass) ? props : undefined) as ResourceValidationArgs["asType"],
        getConfig: <T extends object>() => ({}) as T,
        notApplicable,
      };
      await runValidation(policy.name, level, resource.name, violations, (report) => validation(args, report));
    }
  }
  return violations;
}

/** The violations of the stack as a whole: every stack policy's validateStack on all resources. */
export async function evaluateStack(
  resources: RegisteredResource[],
  policies: Policies = securityPolicies,
): Promise<PolicyViolation[]> {
  const violations: PolicyViolation[] = [];
  const policyResources: PolicyResource[] = resources.map((resource) => {
    const props = analyzerProps<Record<string, unknown>>(resource.inputs);
    return {
      type: resource.type,
      props,
      urn: resourceUrn(resource),
      name: resource.name,
      opts: defaultOptions(),
      dependencies: [],
      propertyDependencies: {},
      isType: (resourceClass) => isTypeOf(resource.type, resourceClass),
      asType: ((resourceClass: unknown) =>
        isTypeOf(resource.type, resourceClass) ? props : undefined) as PolicyResource["asType"],
    };
  });
  for (const policy of policies) {
    const level = levelOf(policy);
    if (level === "disabled" || !isStackPolicy(policy)) continue;
    const args: StackValidationArgs = {
      resources: policyResources,
      stackTags: new Map(),
      getConfig: <T extends object>() => ({}) as T,
      notApplicable,
    };
    await runValidation(policy.name, level, STACK_SUBJECT, violations, (report) => policy.validateStack(args, report));
  }
  return violations;
}

/** Every violation: each resource's, in registration order, then the stack's. */
export async function evaluatePolicies(
  resources: RegisteredResource[],
  policies: Policies = securityPolicies,
): Promise<PolicyViolation[]> {
  const violations: PolicyViolation[] = [];
  for (const resource of resources) violations.push(...(await evaluateResource(resource, policies)));
  violations.push(...(await evaluateStack(resources, policies)));
  return violations;
}

function resourceUrn(resource: RegisteredResource): string {
  return `urn:pulumi:local::vm-identity-access::${resource.type}::${resource.name}`;
}

function defaultOptions(): ResourceValidationArgs["opts"] {
  return {
    protect: false,
    ignoreChanges: [],
    aliases: [],
    customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
    additionalSecretOutputs: [],
  };
}
