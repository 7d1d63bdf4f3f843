import { isParameterList, type PowerAction, type PowerState, type RunCommandParameter } from "../../vm/model";
import type { ArmProvider, ArmRequest, ArmShared } from "../context";
import { type ArmReply, armError, resourceGroupBeingDeleted, resourceGroupNotFound, resourceNotFound } from "../errors";
import type { Route } from "../routes";
import { vmMarkedForDeletion } from "./compute";

/**
 * What a VM does besides being a resource (azure-rest-api-specs ComputeRP/stable/2024-11-01
 * virtualMachine.json and runCommand.json; Compute/VirtualMachine.tsp for the newer versions):
 *
 * - `POST …/virtualMachines/{vm}/powerOff | deallocate | start | restart`: 202 with
 *   Azure-AsyncOperation, Location and Retry-After, the operation ending once the guest has stopped
 *   or booted. restart of a VM that does not run: 409 OperationNotAllowed "The operation requires the
 *   VM to be running (or set to run)." (Learn, "Understand common error messages when you manage
 *   virtual machines in Azure"; MicrosoftDocs/azure-docs#32404 quotes it for a restart).
 * - `GET …/virtualMachines/{vm}/instanceView`: its statuses, `ProvisioningState/succeeded` and
 *   `PowerState/{state}` with their display texts ("VM running", "VM deallocated"…), as
 *   hashicorp/terraform-provider-azurerm#555 shows them from a real instance view.
 * - The action Run Command, `POST …/virtualMachines/{vm}/runCommand` (RunCommandInput): commandId
 *   RunShellScript with `script` lines and `parameters`; 202 with Azure-AsyncOperation, Location and
 *   Retry-After, its Location answering the RunCommandResult once the script ended (final-state-via
 *   location); 409 Conflict while another one runs on that VM; on a VM that is stopped or deallocated
 *   409 OperationNotAllowed "The operation requires the VM to be running (or set to run)." (the same
 *   Learn table; an `az vm run-command invoke` on a deallocated VM meets it, as
 *   nakamacchi/AzureCAF.LandingZones.Demo#4 records with its 409 Conflict).
 */

const ACTION_PATH =
  /^(\/subscriptions\/[^/]+\/resourceGroups\/([^/]+)\/providers\/Microsoft\.Compute\/virtualMachines\/([^/]+))\/(powerOff|deallocate|start|restart|runCommand|instanceView)$/i;

const POWER_ACTIONS: Record<string, PowerAction> = {
  poweroff: "powerOff",
  deallocate: "deallocate",
  start: "start",
  restart: "restart",
};

const NOT_RUNNING = armError(
  409,
  "OperationNotAllowed",
  "The operation requires the VM to be running (or set to run).",
);

/** Run command extension's refusal of a second action while one runs (Azure/azure-cli#32305). */
export const ACTION_IN_PROGRESS = armError(
  409,
  "Conflict",
  "Run command extension execution is in progress. Please wait for completion before invoking a run command.",
);

const DISPLAY: Record<PowerState, string> = {
  starting: "VM starting",
  running: "VM running",
  stopping: "VM stopping",
  stopped: "VM stopped",
  deallocating: "VM deallocating",
  deallocated: "VM deallocated",
};

function invalid(target: string, message: string): ArmReply {
  return { status: 400, body: { error: { code: "InvalidParameter", message, target } } };
}

/** The action's request, or why it cannot run: commandId RunShellScript, script lines, parameters. */
export function actionRequest(
  body: unknown,
): { script: string[]; parameters: RunCommandParameter[] } | { error: ArmReply } {
  const input = (body ?? {}) as { commandId?: unknown; script?: unknown; parameters?: unknown };
  if (typeof input.commandId !== "string" || input.commandId === "")
    return {
      error: invalid(
        "commandId",
        "The commandId parameter is required: RunShellScript, with the script's lines in script.",
      ),
    };
  if (input.commandId.toLowerCase() !== "runshellscript")
    return {
      error: invalid(
        "commandId",
        `The value of parameter commandId is invalid: '${input.commandId}'. Local Azure runs RunShellScript (a Linux shell script given in script) only.`,
      ),
    };
  const script = input.script ?? [];
  if (!Array.isArray(script) || !script.every((line) => typeof line === "string"))
    return { error: invalid("script", "script must be an array of strings: the script's lines.") };
  const parameters = input.parameters ?? [];
  if (!isParameterList(parameters))
    return { error: invalid("parameters", 'parameters must be an array of { "name": string, "value": string }.') };
  return { script: script as string[], parameters };
}

export class VirtualMachineActionsProvider implements ArmProvider {
  constructor(private readonly shared: ArmShared) {}

  match(method: string, path: string): Route | undefined {
    const match = ACTION_PATH.exec(path);
    if (!match) return undefined;
    const [, vmPath, resourceGroup, vmName, verb] = match;
    const isView = verb.toLowerCase() === "instanceview";
    if (isView !== (method === "GET")) return undefined;
    return {
      kind: "resource",
      scope: vmPath,
      resourceGroup,
      type: "Microsoft.Compute/virtualMachines",
      name: vmName,
      // RBAC: Microsoft.Compute/virtualMachines/{action}/action, or instanceView/read.
      action: `Microsoft.Compute/virtualMachines/${isView ? "instanceView/read" : `${verb}/action`}`,
    };
  }

  async handle({ route, body, url }: ArmRequest): Promise<ArmReply> {
    const { store, vms } = this.shared.ctx;
    const resourceGroup = String(route.resourceGroup);
    if (!store.resourceGroups.has(resourceGroup.toLowerCase())) return resourceGroupNotFound(resourceGroup);
    const vm = store.resource(route.scope);
    if (!vm) return resourceNotFound("Microsoft.Compute/virtualMachines", String(route.name), resourceGroup);
    const verb = url.pathname.split("/").pop()?.toLowerCase() ?? "";
    const power = vms.powerState(vm.id) ?? "running";
    const operations = this.shared.operations;
    const accepted = (operation: string): ArmReply => ({
      status: 202,
      headers: operations.accepted(operation, { asyncOperation: true, location: true }),
    });
    if (verb === "instanceview") {
      const osProfile = (vm.body.properties as { osProfile?: { computerName?: string } } | undefined)?.osProfile;
      return {
        status: 200,
        body: {
          ...(osProfile?.computerName ? { computerName: osProfile.computerName } : {}),
          statuses: [
            { code: "ProvisioningState/succeeded", level: "Info", displayStatus: "Provisioning succeeded" },
            { code: `PowerState/${power}`, level: "Info", displayStatus: DISPLAY[power] },
          ],
        },
      };
    }
    // An action while a delete runs: ARM refuses it in a group being deleted, Compute on a VM marked
    // for deletion (naming the action as Compute names it, e.g. 'powerOff').
    const group = store.resourceGroups.get(resourceGroup.toLowerCase());
    if (group?.deletingSince !== undefined) return resourceGroupBeingDeleted(group.name);
    if (vm.deletingSince !== undefined)
      return vmMarkedForDeletion(url.pathname.split("/").pop() ?? verb, String(route.name));
    const running = power === "running" || power === "starting";
    if (verb === "runcommand") {
      const request = actionRequest(body);
      if ("error" in request) return request.error;
      if (!running) return NOT_RUNNING;
      const work = vms.invokeAction(vm.id, request);
      if (work === null) return ACTION_IN_PROGRESS;
      return accepted(operations.track(work));
    }
    const action = POWER_ACTIONS[verb];
    if (action === "restart" && !running) return NOT_RUNNING;
    return accepted(operations.track(vms.power(vm.id, action)));
  }
}
