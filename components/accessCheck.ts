import { readFileSync } from "node:fs";
import * as path from "node:path";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import type { AccessCheck, Expectation, Expected, IdentityKind } from "../verify/contract";
import { describeFailures, judgeAccessCheck, parseProbeOutput } from "../verify/judge";
import { probeCommandLine } from "./probeCommand";

/** The probe's source, sent to the VM on stdin. */
export const PROBE_SCRIPT_PATH = path.join(__dirname, "..", "verify", "probe.sh");

/** One VM × identity pair to prove. */
export interface ProbeTarget {
  /** The VM's name, as reported in the results. */
  readonly vm: pulumi.Input<string>;
  readonly identity: IdentityKind;
  /** The VM's static public IP. */
  readonly host: pulumi.Input<string>;
  /** The VM's SSH host key line, installed through cloud-init: the only key the connection accepts. */
  readonly hostKey: pulumi.Input<string>;
  readonly expected: pulumi.Input<Expected>;
  /** What makes the check stale: the VM, the identity, the role assignments. */
  readonly triggers: pulumi.Input<unknown>[];
  /** The role assignments this check must wait for. */
  readonly dependsOn: pulumi.Resource[];
}

export interface AccessCheckArgs {
  readonly targets: ProbeTarget[];
  readonly expectation: Expectation;
  readonly adminUsername: string;
  /** The check key's private half (OpenSSH); kept secret. */
  readonly privateKey: pulumi.Input<string>;
  readonly sshPort: number;
  /** Failed dials the connection rides out before the check fails (-1: no limit). */
  readonly dialErrorLimit: number;
  readonly armEndpoint: string;
  readonly imdsEndpoint?: string;
  readonly subscriptionId: pulumi.Input<string>;
  readonly resourceGroupName: pulumi.Input<string>;
  readonly deadlineSeconds: number;
}

/** The deployment's failure when the evidence does not match the expectation. */
export class AccessCheckFailedError extends pulumi.RunError {
  constructor(readonly accessCheck: AccessCheck) {
    super(
      `The access check did not verify the expected access (${accessCheck.expectation}):\n${describeFailures(accessCheck)}`,
    );
    this.name = "AccessCheckFailedError";
  }
}

/**
 * Runs verify/probe.sh on each VM over SSH, one remote command per VM and identity, and judges the
 * JSON it prints. When access is expected and the probe could not prove it, the command itself fails
 * (see probeCommandLine), so the next `pulumi up` runs it again. When the probe's evidence reaches the
 * judge but does not match the expectation (a wrong principal, write permissions, access where denial
 * was expected), `result` fails the deployment naming each failed check; the evidence stays in each
 * command's stdout.
 */
export class AccessCheckRun extends pulumi.ComponentResource {
  public readonly result: pulumi.Output<AccessCheck>;

  constructor(name: string, args: AccessCheckArgs, opts?: pulumi.ComponentResourceOptions) {
    super("vm-identity-access:accessCheck:AccessCheckRun", name, {}, opts);
    const probeScript = readFileSync(PROBE_SCRIPT_PATH, "utf8");
    const privateKey = pulumi.secret(args.privateKey);

    const runs = args.targets.map((target, index) => {
      const probe = new command.remote.Command(
        `${name}-${index}-${target.identity}`,
        {
          connection: {
            host: target.host,
            port: args.sshPort,
            // The provider's default user is root, which Azure's images refuse.
            user: args.adminUsername,
            privateKey,
            // Security control: only the VM holding the host key we generated can answer the check.
            hostKey: target.hostKey,
            // Ride out boot and cloud-init: sshd refuses connections until then.
            dialErrorLimit: args.dialErrorLimit,
            perDialTimeout: 20,
          },
          create: pulumi
            .all([target.expected, args.subscriptionId, args.resourceGroupName])
            .apply(([expected, subscriptionId, resourceGroup]) =>
              probeCommandLine(
                {
                  armEndpoint: args.armEndpoint,
                  clientId: target.identity === "user" ? expected.clientId : undefined,
                  subscriptionId,
                  resourceGroup,
                  deadlineSeconds: args.deadlineSeconds,
                  imdsEndpoint: args.imdsEndpoint,
                },
                args.expectation,
              ),
            ),
          stdin: probeScript,
          triggers: target.triggers,
          // The previous run's output must not leak into the next run's environment.
          addPreviousOutputInEnv: false,
          // The probe's stderr is its progress (one line per attempt); stdout is the evidence.
          logging: "stderr",
        },
        { parent: this, dependsOn: target.dependsOn },
      );
      return pulumi.all([target.vm, target.expected, probe.stdout]).apply(([vm, expected, stdout]) => ({
        vm,
        identity: target.identity,
        expected,
        probe: parseProbeOutput(stdout),
      }));
    });

    // The evidence holds claims, never the token (the probe's contract; the judge redacts anything
    // token-shaped). The runs are unsecreted so that `pulumi stack output accessCheck` shows it even if a
    // provider marks the command's stdout secret because its connection is.
    this.result = pulumi.unsecret(pulumi.all(runs)).apply((judgedRuns) => {
      const accessCheck = judgeAccessCheck(args.expectation, judgedRuns);
      if (!accessCheck.verified) throw new AccessCheckFailedError(accessCheck);
      return accessCheck;
    });
    this.registerOutputs({});
  }
}
