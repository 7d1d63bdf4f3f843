import { randomBytes, randomUUID } from "node:crypto";
import type * as pulumi from "@pulumi/pulumi";
import type { GeneratedPrivateKey, KeyAlgorithm, KeyOptions } from "../local-azure/tlsKeys";
import { getterMapping, getterTokens, invokeGetter } from "./armGetter";
import { mappingFor } from "./armMapping";
import { type ArmHttp, ArmPutError, putResource, readAfterFailure } from "./armPut";
import { armFailure, armPlan, armResult } from "./armResource";
import type { MockResourceArgsWithOptions } from "./mockOptions";
import { type Operation, type PreviousResource, plannedStep, storedInputs, withIgnoredChanges } from "./resourcePlan";
import { redactSecrets, SECRET_PLACEHOLDER, unwrapSecrets, wrapSecret } from "./secrets";
import type { RemoteConnection, RemoteRun, RunRemoteCommandOptions } from "./sshExec";
import type { TimelineEvent } from "./timeline";
import { privateKeyId, privateKeyRequest, privateKeyState, TLS_PRIVATE_KEY } from "./tlsResource";

/**
 * Pulumi mocks backed by Local Azure, doing for each resource what the engine would do on `pulumi up`
 * (local/resourcePlan.ts), decided from the previous run's state: azure-native resources are PUT through
 * ARM for real (long-running operations included), or left alone when unchanged, and their outputs come
 * from ARM's answers; @pulumi/tls keys are generated for real; remote.Command runs its `create` or its
 * `update` over real SSH against the VM's guest; pulumi:index:Stash keeps its output as the engine's
 * builtin does.
 */

/** One resource as the local state keeps it (secrets redacted, except the key pairs a next run reuses). */
export interface StateEntry extends PreviousResource {
  type: string;
  name: string;
  id: string;
  /** The generated physical name, when the program gave none; reused by the next run. */
  autoname?: string;
  inputs: unknown;
  outputs: unknown;
}

/** The ARM client the mocks need: Local Azure's ArmClient, authenticated as the deployer. */
export interface ArmPutClient extends ArmHttp {
  deleteAndWait(path: string): Promise<unknown>;
}

export interface LocalMocksOptions {
  arm: ArmPutClient;
  subscriptionId: string;
  tenantId: string;
  deployer: { principalId: string; clientId: string };
  /** Location of a resource group created without one (azure-native takes it from `azure-native:location`). */
  defaultLocation: string;
  /** Epoch ms the run started; timeline times are relative to it. */
  runStart: number;
  /** The previous run's state, by key (see stateKey): autonames and key pairs are reused. */
  previous?: Record<string, StateEntry>;
  /**
   * Whether the previous run's resources are in the cloud this run deploys into (the kept cloud, or the
   * service's): then each resource is created, updated, replaced or left alone as the engine would do;
   * otherwise every resource is created (only autonames and key pairs are reused).
   */
  previousLive?: boolean;
  runRemoteCommand: (opts: RunRemoteCommandOptions) => Promise<RemoteRun>;
  generatePrivateKey: (algorithm: KeyAlgorithm, opts?: KeyOptions) => GeneratedPrivateKey;
  onEvent?: (event: TimelineEvent) => void;
  now?: () => number;
  random?: () => string;
}

/** Local state key of a resource (type and logical name are unique within this program, like a URN). */
export function stateKey(type: string, name: string): string {
  return `${type}::${name}`;
}

const REMOTE_COMMAND = "command:remote:Command";
const STASH = "pulumi:index:Stash";
const COMPONENT_PREFIX = "vm-identity-access:";

/** The connection remote.Command received, secret wrappers removed, checked for the fields the SSH client needs. */
export function remoteConnection(raw: unknown, name: string): RemoteConnection {
  const connection = unwrapSecrets(raw) as Record<string, unknown> | undefined;
  if (!connection || typeof connection.host !== "string" || connection.host === "") {
    throw new Error(`command:remote:Command ${name}: connection.host is required (the VM's address)`);
  }
  const result: RemoteConnection = { host: connection.host };
  if (connection.port !== undefined) result.port = Number(connection.port);
  if (connection.user !== undefined) result.user = String(connection.user);
  if (connection.privateKey !== undefined) result.privateKey = String(connection.privateKey);
  if (connection.hostKey !== undefined) result.hostKey = String(connection.hostKey);
  if (connection.dialErrorLimit !== undefined) result.dialErrorLimit = Number(connection.dialErrorLimit);
  if (connection.perDialTimeout !== undefined) result.perDialTimeout = Number(connection.perDialTimeout);
  return result;
}

/** A resource that failed, and what the state keeps of it: a partial entry, or the previous one as it was. */
class ResourceFailure extends Error {
  constructor(
    message: string,
    readonly keep: StateEntry | undefined,
  ) {
    super(message);
  }
}

interface Applied {
  operation: Operation;
  result: pulumi.runtime.MockResourceResult;
  /** What the state keeps: the resource's entry (the previous one, when nothing changed). */
  entry: StateEntry;
}

export class LocalAzureMocks implements pulumi.runtime.Mocks {
  readonly timeline: TimelineEvent[] = [];
  readonly resources: StateEntry[] = [];
  readonly commandStdouts: Array<{ name: string; stdout: string }> = [];
  /** Every resource failure, in order: the deployment's error is the first. */
  readonly failures: string[] = [];
  private readonly now: () => number;
  private readonly random: () => string;

  constructor(private readonly options: LocalMocksOptions) {
    this.now = options.now ?? Date.now;
    this.random = options.random ?? randomUUID;
  }

  async newResource(args: pulumi.runtime.MockResourceArgs): Promise<pulumi.runtime.MockResourceResult> {
    if (args.type.startsWith(COMPONENT_PREFIX)) return { id: `${args.name}_id`, state: args.inputs };
    const startedAt = this.now() - this.options.runStart;
    try {
      const applied = await this.apply(args);
      this.resources.push(applied.entry);
      this.record(args, startedAt, true, applied.operation);
      return applied.result;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (error instanceof ResourceFailure && error.keep) this.resources.push(error.keep);
      this.failures.push(message);
      this.record(args, startedAt, false);
      throw new Error(message);
    }
  }

  call(args: pulumi.runtime.MockCallArgs): Record<string, unknown> | Promise<Record<string, unknown>> {
    if (args.token === "azure-native:authorization:getClientConfig") {
      return {
        clientId: this.options.deployer.clientId,
        objectId: this.options.deployer.principalId,
        subscriptionId: this.options.subscriptionId,
        tenantId: this.options.tenantId,
      };
    }
    if (getterMapping(args.token)) {
      // The SDK reports a failed invoke with its gRPC error's `details`, as the engine sends it.
      return invokeGetter(this.options.arm, args.token, args.inputs, this.options.subscriptionId).catch((error) => {
        throw Object.assign(error as Error, { details: (error as Error).message });
      });
    }
    throw new Error(
      `Local Azure does not answer the function ${args.token}: the runner supports azure-native:authorization:getClientConfig and the getters of the types it models (${getterTokens().join(", ")})`,
    );
  }

  private record(args: pulumi.runtime.MockResourceArgs, startedAt: number, ok: boolean, operation?: Operation): void {
    const event: TimelineEvent = {
      type: args.type,
      name: args.name,
      startedAt,
      finishedAt: this.now() - this.options.runStart,
      ok,
      ...(operation !== undefined && operation !== "create" ? { operation } : {}),
    };
    this.timeline.push(event);
    this.options.onEvent?.(event);
  }

  /** The previous run's entry, for its autoname or key pair, whether or not its resource still exists. */
  private remembered(type: string, name: string): StateEntry | undefined {
    return this.options.previous?.[stateKey(type, name)];
  }

  /** The previous run's entry when its resource exists in this run's cloud: what the engine's checkpoint holds. */
  private live(type: string, name: string): StateEntry | undefined {
    return this.options.previousLive ? this.remembered(type, name) : undefined;
  }

  /**
   * The registration as the engine plans it: on an update, inputs the program's `ignoreChanges` names
   * keep their previous values.
   */
  private apply(registered: MockResourceArgsWithOptions): Promise<Applied> {
    const ignored = registered.options?.ignoreChanges ?? [];
    const previous = this.live(registered.type, registered.name);
    const args =
      ignored.length > 0 && previous
        ? { ...registered, inputs: withIgnoredChanges(registered.inputs, previous, ignored) }
        : registered;
    if (args.type === TLS_PRIVATE_KEY) return Promise.resolve(this.privateKey(args));
    if (args.type === REMOTE_COMMAND) return this.command(args);
    if (args.type === STASH) return Promise.resolve(this.stash(args));
    if (mappingFor(args.type)) return this.armResource(args);
    return Promise.reject(
      new Error(
        `Local Azure does not model resource type ${args.type} (resource ${args.name}): the runner handles the azure-native types of this program, tls:index/privateKey:PrivateKey, command:remote:Command and pulumi:index:Stash`,
      ),
    );
  }

  private async armResource(args: MockResourceArgsWithOptions): Promise<Applied> {
    const mapping = mappingFor(args.type);
    if (!mapping) throw new Error(`no ARM mapping for ${args.type}`);
    const previous = this.live(args.type, args.name);
    const plan = armPlan(mapping, args.name, unwrapSecrets(args.inputs) as Record<string, unknown>, {
      subscriptionId: this.options.subscriptionId,
      defaultLocation: this.options.defaultLocation,
      previousAutoname: this.remembered(args.type, args.name)?.autoname,
      random: this.random,
    });
    // The provider's answer (deleteBeforeReplace too: the same ARM name), or the program's options.
    const { operation, deleteBeforeReplace } = plannedStep(args, previous);
    const entryOf = (id: string, outputs: unknown, initErrors?: string[]): StateEntry => ({
      type: args.type,
      name: args.name,
      id,
      ...(plan.generated ? { autoname: plan.generated } : {}),
      ...storedInputs(args.inputs),
      outputs: redactSecrets(outputs),
      ...(initErrors ? { initErrors } : {}),
    });
    if (operation === "same" && previous) {
      return {
        operation,
        result: { id: previous.id, state: previous.outputs as Record<string, unknown> },
        entry: previous,
      };
    }
    const verb = operation === "update" ? "updating" : "creating";
    if (operation === "replace" && deleteBeforeReplace && previous) {
      // The same ARM name: azure-native deletes the old resource before it creates the new one.
      try {
        await this.options.arm.deleteAndWait(`${previous.id}?api-version=${mapping.apiVersion}`);
      } catch (error) {
        if ((error as { status?: number }).status !== 404) {
          throw new ResourceFailure(armFailure("deleting", args.type, args.name, error).message, previous);
        }
      }
    }
    let answer: { body: unknown };
    try {
      // azure-native waits until the request's timeout (the program's customTimeouts), else two hours.
      const timeouts = args.options?.customTimeouts ?? {};
      answer = await putResource(this.options.arm, plan.request.path, plan.request.body, {
        timeoutSeconds: operation === "update" ? timeouts.update : timeouts.create,
      });
    } catch (error) {
      const message = armFailure(verb, args.type, args.name, error).message;
      if (error instanceof ArmPutError && error.accepted) {
        // Accepted, then failed: azure-native records what ARM holds now, with the error, so the next
        // `pulumi up` updates the resource in place (pulumi/pulumi-azure-native#1066).
        const held = await readAfterFailure(this.options.arm, plan.request.path);
        const outputs = held === null ? {} : armResult(mapping, args.name, held).outputs;
        const id = String(outputs.id ?? plan.request.path.split("?")[0]);
        throw new ResourceFailure(message, entryOf(id, outputs, [message]));
      }
      // Refused: a failed update keeps the resource as it was; a failed create records nothing, and a
      // failed replacement keeps the old resource unless it was deleted first.
      const kept = operation === "update" || (operation === "replace" && !deleteBeforeReplace) ? previous : undefined;
      throw new ResourceFailure(message, kept);
    }
    const { id, outputs } = armResult(mapping, args.name, answer.body);
    return { operation, result: { id, state: outputs }, entry: entryOf(id, outputs) };
  }

  private privateKey(args: pulumi.runtime.MockResourceArgs): Applied {
    const inputs = unwrapSecrets(args.inputs) as Record<string, unknown>;
    const { algorithm, options } = privateKeyRequest(inputs);
    // Keep the key a previous run generated (as the provider keeps it across updates), so a saved
    // vm-key file and known host keys stay valid.
    const previous = this.remembered(args.type, args.name);
    const previousKey = previous?.outputs as GeneratedPrivateKey | undefined;
    const reused =
      previousKey && previousKey.algorithm === algorithm && typeof previousKey.privateKeyOpenssh === "string";
    const key = reused ? previousKey : this.options.generatePrivateKey(algorithm, options);
    const id = privateKeyId(key);
    // The next run needs the key pair: the only secret the local state keeps in clear.
    const entry: StateEntry = {
      type: args.type,
      name: args.name,
      id,
      ...storedInputs(args.inputs),
      outputs: { ...key },
    };
    const operation: Operation = !previous ? "create" : reused ? "same" : "replace";
    return { operation, result: { id, state: privateKeyState(inputs, key, wrapSecret) }, entry };
  }

  private stash(args: MockResourceArgsWithOptions): Applied {
    const previous = this.live(args.type, args.name);
    const { operation } = plannedStep(args, previous);
    const input = args.inputs.input;
    let output: unknown = input;
    if (previous && (operation === "update" || operation === "same")) {
      output = (previous.outputs as { output?: unknown } | undefined)?.output;
      if (JSON.stringify(output ?? null).includes(SECRET_PLACEHOLDER)) {
        throw new Error(
          `pulumi:index:Stash ${args.name} holds a secret, which the local state never keeps, so its output cannot carry over to this run: npm run local -- destroy starts the stack anew`,
        );
      }
    }
    const id = previous && operation !== "replace" ? previous.id : randomUUID();
    const entry: StateEntry = {
      type: args.type,
      name: args.name,
      id,
      ...storedInputs(args.inputs),
      outputs: redactSecrets({ input, output }),
    };
    return { operation, result: { id, state: { input, output } }, entry };
  }

  private async command(args: MockResourceArgsWithOptions): Promise<Applied> {
    const previous = this.live(args.type, args.name);
    const { operation } = plannedStep(args, previous);
    const before = (previous?.outputs ?? {}) as { stdout?: string; stderr?: string };
    if (operation === "same" && previous) {
      const state = { ...args.inputs, stdout: before.stdout ?? "", stderr: before.stderr ?? "" };
      this.commandStdouts.push({ name: args.name, stdout: state.stdout });
      return { operation, result: { id: previous.id, state }, entry: { ...previous, ...storedInputs(args.inputs) } };
    }
    const inputs = unwrapSecrets(args.inputs) as Record<string, unknown>;
    const updating = operation === "update" && previous !== undefined;
    // Create runs `create`; update runs `update`, else `create`; neither given, nothing runs.
    const step = updating ? (inputs.update ?? inputs.create) : inputs.create;
    const id = updating ? previous.id : `${args.name}${randomBytes(4).toString("hex")}`;
    const entryOf = (outputs: { stdout: string; stderr: string }): StateEntry => ({
      type: args.type,
      name: args.name,
      id,
      ...storedInputs(args.inputs),
      outputs,
    });
    if (typeof step !== "string" || step === "") {
      const outputs = updating
        ? { stdout: before.stdout ?? "", stderr: before.stderr ?? "" }
        : { stdout: "", stderr: "" };
      return { operation, result: { id, state: { ...args.inputs, ...outputs } }, entry: entryOf(outputs) };
    }
    const connection = remoteConnection(args.inputs?.connection, args.name);
    // An update sees the previous run's output (unless addPreviousOutputInEnv is false), as the provider sets it.
    const environment = { ...((inputs.environment as Record<string, string> | undefined) ?? {}) };
    if (updating && inputs.addPreviousOutputInEnv !== false) {
      if (before.stdout) environment.PULUMI_COMMAND_STDOUT = before.stdout;
      if (before.stderr) environment.PULUMI_COMMAND_STDERR = before.stderr;
    }
    let run: RemoteRun;
    try {
      run = await this.options.runRemoteCommand({
        connection,
        command: step,
        stdin: typeof inputs.stdin === "string" ? inputs.stdin : undefined,
        environment: Object.keys(environment).length > 0 ? environment : undefined,
      });
    } catch (error) {
      const failed = error as { message?: string; stdout?: string };
      if (typeof failed.stdout === "string") this.commandStdouts.push({ name: args.name, stdout: failed.stdout });
      // A failed create records nothing (the next run creates it again); a failed update keeps the old
      // state (the next run updates it again); a failed replacement keeps the old command.
      throw new ResourceFailure(
        `command:remote:Command ${args.name}: ${failed.message ?? String(error)}`,
        operation === "create" ? undefined : previous,
      );
    }
    this.commandStdouts.push({ name: args.name, stdout: run.stdout });
    const outputs = { stdout: run.stdout, stderr: run.stderr };
    return { operation, result: { id, state: { ...args.inputs, ...outputs } }, entry: entryOf(outputs) };
  }
}
