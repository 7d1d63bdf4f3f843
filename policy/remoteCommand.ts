import * as command from "@pulumi/command";
import { type ResourceValidationPolicy, validateResourceOfType } from "@pulumi/policy";
import type * as pulumi from "@pulumi/pulumi";
import { peek, shown, UNKNOWN } from "./values";

export type RemoteCommandProps = pulumi.Unwrap<command.remote.CommandArgs>;

/**
 * A remote command pins the host it talks to (`connection.hostKey`: without it the provider accepts
 * any host key, so whoever answers at that address gets the command and its secrets), and sets
 * `addPreviousOutputInEnv` to false: the provider's default (true) hands the previous run's stdout
 * and stderr to the next run's environment, so it must be explicitly false, not left out.
 */
export function remoteCommandViolations(name: string, run: RemoteCommandProps): string[] {
  const violations: string[] = [];
  const hostKey = peek(() => run.connection?.hostKey);
  if (hostKey !== UNKNOWN && !(typeof hostKey === "string" && hostKey.trim() !== "")) {
    violations.push(
      `remote command "${name}": connection.hostKey is ${shown(hostKey)}; allowed: the host's public key (e.g. "ssh-ed25519 AAAA…"), so only that host is trusted`,
    );
  }
  const addPreviousOutput = peek(() => run.addPreviousOutputInEnv);
  if (addPreviousOutput !== UNKNOWN && addPreviousOutput !== false) {
    violations.push(
      `remote command "${name}": addPreviousOutputInEnv is ${shown(addPreviousOutput)}${addPreviousOutput === undefined ? " (the provider's default is true)" : ""}; allowed: false`,
    );
  }
  return violations;
}

export const remoteCommandPinned: ResourceValidationPolicy = {
  name: "remote-command-pinned-host-key",
  description: "Remote commands pin connection.hostKey and set addPreviousOutputInEnv to false (its default is true).",
  enforcementLevel: "mandatory",
  validateResource: validateResourceOfType(command.remote.Command, (run, args, reportViolation) => {
    for (const message of remoteCommandViolations(args.name, run)) reportViolation(message);
  }),
};
