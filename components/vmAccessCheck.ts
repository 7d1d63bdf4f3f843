import { readFileSync } from "node:fs";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import type { AccessCheckResult } from "../verify/contract";
import { judgeProbe, parseProbeOutput } from "../verify/judge";
import { AccessCheckFailedError, PROBE_SCRIPT_PATH, revocationPendingLine } from "./accessCheck";
import { probeEvidence, scopedChecks } from "./accessCheckEvidence";
import {
  AccessCheckArgsError,
  type CheckValues,
  checkSettings,
  PER_DIAL_TIMEOUT_SECONDS,
  pendingChecks,
  planRun,
  privateKeyValue,
  sshSettings,
} from "./accessCheckPlan";

/**
 * The public access check for one VM and one managed identity: over SSH it runs verify/probe.sh on the
 * VM (IMDS token, then ARM reads), judges the evidence and fails the deployment when it does not match.
 * Usable by stacks that did not create the VM, and (through Pulumi's component packaging) from any
 * Pulumi language: its args and outputs keep to the types Pulumi's component analyzer accepts.
 * docs/access-check-component.md is the user's page.
 */

/** Which kind of managed identity the check proves. */
export const IdentityType = {
  /** The VM's own identity: the probe asks IMDS for a token without a selector. */
  SystemAssigned: "SystemAssigned",
  /** An identity resource attached to the VM: the probe selects it (see `selectBy`). */
  UserAssigned: "UserAssigned",
} as const;
export type IdentityType = (typeof IdentityType)[keyof typeof IdentityType];

/** How the probe names a user-assigned identity to IMDS. */
export const IdentitySelector = {
  /** `client_id=<clientId>` */
  ClientId: "clientId",
  /** `object_id=<principalId>` */
  ObjectId: "objectId",
  /** `msi_res_id=<resourceId>` */
  ResourceId: "resourceId",
} as const;
export type IdentitySelector = (typeof IdentitySelector)[keyof typeof IdentitySelector];

/** What a probe run had to prove at its scope. */
export const Expectation = {
  /** The scope is readable (and, unless readOnly is false, nothing more). */
  Granted: "granted",
  /** ARM refuses the read with 403 AuthorizationFailed. */
  Denied: "denied",
} as const;
export type Expectation = (typeof Expectation)[keyof typeof Expectation];

/** How to reach the VM over SSH. */
export interface SshConnection {
  /** The address the VM's SSH server answers at (its public IP, or any address this machine routes to it). */
  host: pulumi.Input<string>;
  /** The SSH port. Default: 22. */
  port?: pulumi.Input<number>;
  /** The user to log in as. Default: "azureuser" (Azure's images refuse root, the command provider's default). */
  user?: pulumi.Input<string>;
  /** An OpenSSH private key authorized for `user`. Always treated as a secret. */
  privateKey: pulumi.Input<string>;
  /**
   * The VM's SSH host public key, one OpenSSH line (`ssh-ed25519 AAAA…`): the only key the connection
   * accepts. Required: without the pin, anything on the path could answer the check with forged evidence.
   * Take it from a trusted channel (the cloud-init that installed it, or `az vm run-command invoke`), never
   * from an unauthenticated `ssh-keyscan`.
   */
  hostKey: pulumi.Input<string>;
  /**
   * How many failed dials the connection rides out (boot, cloud-init) before the check fails; -1 for no
   * limit. The provider pauses between dials, growing to 5 s, so 60 is about four and a half minutes.
   * Default: 60.
   */
  dialErrorLimit?: pulumi.Input<number>;
}

/** The managed identity to prove, and the claims its token must carry. */
export interface ManagedIdentity {
  /** SystemAssigned or UserAssigned. */
  type: pulumi.Input<IdentityType>;
  /** The identity's principal (object) ID: the token's `oid` must be it. */
  principalId: pulumi.Input<string>;
  /** The tenant the token must come from: its `tid`. */
  tenantId: pulumi.Input<string>;
  /** A user-assigned identity's client ID: the token's `appid` must be it. Not for SystemAssigned. */
  clientId?: pulumi.Input<string>;
  /** A user-assigned identity's ARM resource ID: the token's `xms_mirid`, when present, must be it. Not for SystemAssigned. */
  resourceId?: pulumi.Input<string>;
  /**
   * How the probe selects a user-assigned identity at IMDS. Default: clientId when given, else resourceId
   * when given, else objectId (the principal ID). The ID it names must be given. Not for SystemAssigned.
   */
  selectBy?: pulumi.Input<IdentitySelector>;
}

export interface VmAccessCheckArgs {
  /** The VM's name, as the results report it. */
  vmName: pulumi.Input<string>;
  /** How to reach the VM over SSH. */
  ssh: pulumi.Input<SshConnection>;
  /** The managed identity to prove. */
  identity: pulumi.Input<ManagedIdentity>;
  /**
   * Resource groups (IDs, `/subscriptions/<id>/resourceGroups/<name>`) the identity must be able to read.
   * One probe run each. The list is written out in the program (its length decides the number of runs);
   * its items may be outputs. Default: none. At least one readable or refused scope is required.
   */
  readableScopes?: pulumi.Input<string>[];
  /**
   * Resource groups (IDs) where ARM must refuse the identity's read with 403 AuthorizationFailed. One
   * probe run each. A read ARM still allows is asked again until the deadline: a revoked grant takes
   * minutes to stop working. Default: none.
   */
  refusedScopes?: pulumi.Input<string>[];
  /** Whether the effective permissions at each readable scope must be reads only, as Reader's are. Default: true. */
  readOnly?: pulumi.Input<boolean>;
  /**
   * Actions (`Microsoft.Compute/virtualMachines/write`) the effective permissions at each readable scope
   * must not grant, evaluated as ARM does (wildcards in the role's actions, notActions subtracted).
   * Default: none.
   */
  refusedActions?: pulumi.Input<pulumi.Input<string>[]>;
  /**
   * The probe's total budget in seconds (1-86400) for each run: how long a readable scope may take to
   * become readable, or a refused scope to become refused. Azure's RBAC takes up to about 10 minutes
   * either way. Default: 600.
   */
  deadlineSeconds?: pulumi.Input<number>;
  /**
   * For refused scopes of a principal that was never granted there (nothing is propagating): the first run
   * takes ARM's answer within this many seconds, in probe contract v1's form (403 asked again until then;
   * the judge decides). A run repeated in place (the check's inputs changed but not its triggers, as after
   * a revocation) still waits up to deadlineSeconds for the refusal. Default: unset, every run waits.
   */
  quickRefusalSeconds?: pulumi.Input<number>;
  /**
   * True when this very update removes the grant on the refused scopes (Pulumi deletes resources that left
   * the program only at the end of an update, after the check). Nothing is probed: the outputs say the
   * denial is proven by the next `pulumi up`, and the deployment does not fail. Default: false.
   */
  revocationPending?: pulumi.Input<boolean>;
  /** ARM's base URL; the token is requested for it plus "/". Default: "https://management.azure.com". */
  armEndpoint?: pulumi.Input<string>;
  /** The IMDS base URL the probe uses. Default: unset, the VM's own (http://169.254.169.254). */
  imdsEndpoint?: pulumi.Input<string>;
  /**
   * Values whose change must run the check again (the VM's ID, a role assignment's ID…); any change
   * replaces the probe runs. Default: none.
   */
  triggers?: pulumi.Input<pulumi.Input<string>[]>;
  /**
   * When true, evidence that does not match fails the deployment, naming each failed check. When false, the
   * outputs report the verdict and the deployment goes on (a probe that could not prove expected access
   * still fails its command, so the next `pulumi up` probes again). Default: true.
   */
  failOnMismatch?: boolean;
}

/** One named check of one probe run. */
export interface NamedCheck {
  /** The scope (resource group ID) the run probed. */
  scope: string;
  /** The check's name, e.g. token-principal, resource-group-read, access-denied. */
  name: string;
  ok: boolean;
  /** What was seen, and what was expected when they differ. */
  detail: string;
}

/** The non-secret claims of the token the probe obtained (never the token itself). */
export interface TokenClaims {
  aud?: string;
  iss?: string;
  oid?: string;
  sub?: string;
  tid?: string;
  appid?: string;
  idtyp?: string;
  xms_mirid?: string;
  iat?: number;
  nbf?: number;
  exp?: number;
}

/** What one probe run found, as typed fields (the probe's whole JSON is in `results`). */
export interface ProbeEvidence {
  /** The scope (resource group ID) probed. */
  scope: string;
  /** What the run had to prove. */
  expectation: Expectation;
  /** Whether every check of this run passed. */
  verified: boolean;
  /** How the probe selected the identity: client_id, object_id, msi_res_id or system. */
  selector?: string;
  /** IMDS's HTTP status for the token request. */
  tokenStatus?: number;
  claims?: TokenClaims;
  /** ARM's HTTP status for the resource group read. */
  readStatus?: number;
  /** ARM's error code for the read, e.g. AuthorizationFailed. */
  readErrorCode?: string;
  /** How many times the read was tried. */
  readAttempts?: number;
  /** The effective actions at the scope (every permission entry's actions together). */
  actions?: string[];
  /** The effective notActions at the scope. */
  notActions?: string[];
  elapsedSeconds?: number;
  /** The probe's final error (`<stage> <status> <code>: <message>`), when it ended in one. */
  error?: string;
}

/** The component's type token: what Pulumi's component provider host derives from this package and class. */
export const VM_ACCESS_CHECK_TYPE = "vm-identity-access:index:VmAccessCheck";

export class VmAccessCheck extends pulumi.ComponentResource {
  /** Every probe run verified what it had to. */
  public readonly verified: pulumi.Output<boolean>;
  /** Every named check of every run. */
  public readonly checks: pulumi.Output<NamedCheck[]>;
  /** One entry per run: the claims and answers the verdict rests on. */
  public readonly evidence: pulumi.Output<ProbeEvidence[]>;
  /**
   * One entry per run, as in the program's `accessCheck` output contract: vm, identity, expected, the
   * probe's JSON, checks, verified. What `npm run verify` re-judges.
   */
  // biome-ignore lint/suspicious/noExplicitAny: the probe's JSON is untrusted and carried as it came (Pulumi's Any).
  public readonly results: pulumi.Output<any[]>;

  constructor(name: string, args: VmAccessCheckArgs, opts?: pulumi.ComponentResourceOptions) {
    // Checked before anything registers: a check with nothing to probe creates nothing.
    const runs = [
      ...scopeList(name, "readableScopes", args.readableScopes).map((scope, index) => ({
        scope,
        index,
        arg: "readableScopes",
        expectation: Expectation.Granted,
      })),
      ...scopeList(name, "refusedScopes", args.refusedScopes).map((scope, index) => ({
        scope,
        index,
        arg: "refusedScopes",
        expectation: Expectation.Denied,
      })),
    ];
    if (runs.length === 0) {
      throw new AccessCheckArgsError(name, [
        "readableScopes and refusedScopes are both empty: list at least one resource group ID to probe",
      ]);
    }
    super(VM_ACCESS_CHECK_TYPE, name, {}, opts);
    const failOnMismatch = args.failOnMismatch ?? true;
    const settings = pulumi
      .output({
        identity: args.identity,
        readOnly: args.readOnly,
        refusedActions: args.refusedActions,
        deadlineSeconds: args.deadlineSeconds,
        quickRefusalSeconds: args.quickRefusalSeconds,
        revocationPending: args.revocationPending,
        armEndpoint: args.armEndpoint,
        imdsEndpoint: args.imdsEndpoint,
      })
      .apply((values) => checkSettings(name, values as CheckValues));
    const ssh = pulumi
      .all([
        field(args.ssh, "host"),
        field(args.ssh, "port"),
        field(args.ssh, "user"),
        field(args.ssh, "hostKey"),
        field(args.ssh, "dialErrorLimit"),
      ])
      .apply(([host, port, user, hostKey, dialErrorLimit]) =>
        sshSettings(name, { host, port, user, hostKey, dialErrorLimit }),
      );
    const connection = {
      host: ssh.host,
      port: ssh.port,
      user: ssh.user,
      // Always a secret, however it was given.
      privateKey: pulumi.secret(field(args.ssh, "privateKey").apply((key) => privateKeyValue(name, key))),
      // Security control: only the VM holding this host key can answer the check.
      hostKey: ssh.hostKey,
      // Ride out boot and cloud-init: sshd refuses connections until then.
      dialErrorLimit: ssh.dialErrorLimit,
      perDialTimeout: PER_DIAL_TIMEOUT_SECONDS,
    };
    const probeScript = readFileSync(PROBE_SCRIPT_PATH, "utf8");

    const judgedRuns = runs.map((run) => {
      const plan = pulumi
        .all([settings, run.scope])
        .apply(([checked, scope]) => planRun(name, checked, { ...run, scope }));
      const probe = new command.remote.Command(
        runs.length === 1 ? name : `${name}-${runs.indexOf(run) + 1}`,
        {
          connection,
          create: plan.create,
          // Undefined (no update line; no stdin while nothing is probed) leaves the input out.
          update: plan.update as pulumi.Output<string>,
          stdin: plan.apply((p) => (p.sendsProbe ? probeScript : undefined)) as pulumi.Output<string>,
          triggers: args.triggers,
          // The previous run's output must not leak into the next run's environment.
          addPreviousOutputInEnv: false,
          // The probe's stderr is its progress (one line per attempt); stdout is the evidence.
          logging: "stderr",
        },
        { parent: this, dependsOn: opts?.dependsOn },
      );
      return pulumi.all([args.vmName, plan, probe.stdout]).apply(([vm, p, stdout]) => {
        const evidence = p.pending ? stdout.trim() : parseProbeOutput(stdout);
        const verdict = p.pending
          ? { checks: pendingChecks(p.scope), verified: false }
          : judgeProbe(evidence, p.expected, p.kind, p.expectation);
        return {
          vm,
          identity: p.kind,
          expected: p.expected,
          probe: evidence,
          ...verdict,
          expectation: p.expectation,
          pending: p.pending,
        };
      });
    });

    // The evidence holds claims, never the token (the probe's contract; the judge redacts anything
    // token-shaped). Unsecreted so that stack outputs show it even if a provider marks the command's
    // stdout secret because its connection is.
    const judged = pulumi.unsecret(pulumi.all(judgedRuns)).apply((all) => {
      const pending = all.filter((run) => run.pending);
      if (failOnMismatch && pending.length > 0)
        pulumi.log.warn(revocationPendingLine(pending.map((r) => r.expected.resourceGroupId)), this);
      const failed = all.filter((run) => !run.verified && !run.pending);
      if (failOnMismatch && failed.length > 0) {
        const accessCheck = {
          verified: false,
          expectation: failed[0].expectation,
          results: failed.map(contractResult),
        };
        throw new AccessCheckFailedError(accessCheck, `VmAccessCheck ${name} did not verify what it had to`);
      }
      return all;
    });
    this.results = judged.apply((all) => all.map(contractResult));
    this.verified = judged.apply((all) => all.every((run) => run.verified));
    this.checks = judged.apply((all) => all.flatMap((run) => scopedChecks(run.expected.resourceGroupId, run.checks)));
    this.evidence = judged.apply((all) =>
      all.map((run) =>
        probeEvidence({
          scope: run.expected.resourceGroupId,
          expectation: run.expectation,
          verified: run.verified,
          probe: run.probe,
        }),
      ),
    );
    // Registered, the outputs fail the deployment when they reject (a mismatch, or a command that failed).
    // Left unregistered when the caller judges them itself, so a failed command is reported once.
    this.registerOutputs(
      failOnMismatch
        ? { verified: this.verified, checks: this.checks, evidence: this.evidence, results: this.results }
        : {},
    );
  }
}

/** A run as the output contract has it (the run's own expectation and pending flag left out). */
function contractResult(run: AccessCheckResult & { expectation: unknown; pending: unknown }): AccessCheckResult {
  const { vm, identity, expected, probe, checks, verified } = run;
  return { vm, identity, expected, probe, checks, verified };
}

/**
 * One field of an Input object. Given as a plain object, the field keeps its own secretness (a secret
 * private key does not make the host secret); given as an Output, the field is read from it.
 */
function field(input: pulumi.Input<object>, key: string): pulumi.Output<unknown> {
  if (pulumi.Output.isInstance(input) || input instanceof Promise) {
    const whole = pulumi.output(input) as pulumi.Output<Record<string, unknown> | undefined>;
    return whole.apply((value) => value?.[key]);
  }
  return pulumi.output((input as Record<string, pulumi.Input<unknown>>)[key]);
}

/** A scope list: its length decides the number of probe runs, so it must be written out in the program. */
function scopeList(component: string, arg: string, list: pulumi.Input<string>[] | undefined): pulumi.Input<string>[] {
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list)) {
    throw new AccessCheckArgsError(component, [
      `${arg} must be a list written out in the program (its length decides how many probe runs there are); each item may be an output, the list itself may not`,
    ]);
  }
  return list;
}
