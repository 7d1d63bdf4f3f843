import { readFileSync } from "node:fs";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import type { AccessCheckResult } from "../verify/contract";
import { judgeProbe, parseProbeOutput } from "../verify/judge";
import { AccessCheckFailedError, PROBE_SCRIPT_PATH, revocationWarnings } from "./accessCheck";
import { probeEvidence, scopedChecks } from "./accessCheckEvidence";
import {
  AccessCheckArgsError,
  type CheckValues,
  checkSettings,
  type GrantFate,
  PER_DIAL_TIMEOUT_SECONDS,
  planRun,
  privateKeyValue,
  sshSettings,
} from "./accessCheckPlan";
import { grantReference, updateMarker, watchGrant } from "./grantState";
import { field, given } from "./inputField";
import { checkRunCommandDeadlines, PREAMBLE_PATH, runCommandScript } from "./runCommandPlan";
import { type ProbeRunner, type RunVerdict, runCommandProbe, unprobedVerdict } from "./vmAccessCheckRunCommand";

/**
 * The public access check for one VM and one managed identity: over SSH, or through Azure's managed Run
 * Command, it runs verify/probe.sh on the VM (IMDS token, then ARM reads), judges the evidence and fails
 * the deployment when it does not match.
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

/**
 * How to reach the VM through Azure's managed Run Command: ARM hands the probe to the VM's agent, which
 * runs it inside the VM and reports back through ARM. Nothing needs a network path to the VM; the VM
 * needs its agent and outbound 443 to Azure (docs/transports.md).
 */
export interface RunCommandTarget {
  /** The VM's ARM resource ID: /subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.Compute/virtualMachines/<name>. */
  vmId: pulumi.Input<string>;
  /** The VM's Azure region: its run commands live there. */
  location: pulumi.Input<string>;
}

/**
 * The role assignment a check's refused scopes wait for: the grant being revoked. While ARM still holds
 * it, the check handles "this update removes it" itself (see docs/access-check-component.md).
 */
export interface WatchedGrant {
  /** The role assignment's ARM ID: <scope>/providers/Microsoft.Authorization/roleAssignments/<name>. */
  roleAssignmentId?: pulumi.Input<string>;
  /**
   * Instead of the ID: the assignment's scope, for an assignment named as this project names them (the
   * GUID derived from scope, principal and role: components/roleAssignment.ts), with roleDefinitionId.
   */
  scope?: pulumi.Input<string>;
  /** With scope: the full role definition ID (/subscriptions/<id>/providers/Microsoft.Authorization/roleDefinitions/<GUID>). */
  roleDefinitionId?: pulumi.Input<string>;
  /** With scope: the principal it grants to. Default: the identity's principalId. */
  principalId?: pulumi.Input<string>;
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
  /** How to reach the VM over SSH. Exactly one of ssh and runCommand. */
  ssh?: pulumi.Input<SshConnection>;
  /** How to reach the VM through Azure's managed Run Command (no network path to the VM). Exactly one of ssh and runCommand. */
  runCommand?: pulumi.Input<RunCommandTarget>;
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
   * The probe's total budget in seconds (1-86400; through Run Command 1-5340, so that the run command's
   * timeout stays within the 90 minutes Azure documents) for each run: how long a readable scope may take
   * to become readable, or a refused scope to become refused. Azure's RBAC takes up to about 10 minutes
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
   * The role assignment the refused scopes wait for (the grant being revoked). The check asks ARM
   * whether it is still there: gone, the refusal is probed; still there, the update that removes it
   * (Pulumi deletes it only at its end, after the check) probes nothing and says the next `pulumi up`
   * proves the denial; still there two updates later, it is not going away and the check fails naming
   * it. Needs refusedScopes. Default: none (a refused scope is probed whatever ARM holds).
   */
  grant?: pulumi.Input<WatchedGrant>;
  /**
   * Deprecated: give `grant` instead, and the check tells by itself whether this update removes it (a
   * grant that is not going away then fails instead of saying "not verified yet" forever). True when this
   * very update removes the grant on the refused scopes: nothing is probed, the outputs say the denial is
   * proven by the next `pulumi up`, and the deployment does not fail. Default: false.
   *
   * @deprecated Give `grant` instead.
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

/** How a grant named by scope and role is named in ARM (`grant.scope`): the GUID derived from scope, principal and role. */
export { READER_ROLE_ID, roleAssignmentName, roleDefinitionId } from "./roleAssignment";

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
    // Checked before anything registers: a check with nothing to probe, or no one way to the VM, creates nothing.
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
    const transport = transportOf(name, args);
    const watchesGrant = given(args.grant);
    if (watchesGrant && !runs.some((run) => run.expectation === Expectation.Denied)) {
      throw new AccessCheckArgsError(name, [
        "grant names the role assignment refusedScopes wait for, and refusedScopes is empty: list the scopes it must stop opening, or remove grant",
      ]);
    }
    if (watchesGrant && given(args.revocationPending)) {
      throw new AccessCheckArgsError(name, [
        "grant and revocationPending are both given: with grant the check tells by itself whether this update removes it; remove revocationPending",
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
      .apply((values) => {
        const checked = checkSettings(name, values as CheckValues);
        if (transport === "runCommand") checkRunCommandDeadlines(name, checked);
        return checked;
      });
    // The grant the refused scopes wait for: asked of ARM, and remembered in the state (components/grantState.ts).
    const fate: pulumi.Output<GrantFate> = watchesGrant
      ? watchGrant(
          this,
          name,
          pulumi
            .all([
              field(args.grant as pulumi.Input<object>, "roleAssignmentId"),
              field(args.grant as pulumi.Input<object>, "scope"),
              field(args.grant as pulumi.Input<object>, "roleDefinitionId"),
              field(args.grant as pulumi.Input<object>, "principalId"),
              settings,
            ])
            .apply(([roleAssignmentId, scope, roleDefinitionId, principalId, checked]) =>
              grantReference(name, { roleAssignmentId, scope, roleDefinitionId, principalId }, checked.principalId),
            ),
          updateMarker(),
        )
      : pulumi.output<GrantFate>({ state: "absent" });
    const probeScript = readFileSync(PROBE_SCRIPT_PATH, "utf8");
    const probe =
      transport === "ssh"
        ? sshProbe(this, name, args, opts, probeScript)
        : runCommandProbe(this, name, args.runCommand as pulumi.Input<RunCommandTarget>, {
            triggers: args.triggers,
            dependsOn: opts?.dependsOn,
            script: runCommandScript(readFileSync(PREAMBLE_PATH, "utf8"), probeScript),
          });

    const judgedRuns = runs.map((run, position) => {
      const plan = pulumi
        .all([settings, run.scope, run.expectation === Expectation.Denied ? fate : { state: "absent" as const }])
        .apply(([checked, scope, grantFate]) => planRun(name, checked, { ...run, scope }, grantFate));
      const resourceName = runs.length === 1 ? name : `${name}-${position + 1}`;
      const verdict = probe(resourceName, plan);
      return pulumi.all([args.vmName, plan, verdict]).apply(([vm, p, v]) => ({
        vm,
        identity: p.kind,
        expected: p.expected,
        probe: v.probe,
        checks: v.checks,
        verified: v.verified,
        expectation: p.expectation,
        pending: p.unprobed?.pending ?? false,
      }));
    });

    // The evidence holds claims, never the token (the probe's contract; the judge redacts anything
    // token-shaped). Unsecreted so that stack outputs show it even if a provider marks the command's
    // stdout secret because its connection is.
    const judged = pulumi.unsecret(pulumi.all(judgedRuns)).apply((all) => {
      if (failOnMismatch) for (const line of revocationWarnings(all.map(contractResult))) pulumi.log.warn(line, this);
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

/**
 * The one way to the VM: exactly one of ssh and runCommand, known when the program runs (the transport
 * decides which resources exist).
 */
function transportOf(component: string, args: VmAccessCheckArgs): "ssh" | "runCommand" {
  const ssh = given(args.ssh);
  const runCommand = given(args.runCommand);
  if (ssh && runCommand) {
    throw new AccessCheckArgsError(component, [
      "ssh and runCommand are both given: give exactly one way to the VM, ssh (its address, key and host key) or runCommand (its resource ID and location)",
    ]);
  }
  if (!ssh && !runCommand) {
    throw new AccessCheckArgsError(component, [
      "ssh or runCommand is required: ssh (the VM's address, key and host key) or runCommand (its resource ID and location, for a VM nothing can reach)",
    ]);
  }
  return ssh ? "ssh" : "runCommand";
}

/** The probe runs over SSH: one command:remote:Command each, the probe on stdin, the host key pinned. */
function sshProbe(
  parent: pulumi.ComponentResource,
  component: string,
  args: VmAccessCheckArgs,
  opts: pulumi.ComponentResourceOptions | undefined,
  probeScript: string,
): ProbeRunner {
  const sshArg = args.ssh as pulumi.Input<SshConnection>;
  const ssh = pulumi
    .all([
      field(sshArg, "host"),
      field(sshArg, "port"),
      field(sshArg, "user"),
      field(sshArg, "hostKey"),
      field(sshArg, "dialErrorLimit"),
    ])
    .apply(([host, port, user, hostKey, dialErrorLimit]) =>
      sshSettings(component, { host, port, user, hostKey, dialErrorLimit }),
    );
  const connection = {
    host: ssh.host,
    port: ssh.port,
    user: ssh.user,
    // Always a secret, however it was given.
    privateKey: pulumi.secret(field(sshArg, "privateKey").apply((key) => privateKeyValue(component, key))),
    // Security control: only the VM holding this host key can answer the check.
    hostKey: ssh.hostKey,
    // Ride out boot and cloud-init: sshd refuses connections until then.
    dialErrorLimit: ssh.dialErrorLimit,
    perDialTimeout: PER_DIAL_TIMEOUT_SECONDS,
  };
  return (resourceName, plan) => {
    const probe = new command.remote.Command(
      resourceName,
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
      { parent, dependsOn: opts?.dependsOn },
    );
    return pulumi.all([plan, probe.stdout]).apply(([p, stdout]): RunVerdict => {
      if (p.unprobed !== undefined) return unprobedVerdict(p, stdout);
      const evidence = parseProbeOutput(stdout);
      return { probe: evidence, ...judgeProbe(evidence, p.expected, p.kind, p.expectation) };
    });
  };
}

/** A run as the output contract has it (the run's own expectation and pending flag left out). */
function contractResult(run: AccessCheckResult & { expectation: unknown; pending: unknown }): AccessCheckResult {
  const { vm, identity, expected, probe, checks, verified } = run;
  return { vm, identity, expected, probe, checks, verified };
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
