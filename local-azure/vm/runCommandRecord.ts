import type { RunCommandParameter } from "./model";

/**
 * A managed run command as Local Azure stores it (a resource of type
 * Microsoft.Compute/virtualMachines/runCommands in the Store, saved with a kept cloud): what ARM was
 * given, what ARM shows of it, and how its last execution went. ARM's provider writes the request;
 * the model (./runCommands.ts) writes the execution. Shapes: azure-rest-api-specs
 * ComputeRP/stable/2024-11-01/runCommand.json (VirtualMachineRunCommandProperties,
 * VirtualMachineRunCommandInstanceView).
 */

export const RUN_COMMAND_TYPE = "Microsoft.Compute/virtualMachines/runCommands";

export type ExecutionState = "Unknown" | "Pending" | "Running" | "Failed" | "Succeeded" | "TimedOut" | "Canceled";

export interface RunCommandInstanceView {
  executionState: ExecutionState;
  executionMessage: string;
  exitCode: number;
  output: string;
  error: string;
  startTime?: string;
  endTime?: string;
}

export interface RunCommandProperties {
  source: { script?: string; scriptUri?: string; commandId?: string };
  parameters?: RunCommandParameter[];
  /** Never shown. */
  protectedParameters?: RunCommandParameter[];
  asyncExecution: boolean;
  runAsUser?: string;
  /** Never shown. */
  runAsPassword?: string;
  timeoutInSeconds: number;
  treatFailureAsDeploymentFailure: boolean;
  provisioningState: "Creating" | "Updating" | "Succeeded" | "Failed";
  /** Shown only to `GET …?$expand=instanceView`. */
  instanceView: RunCommandInstanceView;
}

export interface RunCommandBody {
  name: string;
  id: string;
  type: string;
  location: string;
  tags?: Record<string, string>;
  properties: RunCommandProperties;
  /** Never shown: the handler's sequence number of the last execution, and the error its provisioning failed with. */
  execution: { sequence: number; error?: { code: string; message: string } };
}

/** The members of the properties a change of which runs the script again (the extension's settings). */
const SETTINGS = [
  "source",
  "parameters",
  "protectedParameters",
  "asyncExecution",
  "runAsUser",
  "runAsPassword",
  "timeoutInSeconds",
  "treatFailureAsDeploymentFailure",
] as const;

/** The extension's settings of a run command: what its PUT or PATCH configures. */
export type RunCommandSettings = Pick<RunCommandProperties, (typeof SETTINGS)[number]>;

/**
 * Whether two configurations run the same (a member absent from one is absent, not inherited): an identical PUT does not run the script again, a changed
 * one does (the agent runs a configuration once per sequence number, and Compute gives a new one only
 * to changed settings: Azure/azure-sdk-for-net#47307, Azure/bicep-types-az#1525, the handler's
 * seqnum check). Tags and location are ARM's, not the extension's.
 */
export function sameSettings(a: RunCommandSettings, b: RunCommandSettings): boolean {
  const canonical = (p: RunCommandSettings) =>
    JSON.stringify(
      SETTINGS.map((key) => [key, p[key] ?? (key === "parameters" || key === "protectedParameters" ? [] : null)]),
    );
  return canonical(a) === canonical(b);
}

/** What ARM shows of a run command: never its protected parameters or password; its instance view only when asked. */
export function runCommandView(body: RunCommandBody, expandInstanceView: boolean): Record<string, unknown> {
  const { protectedParameters: _secret, runAsPassword: _password, instanceView, ...shown } = body.properties;
  return {
    name: body.name,
    id: body.id,
    type: body.type,
    location: body.location,
    ...(body.tags ? { tags: body.tags } : {}),
    properties: { ...shown, ...(expandInstanceView ? { instanceView } : {}) },
  };
}
