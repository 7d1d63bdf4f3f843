import type { StoredResource } from "../../store";
import { isParameterList, type RunCommandParameter } from "../../vm/model";
import {
  RUN_COMMAND_TYPE,
  type RunCommandBody,
  type RunCommandProperties,
  runCommandView,
  sameSettings,
} from "../../vm/runCommandRecord";
import type { ArmProvider, ArmRequest, ArmShared } from "../context";
import {
  type ArmReply,
  armError,
  listReply,
  resourceGroupBeingDeleted,
  resourceGroupNotFound,
  resourceNotFound,
} from "../errors";
import { type Route, verbOf } from "../routes";
import { extensionMarkedForDeletion, vmMarkedForDeletion } from "./compute";

/**
 * Managed run commands, `…/virtualMachines/{vm}/runCommands/{name}`, to Compute's REST spec
 * (azure-rest-api-specs ComputeRP/stable/2024-11-01/runCommand.json; Compute/VirtualMachineRunCommand.tsp
 * for 2026-03-01 and 2026-04-01): PUT, PATCH, GET (`$expand=instanceView`), list, DELETE, each
 * long-running. What the request says is checked and stored here; running it is the VM model's
 * (ctx.vms), which writes the instance view as the script goes.
 *
 * Answers, with their sources:
 * - PUT: 201 (200 for an existing one) with provisioningState Creating (Updating), Azure-AsyncOperation
 *   (azure-cli's recording test_run_command_v2), and Location and Retry-After (the TypeSpec's
 *   `ArmLroLocationHeader & RetryAfterHeader`); PATCH: 200, Updating, the same headers; DELETE: 202 with
 *   Azure-AsyncOperation and Location (the same recording), Deleting until the operation ends as
 *   Compute's deletes are, 204 when there is nothing to delete.
 * - While a delete runs: 409 ResourceGroupBeingDeleted in a group being deleted, and Compute's
 *   OperationNotAllowed on a VM or a run command marked for deletion (./compute.ts).
 * - The properties echo `asyncExecution`, `timeoutInSeconds` and `treatFailureAsDeploymentFailure`
 *   with their defaults (the recording shows `"timeoutInSeconds": 0, "asyncExecution": false` for a
 *   request without them); `protectedParameters` and `runAsPassword` are never shown; `instanceView`
 *   only to `$expand=instanceView` (without it the recording's GET has none).
 * - On a VM that is stopped or deallocated: 409 OperationNotAllowed "Cannot modify extensions in the VM
 *   when the VM is not running." (Learn, "Understand common error messages when you manage virtual
 *   machines in Azure"; 409 as hashicorp's azurerm provider reports it for an extension), since a
 *   managed run command is delivered as the VM extension RunCommandHandlerLinux.
 * - What Local Azure cannot run is refused with ARM's error shape, naming what is allowed:
 *   source.scriptUri (a script to download: Local Azure has neither Azure Storage nor the Internet),
 *   source.commandId (Azure's built-in scripts), outputBlobUri/errorBlobUri (Azure Storage).
 */

const VM_PATH =
  /^(\/subscriptions\/[^/]+\/resourceGroups\/([^/]+)\/providers\/Microsoft\.Compute\/virtualMachines\/([^/]+))\/runCommands(?:\/([^/]+))?$/i;

const NOT_RUNNING = armError(
  409,
  "OperationNotAllowed",
  "Cannot modify extensions in the VM when the VM is not running.",
);

/** An ARM error with a target, as Compute names the member at fault. */
function invalid(target: string, message: string): ArmReply {
  return { status: 400, body: { error: { code: "InvalidParameter", message, target } } };
}

const unsupportedStorage = (target: string, what: string) =>
  invalid(
    target,
    `Local Azure runs a run command's inline script (properties.source.script) and keeps its output in the instance view: ${target} ${what}, which Local Azure does not have.`,
  );

/** The request's properties as stored, with the spec's defaults, or why they cannot be. */
export function runCommandProperties(
  input: Record<string, unknown>,
): Omit<RunCommandProperties, "provisioningState" | "instanceView"> | { error: ArmReply } {
  const source = (input.source ?? {}) as Record<string, unknown>;
  if (typeof source !== "object" || source === null || Array.isArray(source))
    return { error: invalid("properties.source", 'properties.source must be an object: { "script": "…" }.') };
  if (source.scriptUri !== undefined && source.scriptUri !== null && source.scriptUri !== "")
    return {
      error: unsupportedStorage(
        "properties.source.scriptUri",
        "is a script to download from Azure Storage or the Internet",
      ),
    };
  if (source.commandId !== undefined && source.commandId !== null && source.commandId !== "")
    return {
      error: invalid(
        "properties.source.commandId",
        `Local Azure runs a run command's inline script (properties.source.script) only; properties.source.commandId names one of Azure's built-in scripts ('${String(source.commandId)}'), which Local Azure does not have.`,
      ),
    };
  for (const blob of ["outputBlobUri", "errorBlobUri"]) {
    if (input[blob]) return { error: unsupportedStorage(`properties.${blob}`, "is a blob in Azure Storage") };
  }
  if (source.script !== undefined && typeof source.script !== "string")
    return {
      error: invalid("properties.source.script", "properties.source.script must be a string: the script's text."),
    };
  const parameters: Record<string, RunCommandParameter[] | undefined> = {};
  for (const list of ["parameters", "protectedParameters"] as const) {
    const given = input[list];
    if (given === undefined || given === null) continue;
    if (!isParameterList(given))
      return {
        error: invalid(
          `properties.${list}`,
          `properties.${list} must be an array of { "name": string, "value": string }.`,
        ),
      };
    parameters[list] = given.map(({ name, value }) => ({
      ...(name !== undefined ? { name } : {}),
      ...(value !== undefined ? { value } : {}),
    }));
  }
  const timeout = input.timeoutInSeconds ?? 0;
  if (!Number.isInteger(timeout) || (timeout as number) < 0)
    return {
      error: invalid(
        "properties.timeoutInSeconds",
        `properties.timeoutInSeconds must be a whole number of seconds >= 0 (0: none); got ${JSON.stringify(timeout)}.`,
      ),
    };
  for (const flag of ["asyncExecution", "treatFailureAsDeploymentFailure"]) {
    if (input[flag] !== undefined && typeof input[flag] !== "boolean")
      return {
        error: invalid(
          `properties.${flag}`,
          `properties.${flag} must be true or false; got ${JSON.stringify(input[flag])}.`,
        ),
      };
  }
  for (const text of ["runAsUser", "runAsPassword"]) {
    if (input[text] !== undefined && input[text] !== null && typeof input[text] !== "string")
      return { error: invalid(`properties.${text}`, `properties.${text} must be a string.`) };
  }
  return {
    source: source.script === undefined ? {} : { script: source.script as string },
    ...(parameters.parameters ? { parameters: parameters.parameters } : {}),
    ...(parameters.protectedParameters ? { protectedParameters: parameters.protectedParameters } : {}),
    asyncExecution: input.asyncExecution === true,
    ...(typeof input.runAsUser === "string" && input.runAsUser !== "" ? { runAsUser: input.runAsUser } : {}),
    ...(typeof input.runAsPassword === "string" && input.runAsPassword !== ""
      ? { runAsPassword: input.runAsPassword }
      : {}),
    timeoutInSeconds: timeout as number,
    treatFailureAsDeploymentFailure: input.treatFailureAsDeploymentFailure === true,
  };
}

/** A stored run command as ARM shows it: Deleting while its delete runs. */
function shownAs(resource: StoredResource, expand: boolean): Record<string, unknown> {
  const shown = runCommandView(resource.body as unknown as RunCommandBody, expand);
  if (resource.deletingSince !== undefined)
    (shown.properties as Record<string, unknown>).provisioningState = "Deleting";
  return shown;
}

export class RunCommandsProvider implements ArmProvider {
  constructor(private readonly shared: ArmShared) {}

  match(method: string, path: string): Route | undefined {
    const match = VM_PATH.exec(path);
    if (!match) return undefined;
    const [, vmPath, resourceGroup, , name] = match;
    const action = `${RUN_COMMAND_TYPE}/${verbOf(method)}`;
    return name === undefined
      ? { kind: "resourceList", scope: path, resourceGroup, type: RUN_COMMAND_TYPE, parentId: vmPath, action }
      : { kind: "resource", scope: path, resourceGroup, type: RUN_COMMAND_TYPE, name, parentId: vmPath, action };
  }

  async handle({ method, route, body, url }: ArmRequest): Promise<ArmReply> {
    const { store } = this.shared.ctx;
    const resourceGroup = String(route.resourceGroup);
    if (!store.resourceGroups.has(resourceGroup.toLowerCase())) return resourceGroupNotFound(resourceGroup);
    const vm = store.resource(String(route.parentId));
    const vmName = String(route.parentId).split("/").pop() as string;
    const expand = /^instanceView$/i.test(url.searchParams.get("$expand") ?? "");
    if (route.kind === "resourceList") {
      if (!vm) return resourceNotFound("Microsoft.Compute/virtualMachines", vmName, resourceGroup);
      const prefix = `${vm.id.toLowerCase()}/runcommands/`;
      return listReply(
        method,
        [...store.resources.values()]
          .filter((r) => r.type === RUN_COMMAND_TYPE && r.id.toLowerCase().startsWith(prefix))
          .map((r) => shownAs(r, expand)),
      );
    }
    const name = String(route.name);
    const existing = store.resource(route.scope);
    const notFound = () =>
      resourceNotFound(`Microsoft.Compute/virtualMachines/${vmName}/runCommands`, name, resourceGroup);
    if (method === "GET") {
      return existing ? { status: 200, body: shownAs(existing, expand) } : notFound();
    }
    if (!vm) {
      if (method === "DELETE") return { status: 204 };
      return armError(
        404,
        "ParentResourceNotFound",
        `Can not perform requested operation on nested resource. Parent resource '${vmName}' not found.`,
      );
    }
    const power = this.shared.ctx.vms.powerState(vm.id);
    const running = power === undefined || power === "running" || power === "starting";
    if (method === "DELETE") {
      if (!existing) return { status: 204 };
      // Deleting already (itself, or with its VM or group): the same end.
      const fresh = existing.deletingSince === undefined;
      if (fresh && !running) return NOT_RUNNING;
      // Deleting until the operation ends, then gone, as Compute's deletes are (../deletions.ts); its
      // script is stopped now, as the handler's disable stops it, without waiting for it.
      const operation = this.shared.beginDelete(existing);
      if (fresh)
        this.shared.ctx.vms
          .cancelRunCommand(existing.id)
          .catch((error: Error) => console.error(`Local Azure: stopping ${existing.id}: ${error.message}`));
      return {
        status: 202,
        headers: this.shared.operations.accepted(operation, { asyncOperation: true, location: true }),
      };
    }
    if (method !== "PUT" && method !== "PATCH") return armError(405, "MethodNotAllowed", `${method} is not supported.`);
    // Writes while a delete runs: ARM refuses those into a group being deleted, Compute those onto a VM
    // or a run command (an extension) marked for deletion; neither is taken back from its delete.
    const group = store.resourceGroups.get(resourceGroup.toLowerCase());
    if (group?.deletingSince !== undefined) return resourceGroupBeingDeleted(group.name);
    if (vm.deletingSince !== undefined) return vmMarkedForDeletion("PUT Extension", vmName);
    if (existing?.deletingSince !== undefined) return extensionMarkedForDeletion("PUT Extension", name);
    if (method === "PATCH" && !existing) return notFound();
    if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(name) || name.length > 80) {
      return invalid(
        "runCommandName",
        `The run command name '${name}' is invalid: use 1 to 80 letters, digits, '_', '.' and '-', starting with a letter, digit or '_'.`,
      );
    }
    if (!running) return NOT_RUNNING;
    const request = (body ?? {}) as Record<string, unknown>;
    const previous = existing?.body as unknown as RunCommandBody | undefined;
    // PATCH merges: top-level members replace, properties merge one level deep.
    const input =
      method === "PATCH"
        ? { ...(previous?.properties ?? {}), ...((request.properties as Record<string, unknown>) ?? {}) }
        : ((request.properties as Record<string, unknown>) ?? {});
    const location = request.location ?? previous?.location;
    if (typeof location !== "string" || location === "")
      return armError(400, "LocationRequired", "The location property is required for this definition.");
    const built = runCommandProperties(input as Record<string, unknown>);
    if ("error" in built) return built.error;
    const tags = (method === "PATCH" ? (request.tags ?? previous?.tags) : request.tags) as
      | Record<string, string>
      | undefined;
    const vms = this.shared.ctx.vms;
    const id = `${vm.id}/runCommands/${previous?.name ?? name}`;
    // Compared with what the request leaves in force: a member it no longer sends (parameters,
    // runAsUser…) is gone from the configuration, which is then a changed one.
    const sameRun = previous !== undefined && sameSettings(previous.properties, built);
    const record: RunCommandBody = {
      name: previous?.name ?? name,
      id: previous?.id ?? id,
      type: RUN_COMMAND_TYPE,
      location,
      ...(tags ? { tags } : {}),
      properties: {
        ...built,
        provisioningState: sameRun
          ? (previous as RunCommandBody).properties.provisioningState
          : existing
            ? "Updating"
            : "Creating",
        instanceView: previous?.properties.instanceView ?? {
          executionState: "Pending",
          executionMessage: "",
          exitCode: 0,
          output: "",
          error: "",
        },
      },
      execution: previous?.execution ?? { sequence: -1 },
    };
    const resource: StoredResource = {
      id: record.id,
      type: RUN_COMMAND_TYPE,
      body: record as unknown as Record<string, unknown>,
      readyAt: 0,
      created: !existing,
    };
    store.resources.set(route.scope.toLowerCase(), resource);
    // An identical configuration is not run again: its operation ends as the last run's did.
    const outcome = sameRun ? vms.runCommandOutcome(record.id) : vms.runCommand(record.id);
    // The operation's Location answers the run command as it is then (final-state-via location, as
    // the Azure CLI reads it; the TypeSpec's ArmLroLocationHeader<FinalResult = VirtualMachineRunCommand>).
    const finalState = () => {
      const now = store.resource(route.scope);
      return now ? runCommandView(now.body as unknown as RunCommandBody, false) : undefined;
    };
    const operation = this.shared.operations.track(outcome.then((ended) => ({ ...ended, result: finalState })));
    const shown = runCommandView(record, false);
    (shown.properties as Record<string, unknown>).provisioningState = existing ? "Updating" : "Creating";
    return {
      status: existing ? 200 : 201,
      headers: this.shared.operations.accepted(operation, { asyncOperation: true, location: true }),
      body: shown,
    };
  }
}
