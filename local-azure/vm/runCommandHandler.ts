import { tailText } from "../guestScript";
import type { RunCommandParameter } from "./model";

/**
 * What Azure's Linux agents do with a run command, as pure functions, each from their source:
 * Azure/run-command-handler-linux (managed run commands: internal/exec/exec.go,
 * internal/commandProcessor/commandProcessor.go, internal/cmds/cmds.go, internal/constants) and
 * Azure/run-command-extension-linux (the action: main/cmds.go, main/status.go).
 */

/**
 * The script's environment and arguments from its parameters, as exec.go's SetEnvironmentVariables
 * makes them: public parameters, then protected ones; a parameter with an empty value is skipped; a
 * named one becomes an environment variable (a name the environment cannot hold, with "=" or NUL, is
 * skipped as os.Setenv fails on it, silently), an unnamed one an argument.
 */
export function invocationOf(
  parameters: readonly RunCommandParameter[] = [],
  protectedParameters: readonly RunCommandParameter[] = [],
): { env: Record<string, string>; args: string[] } {
  const env: Record<string, string> = {};
  const args: string[] = [];
  for (const { name, value } of [...parameters, ...protectedParameters]) {
    if (!value) continue;
    if (name) {
      if (!/[=\0]/.test(name) && !value.includes("\0")) env[name] = value;
    } else {
      args.push(value);
    }
  }
  return { env, args };
}

/**
 * The action's arguments: every parameter's value, in order, whatever its name. The action's extension
 * (RunCommandLinux) takes no parameters of its own, and the Azure CLI names unnamed ones arg1, arg2…
 * "just to get API happy" (azure-cli vm/custom.py run_command_invoke) for scripts that read them as
 * $1, $2 (Learn, "Run scripts in your Linux VM by using action Run Command": --scripts 'echo $1 $2'
 * --parameters hello world). Empty values are skipped, as the managed handler skips them.
 */
export function actionArguments(parameters: readonly RunCommandParameter[] = []): string[] {
  return parameters.map(({ value }) => value ?? "").filter((value) => value !== "");
}

/** The instance view's texts, as commandProcessor.go and cmds.go word them. */
export const EXECUTION_IN_PROGRESS = "Execution in progress";
export const EXECUTION_COMPLETED = "Execution completed";

/** exec.go: a non-zero exit (or -1 for a signal, a timeout's SIGKILL among them), wrapped by runCmd and commandProcessor. */
export function executionFailed(exitCode: number): string {
  return `Execution failed: failed to execute command: command terminated with exit status=${exitCode}`;
}

/** handlersettings.validate: neither source.script nor source.scriptUri, or both (constants: ExitCode_GetHandlerSettingsFailed). */
export const NO_SOURCE = {
  exitCode: -202,
  message:
    "Execution failed: failed to get configuration: invalid configuration: Either 'source.script' or 'source.scriptUri' has to be specified",
};

/** exec.go: runAsUser names no user of the VM (user.Lookup's error appended; ExitCode_RunAsLookupUserFailed). */
export function runAsUserNotFound(user: string): { exitCode: number; message: string } {
  return {
    exitCode: -102,
    message: `Execution failed: failed to execute command: Failed to lookup RunAs user '${user}'. Looks like user does not exist. For RunAs to work properly, contact admin of VM and make sure RunAs user is added on the VM and user has access to resources accessed by the Run Command (Directories, Files, Network etc.). Refer: https://aka.ms/RunCommandManagedLinux: user: unknown user ${user}`,
  };
}

/**
 * The action's result message (run-command-extension-linux main/cmds.go `enable` and main/status.go
 * `statusMsg`): "Enable succeeded: " then both tails, whatever the script's exit code.
 */
export function actionResultMessage(stdout: Buffer, stderr: Buffer): string {
  return `Enable succeeded: \n[stdout]\n${tailText(stdout)}\n[stderr]\n${tailText(stderr)}`;
}

/** A time as Compute's instance views show it: whole seconds, "+00:00" (azure-cli recording test_run_command_v2). */
export function instanceViewTime(epochMs: number): string {
  return `${new Date(epochMs).toISOString().slice(0, 19)}+00:00`;
}
