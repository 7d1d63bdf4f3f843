import { type RunningScript, type ScriptJob, type ScriptResult, tailText } from "../guestScript";
import type { Store } from "../store";
import type { GuestMachine } from "./guestMachine";
import type { ActionRequest, OperationOutcome } from "./model";
import {
  actionArguments,
  actionResultMessage,
  EXECUTION_COMPLETED,
  EXECUTION_IN_PROGRESS,
  executionFailed,
  instanceViewTime,
  invocationOf,
  NO_SOURCE,
  runAsUserNotFound,
} from "./runCommandHandler";
import { RUN_COMMAND_TYPE, type RunCommandBody, type RunCommandInstanceView } from "./runCommandRecord";

/**
 * Commands run inside the VMs, as Azure's agents run them: managed run commands (the resources
 * …/virtualMachines/{vm}/runCommands/{name}, through RunCommandHandlerLinux) and the action (POST
 * …/virtualMachines/{vm}/runCommand, through RunCommandLinux).
 *
 * Managed run commands of one VM run side by side, each in its own folder: Learn, "Run scripts in your
 * Linux VM by using managed Run Commands" lists "Parallel execution of multiple scripts" among what
 * they add over the action, and "if you deploy multiple RunCommand resources using deployment
 * template, they will be executed simultaneously on the VM". A new configuration of one run command
 * ends its running script first (the handler's pid.KillPreviousExtension; Learn: a PUT or PATCH with a
 * blank script cancels the execution in progress).
 *
 * The action runs one script at a time per VM: a second, while one runs, gets 409 Conflict "Run
 * command extension execution is in progress. Please wait for completion before invoking a run
 * command." (Learn, "Run scripts in your Linux VM by using action Run Command", Restrictions: "You can
 * run one script at a time"; the wording from Azure/azure-cli#32305 and #19137). That lock is the
 * action's own extension's: managed run commands do not take it (MicrosoftDocs/azure-docs#110433 met
 * it with the action while expecting the managed kind).
 */

/** What the model needs of the VMs it runs commands on. */
export interface ScriptHost {
  /** The VM's guest once it can run scripts; rejects with why when the VM does not run. */
  whenReady(vmId: string): Promise<GuestMachine>;
  /** Resolves the next time the VM starts (or at once if it runs); rejects once it is deleted. */
  untilRunning(vmId: string): Promise<void>;
  /** Whether the VM runs (or starts): then a guest that is not ready will not be, and waiting is useless. */
  runs(vmId: string): boolean;
  exists(vmId: string): boolean;
  /** The VM's guest now (booted or booting), or null: another one after a restart, none once it stopped or went. */
  guest(vmId: string): GuestMachine | null;
}

interface Execution {
  sequence: number;
  provisioned: Promise<OperationOutcome>;
  settle: (outcome: OperationOutcome) => void;
  running: RunningScript | null;
  cancelled: boolean;
}

/** The action's scripts time out after 90 minutes (Learn, action Run Command, Restrictions). */
const ACTION_TIMEOUT_SECONDS = 90 * 60;

/**
 * A running VM whose guest cannot run anything (no OS profile to provision, or its boot failed): what
 * Compute reports when the VM's agent never answers (Learn, "Troubleshooting Azure Linux VM
 * extension failures"; the code and wording as azure-cli and terraform users quote them).
 */
function agentSilent(vmId: string): { code: string; message: string } {
  return {
    code: "VMAgentStatusCommunicationError",
    message: `VM '${vmId.split("/").pop()}' has not reported status for VM agent or extensions. Verify that the OS is up and healthy, the VM has a running VM agent, and that it can establish outbound connections to Azure storage. Please refer to https://aka.ms/vmextensionlinuxtroubleshoot for additional VM agent troubleshooting information.`,
  };
}

const PREEMPTED = {
  code: "OperationPreempted",
  message: "Operation execution has been preempted by a more recent operation.",
};

export function vmIdOfRunCommand(id: string): string {
  return id.replace(/\/runCommands\/[^/]+$/i, "");
}

export class RunCommands {
  private readonly executions = new Map<string, Execution>();
  private readonly actions = new Map<string, { running: RunningScript | null }>();
  private actionSequence = 0;

  constructor(
    private readonly store: Store,
    private readonly vms: ScriptHost,
    /** Told after every change to a run command's stored state (a kept cloud saves it). */
    private readonly changed: () => void,
  ) {}

  /** Runs the run command stored under `id` as stored now; see VirtualMachineModel.runCommand. */
  async run(id: string): Promise<OperationOutcome> {
    const key = id.toLowerCase();
    await this.stop(key, PREEMPTED);
    const record = this.record(id);
    if (!record) return {};
    const sequence = record.execution.sequence + 1;
    record.execution = { sequence };
    record.properties.instanceView = pendingView();
    this.changed();
    let settle: (outcome: OperationOutcome) => void = () => undefined;
    const provisioned = new Promise<OperationOutcome>((resolve) => {
      settle = resolve;
    });
    const execution: Execution = { sequence, provisioned, settle, running: null, cancelled: false };
    this.executions.set(key, execution);
    this.execute(id, execution).catch((error: Error) =>
      this.provision(id, execution, { code: "InternalOperationError", message: error.message }),
    );
    return provisioned;
  }

  /** How the run command stored under `id` provisions, without running it again (an identical PUT). */
  outcome(id: string): Promise<OperationOutcome> {
    const live = this.executions.get(id.toLowerCase());
    if (live) return live.provisioned;
    const record = this.record(id);
    return Promise.resolve(
      record?.properties.provisioningState === "Failed" && record.execution.error
        ? { error: record.execution.error }
        : {},
    );
  }

  /** Ends what the run command runs; its stored record is ARM's to remove. */
  cancel(id: string): Promise<void> {
    return this.stop(id.toLowerCase(), PREEMPTED);
  }

  /** The VM is gone: every command on it ends. */
  async vmDeleted(vmId: string): Promise<void> {
    const prefix = `${vmId.toLowerCase()}/runcommands/`;
    await Promise.all(
      [...this.executions.keys()].filter((key) => key.startsWith(prefix)).map((key) => this.stop(key, PREEMPTED)),
    );
    await this.actions.get(vmId.toLowerCase())?.running?.kill();
  }

  /**
   * A kept cloud came back: a run command that was waiting for its VM runs now; one that was running
   * when Local Azure stopped was killed with its VM (exit -1, as a SIGKILL reports).
   */
  resume(): void {
    for (const resource of this.store.resources.values()) {
      if (resource.type.toLowerCase() !== RUN_COMMAND_TYPE.toLowerCase()) continue;
      const record = resource.body as unknown as RunCommandBody;
      const state = record.properties.instanceView?.executionState;
      if (state === "Pending") void this.run(resource.id);
      if (state === "Running") {
        this.finish(record, { exitCode: -1, stdout: Buffer.alloc(0), stderr: Buffer.alloc(0) });
        this.provisionRecord(record, this.failureOf(record));
      }
    }
    this.changed();
  }

  /** Runs the action's script on a VM; null while another action runs on it. */
  invokeAction(vmId: string, request: ActionRequest): Promise<OperationOutcome> | null {
    const key = vmId.toLowerCase();
    if (this.actions.has(key)) return null;
    const slot: { running: RunningScript | null } = { running: null };
    this.actions.set(key, slot);
    const sequence = this.actionSequence++;
    const work = async (): Promise<OperationOutcome> => {
      let machine: GuestMachine;
      try {
        machine = await this.vms.whenReady(vmId);
      } catch {
        return {
          error: this.vms.runs(vmId)
            ? agentSilent(vmId)
            : { code: "OperationNotAllowed", message: "The operation requires the VM to be running (or set to run)." },
        };
      }
      slot.running = machine.runScript({
        folder: `/var/lib/waagent/run-command/download/${sequence}`,
        script: request.script.join("\n"),
        // RunCommandLinux runs its script with /bin/sh -c (main/exec.go).
        shell: "/bin/sh",
        env: {},
        args: actionArguments(request.parameters),
      });
      const running = slot.running;
      const timer = setTimeout(() => void running.kill(), ACTION_TIMEOUT_SECONDS * 1000);
      const result = await running.result;
      clearTimeout(timer);
      // Killed with its guest (the VM stopped, restarted or deleted meanwhile): the operation is
      // overtaken, as a managed run command's is, not "Provisioning succeeded" with half an output.
      if (this.vms.guest(vmId) !== machine) return { error: PREEMPTED };
      return {
        result: {
          value: [
            {
              code: "ProvisioningState/succeeded",
              level: "Info",
              displayStatus: "Provisioning succeeded",
              message: actionResultMessage(result.stdout, result.stderr),
            },
          ],
        },
      };
    };
    return work().finally(() => this.actions.delete(key));
  }

  private record(id: string): RunCommandBody | undefined {
    return this.store.resource(id)?.body as RunCommandBody | undefined;
  }

  /** The record, if this execution is still the run command's current one. */
  private current(id: string, execution: Execution): RunCommandBody | undefined {
    const record = this.record(id);
    return !execution.cancelled && record?.execution.sequence === execution.sequence ? record : undefined;
  }

  private async stop(key: string, why: { code: string; message: string }): Promise<void> {
    const execution = this.executions.get(key);
    if (!execution) return;
    this.executions.delete(key);
    execution.cancelled = true;
    execution.settle({ error: why });
    await execution.running?.kill();
  }

  private async execute(id: string, execution: Execution): Promise<void> {
    const vmId = vmIdOfRunCommand(id);
    let machine: GuestMachine | null = null;
    // A booting VM's command stays Pending until its guest is ready; a stopped one's until it starts.
    while (machine === null) {
      if (!this.current(id, execution)) return;
      try {
        machine = await this.vms.whenReady(vmId);
      } catch {
        if (!this.vms.exists(vmId)) return;
        if (this.vms.runs(vmId)) {
          // It runs, and its guest will not be ready: the command stays Pending, its operation fails.
          return this.provision(id, execution, agentSilent(vmId));
        }
        await this.vms.untilRunning(vmId).catch(() => undefined);
      }
    }
    let record = this.current(id, execution);
    if (!record) return;
    const settings = record.properties;
    const script = settings.source.script ?? "";
    if (script === "") return this.fail(record, execution, NO_SOURCE);
    if (settings.runAsUser && !(await machine.userExists(settings.runAsUser))) {
      record = this.current(id, execution);
      if (record) this.fail(record, execution, runAsUserNotFound(settings.runAsUser));
      return;
    }
    record.properties.instanceView = {
      executionState: "Running",
      executionMessage: EXECUTION_IN_PROGRESS,
      exitCode: 0,
      output: "",
      error: "",
      startTime: instanceViewTime(Date.now()),
    };
    this.changed();
    // asyncExecution: "provisioning will complete as soon as the script starts" (runCommand.json).
    if (settings.asyncExecution) this.provision(id, execution, undefined);
    const job: ScriptJob = {
      folder: `/var/lib/waagent/run-command-handler/download/${record.name}/${execution.sequence}`,
      script,
      shell: "/bin/bash",
      ...invocationOf(settings.parameters, settings.protectedParameters),
      runAsUser: settings.runAsUser || undefined,
    };
    const running = machine.runScript(job);
    execution.running = running;
    // The handler's timeout is a context deadline: SIGKILL, reported as exit status -1 (exec_test.go
    // TestExec_failure_timeout) and state Failed; the Linux handler never reports TimedOut.
    const timer =
      settings.timeoutInSeconds > 0
        ? setTimeout(() => void running.kill(), settings.timeoutInSeconds * 1000)
        : undefined;
    const result = await running.result;
    clearTimeout(timer);
    record = this.current(id, execution);
    if (!record) return;
    this.finish(record, result);
    this.provision(id, execution, this.failureOf(record));
    // Done: what an identical PUT meets from now on is the stored outcome.
    if (this.executions.get(id.toLowerCase()) === execution) this.executions.delete(id.toLowerCase());
  }

  /** A run that failed before its script ran (no script, no such user): Failed, with the handler's words. */
  private fail(record: RunCommandBody, execution: Execution, why: { exitCode: number; message: string }): void {
    const now = instanceViewTime(Date.now());
    record.properties.instanceView = {
      executionState: "Failed",
      executionMessage: why.message,
      exitCode: why.exitCode,
      output: "",
      error: "",
      startTime: now,
      endTime: now,
    };
    this.changed();
    this.provision(record.id, execution, this.failureOf(record));
  }

  private finish(record: RunCommandBody, result: ScriptResult): void {
    const view = record.properties.instanceView;
    const succeeded = result.exitCode === 0;
    record.properties.instanceView = {
      executionState: succeeded ? "Succeeded" : "Failed",
      executionMessage: succeeded ? EXECUTION_COMPLETED : executionFailed(result.exitCode),
      exitCode: result.exitCode,
      output: tailText(result.stdout),
      error: tailText(result.stderr),
      startTime: view.startTime ?? instanceViewTime(Date.now()),
      endTime: instanceViewTime(Date.now()),
    };
    this.changed();
  }

  /**
   * With treatFailureAsDeploymentFailure, a failed execution fails the operation and leaves
   * provisioningState Failed; without, provisioning only says the handler ran it (runCommand.json).
   * The error is Compute's for an extension that reported failure (VMExtensionProvisioningError,
   * worded as Azure/WALinuxAgent's end-to-end tests expect it for RunCommandHandlerLinux).
   */
  private failureOf(record: RunCommandBody): { code: string; message: string } | undefined {
    const view = record.properties.instanceView;
    if (!record.properties.treatFailureAsDeploymentFailure || view.executionState !== "Failed") return undefined;
    return {
      code: "VMExtensionProvisioningError",
      message: `VM has reported a failure when processing extension '${record.name}' (publisher 'Microsoft.CPlat.Core' and type 'RunCommandHandlerLinux'). Error message: '${view.executionMessage}'.`,
    };
  }

  /** Ends the execution's ARM operation (once): Succeeded, or Failed with `error`. */
  private provision(id: string, execution: Execution, error: { code: string; message: string } | undefined): void {
    const record = this.current(id, execution);
    if (
      record &&
      record.properties.provisioningState !== "Succeeded" &&
      record.properties.provisioningState !== "Failed"
    ) {
      this.provisionRecord(record, error);
    }
    execution.settle(error ? { error } : {});
  }

  private provisionRecord(record: RunCommandBody, error: { code: string; message: string } | undefined): void {
    record.properties.provisioningState = error ? "Failed" : "Succeeded";
    record.execution = { sequence: record.execution.sequence, ...(error ? { error } : {}) };
    this.changed();
  }
}

function pendingView(): RunCommandInstanceView {
  return { executionState: "Pending", executionMessage: "", exitCode: 0, output: "", error: "" };
}
