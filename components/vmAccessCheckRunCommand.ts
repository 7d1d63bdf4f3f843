import * as compute from "@pulumi/azure-native/compute";
import * as pulumi from "@pulumi/pulumi";
import type { Check } from "../verify/contract";
import type { RunPlan } from "./accessCheckPlan";
import { isNotFound } from "./grantState";
import { field } from "./inputField";
import { REVOCATION_PENDING_OUTPUT } from "./probeCommand";
import {
  type ExistingRunCommand,
  judgeRun,
  RUN_COMMAND_CUSTOM_TIMEOUTS,
  runCommandBody,
  runCommandTarget,
  runEvidence,
  runIdentity,
  triggersDigest,
  type VmTarget,
} from "./runCommandPlan";
import type { RunCommandTarget } from "./vmAccessCheck";

/**
 * The probe runs of one VmAccessCheck through Azure's managed Run Command: for each run, ARM is asked
 * what it holds under the run's name (the decision to run again: components/runCommandPlan.ts), the
 * run command is declared, and its instance view is read back once it has run (azure-native's resource
 * outputs never carry it: it comes only with $expand=instanceView). Runs on one VM go one after the
 * other (dependsOn): one VM's agent is never handed two at once, whatever Azure would do with them;
 * checks of different VMs run in parallel.
 */

/** A run's verdict, as the component gathers them. */
export interface RunVerdict {
  probe: unknown;
  checks: Check[];
  verified: boolean;
}

/** Declares one probe run (named `resourceName`) and returns its verdict. */
export type ProbeRunner = (resourceName: string, plan: pulumi.Output<RunPlan>) => pulumi.Output<RunVerdict>;

type DependsOn = pulumi.CustomResourceOptions["dependsOn"];

/** The verdict of a run that probes nothing in this update. */
export function unprobedVerdict(plan: RunPlan, output: string): RunVerdict {
  return { probe: output.trim(), checks: plan.unprobed?.checks ?? [], verified: false };
}

/** The run command ARM holds under `runCommandName` with its instance view, or undefined on a 404. */
export async function readRunCommand(
  parent: pulumi.Resource,
  where: { resourceGroupName: string; vmName: string; runCommandName: string },
): Promise<ExistingRunCommand | undefined> {
  try {
    const found = await compute.getVirtualMachineRunCommandByVirtualMachine(
      { ...where, expand: "instanceView" },
      { parent },
    );
    return {
      script: found.source?.script,
      parameters: found.parameters,
      instanceView: found.instanceView,
      provisioningState: found.provisioningState,
    };
  } catch (error) {
    if (isNotFound(error)) return undefined;
    const message = error instanceof Error ? error.message : String(error);
    throw new pulumi.RunError(
      `Could not read the run command ${where.runCommandName} of VM ${where.vmName} in ${where.resourceGroupName}: ${message}`,
    );
  }
}

/** `dependsOn` and, after it, the run declared before this one on the same VM. */
function after(dependsOn: DependsOn, previous: pulumi.Resource | undefined): DependsOn {
  if (previous === undefined) return dependsOn;
  if (dependsOn === undefined) return [previous];
  if (Array.isArray(dependsOn)) return [...dependsOn, previous];
  if (pulumi.Resource.isInstance(dependsOn)) return [dependsOn, previous];
  return pulumi
    .output(dependsOn as pulumi.Input<pulumi.Input<pulumi.Resource>[] | pulumi.Resource>)
    .apply((resolved) => [...(Array.isArray(resolved) ? resolved : [resolved]), previous]);
}

export function runCommandProbe(
  parent: pulumi.ComponentResource,
  component: string,
  target: pulumi.Input<RunCommandTarget>,
  options: { triggers?: pulumi.Input<pulumi.Input<string>[]>; dependsOn?: DependsOn; script: string },
): ProbeRunner {
  const vm = pulumi
    .all([field(target, "vmId"), field(target, "location")])
    .apply(([vmId, location]) => runCommandTarget(component, { vmId, location }));
  const triggers = pulumi.output(options.triggers ?? []).apply((values) => triggersDigest(values));
  let previous: pulumi.Resource | undefined;
  return (resourceName, plan) => {
    const where = (at: VmTarget) => ({
      resourceGroupName: at.resourceGroupName,
      vmName: at.vmName,
      runCommandName: resourceName,
    });
    // Before the run command is declared: what its last run was, and whether it must run again.
    const existing = vm.apply((at) => readRunCommand(parent, where(at)));
    const body = pulumi
      .all([plan, existing, triggers])
      .apply(([p, held, digest]) => runCommandBody(p, held, { probe: options.script }, digest));
    const runCommand = new compute.VirtualMachineRunCommandByVirtualMachine(
      resourceName,
      {
        resourceGroupName: vm.resourceGroupName,
        vmName: vm.vmName,
        runCommandName: resourceName,
        location: vm.location,
        source: { script: body.script },
        parameters: body.parameters,
        // The PUT waits for the script; a failed script still records the resource cleanly, and the
        // program judges the instance view itself (see components/runCommandPlan.ts).
        asyncExecution: false,
        treatFailureAsDeploymentFailure: false,
        timeoutInSeconds: body.timeoutInSeconds,
      },
      // `pulumi up --replace <URN>` deletes it before creating it again under its one name: a fresh run.
      {
        parent,
        dependsOn: after(options.dependsOn, previous),
        deleteBeforeReplace: true,
        customTimeouts: RUN_COMMAND_CUSTOM_TIMEOUTS,
      },
    );
    previous = runCommand;
    if (pulumi.runtime.isDryRun()) {
      // A preview runs nothing: a kept run's evidence is what the update will judge; a new run is unknown.
      return pulumi.all([plan, existing, body]).apply(([p, held, b]): pulumi.Output<RunVerdict> => {
        const known = (verdict: RunVerdict) => pulumi.output(verdict) as unknown as pulumi.Output<RunVerdict>;
        if (p.unprobed !== undefined) return known(unprobedVerdict(p, REVOCATION_PENDING_OUTPUT));
        if (b.keeps) return known(judgeRun(p, runEvidence(held?.instanceView, runIdentity(b.parameters))));
        return pulumi.output(pulumi.unknown) as unknown as pulumi.Output<RunVerdict>;
      });
    }
    return pulumi.all([runCommand.id, vm, plan, body]).apply(async ([, at, p, sent]): Promise<RunVerdict> => {
      if (p.unprobed !== undefined) return unprobedVerdict(p, REVOCATION_PENDING_OUTPUT);
      const ran = await readRunCommand(parent, where(at));
      // Only the evidence of the run just sent: a PUT ARM took and whose script never ran leaves an older one.
      return judgeRun(p, runEvidence(ran?.instanceView, runIdentity(sent.parameters)));
    });
  };
}
