/**
 * What ARM's providers may ask of the VMs' model (moto's "models.py": the one place that knows what a
 * VM is and what may happen to it next), through the context's hooks. A request handler never reaches
 * past this into a runtime (a guest, a process, an IMDS server). ./virtualMachines.ts implements it.
 */

/** A VM's power state, as its instance view names it (`PowerState/{state}`). */
export type PowerState = "starting" | "running" | "stopping" | "stopped" | "deallocating" | "deallocated";

/** The power actions of `POST …/virtualMachines/{vm}/{action}`. */
export type PowerAction = "powerOff" | "deallocate" | "start" | "restart";

/** How an ARM operation on a VM ended: an error fails it (its Azure-AsyncOperation status reads Failed). */
export interface OperationOutcome {
  result?: unknown;
  error?: { code: string; message: string };
}

/** A run command parameter as ARM takes it. */
export interface RunCommandParameter {
  name?: string;
  value?: string;
}

/**
 * Whether a request's parameter list is one ARM takes (a managed run command's `parameters` and
 * `protectedParameters`, the action's `parameters`): an array of objects whose name and value, when
 * given, are strings.
 */
export function isParameterList(given: unknown): given is RunCommandParameter[] {
  return (
    Array.isArray(given) &&
    given.every(
      (item) =>
        typeof item === "object" &&
        item !== null &&
        ["name", "value"].every(
          (key) =>
            (item as Record<string, unknown>)[key] === undefined ||
            typeof (item as Record<string, unknown>)[key] === "string",
        ),
    )
  );
}

/** The action's request (`POST …/runCommand`, RunCommandInput): its script lines and parameters. */
export interface ActionRequest {
  script: string[];
  parameters: RunCommandParameter[];
}

export interface VirtualMachineModel {
  /** A VM was created or updated through ARM (network, identities, OS profile). */
  changed(vmId: string): Promise<void>;
  /** A VM left ARM's store: its guest and IMDS go; resolves once they are gone. */
  deleted(vmId: string): Promise<void>;
  /** Its power state now, or undefined for a VM the model does not run. */
  powerState(vmId: string): PowerState | undefined;
  /** Starts a power action; resolves once the VM is in its new state. */
  power(vmId: string, action: PowerAction): Promise<OperationOutcome>;
  /**
   * Runs the managed run command stored under `id` as stored now (a new or changed configuration):
   * resolves when ARM's operation ends (the script ended, or started with asyncExecution), with an
   * error when it failed and treatFailureAsDeploymentFailure asks for that.
   */
  runCommand(id: string): Promise<OperationOutcome>;
  /** How the run command stored under `id` provisions now, without running it again (an identical PUT). */
  runCommandOutcome(id: string): Promise<OperationOutcome>;
  /** Ends what a run command runs (deleted, or its VM deleted); resolves once it has ended. */
  cancelRunCommand(id: string): Promise<void>;
  /**
   * Runs the action's script on a running VM; resolves with its RunCommandResult. Null while another
   * action's script runs on that VM (one at a time, as Azure's RunCommandLinux extension runs them).
   */
  invokeAction(vmId: string, request: ActionRequest): Promise<OperationOutcome> | null;
}
