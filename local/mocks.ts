import { createHash, randomUUID } from "node:crypto";
import type * as pulumi from "@pulumi/pulumi";
import type { GeneratedPrivateKey, KeyAlgorithm, KeyOptions } from "../local-azure/tlsKeys";
import { type ArmReader, getterMapping, getterTokens, invokeGetter } from "./armGetter";
import { mappingFor } from "./armMapping";
import { armFailure, armPlan, armResult } from "./armResource";
import { redactSecrets, unwrapSecrets, wrapSecret } from "./secrets";
import type { RemoteConnection, RemoteRun, RunRemoteCommandOptions } from "./sshExec";
import type { TimelineEvent } from "./timeline";
import { privateKeyId, privateKeyRequest, privateKeyState, TLS_PRIVATE_KEY } from "./tlsResource";

/**
 * Pulumi mocks backed by Local Azure: azure-native resources are PUT through ARM for real (long-running
 * operations included) and their outputs come from ARM's answers; @pulumi/tls keys are generated for
 * real; remote.Command runs over real SSH against the VM's guest.
 */

/** One resource as the local state keeps it (secrets redacted, except the key pairs a next run reuses). */
export interface StateEntry {
  type: string;
  name: string;
  id: string;
  /** The generated physical name, when the program gave none; reused by the next run. */
  autoname?: string;
  inputs: unknown;
  outputs: unknown;
}

/** The ARM client the mocks need: Local Azure's ArmClient, authenticated as the deployer. */
export interface ArmPutClient extends ArmReader {
  putAndWait(path: string, body: unknown): Promise<{ status: number; body: unknown }>;
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
      const result = await this.create(args);
      this.record(args, startedAt, true);
      return result;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
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

  private record(args: pulumi.runtime.MockResourceArgs, startedAt: number, ok: boolean): void {
    const event: TimelineEvent = {
      type: args.type,
      name: args.name,
      startedAt,
      finishedAt: this.now() - this.options.runStart,
      ok,
    };
    this.timeline.push(event);
    this.options.onEvent?.(event);
  }

  private previous(type: string, name: string): StateEntry | undefined {
    return this.options.previous?.[stateKey(type, name)];
  }

  private create(args: pulumi.runtime.MockResourceArgs): Promise<pulumi.runtime.MockResourceResult> {
    if (args.type === TLS_PRIVATE_KEY) return Promise.resolve(this.createPrivateKey(args));
    if (args.type === REMOTE_COMMAND) return this.runCommand(args);
    if (mappingFor(args.type)) return this.createArmResource(args);
    return Promise.reject(
      new Error(
        `Local Azure does not model resource type ${args.type} (resource ${args.name}): the runner handles the azure-native types of this program, tls:index/privateKey:PrivateKey and command:remote:Command`,
      ),
    );
  }

  private async createArmResource(args: pulumi.runtime.MockResourceArgs): Promise<pulumi.runtime.MockResourceResult> {
    const mapping = mappingFor(args.type);
    if (!mapping) throw new Error(`no ARM mapping for ${args.type}`);
    const plan = armPlan(mapping, args.name, unwrapSecrets(args.inputs) as Record<string, unknown>, {
      subscriptionId: this.options.subscriptionId,
      defaultLocation: this.options.defaultLocation,
      previousAutoname: this.previous(args.type, args.name)?.autoname,
      random: this.random,
    });
    let answer: { body: unknown };
    try {
      answer = await this.options.arm.putAndWait(plan.request.path, plan.request.body);
    } catch (error) {
      throw armFailure("creating", args.type, args.name, error);
    }
    const { id, outputs } = armResult(mapping, args.name, answer.body);
    this.resources.push({
      type: args.type,
      name: args.name,
      id,
      ...(plan.generated ? { autoname: plan.generated } : {}),
      inputs: redactSecrets(args.inputs),
      outputs: redactSecrets(outputs),
    });
    return { id, state: outputs };
  }

  private createPrivateKey(args: pulumi.runtime.MockResourceArgs): pulumi.runtime.MockResourceResult {
    const inputs = unwrapSecrets(args.inputs) as Record<string, unknown>;
    const { algorithm, options } = privateKeyRequest(inputs);
    // Keep the key a previous run generated (as the provider keeps it across updates), so a saved
    // vm-key file and known host keys stay valid.
    const previous = this.previous(args.type, args.name)?.outputs as GeneratedPrivateKey | undefined;
    const key =
      previous && previous.algorithm === algorithm && typeof previous.privateKeyOpenssh === "string"
        ? previous
        : this.options.generatePrivateKey(algorithm, options);
    const id = privateKeyId(key);
    // The next run needs the key pair: the only secret the local state keeps in clear.
    this.resources.push({
      type: args.type,
      name: args.name,
      id,
      inputs: redactSecrets(args.inputs),
      outputs: { ...key },
    });
    return { id, state: privateKeyState(inputs, key, wrapSecret) };
  }

  private async runCommand(args: pulumi.runtime.MockResourceArgs): Promise<pulumi.runtime.MockResourceResult> {
    const inputs = unwrapSecrets(args.inputs) as Record<string, unknown>;
    const command = inputs.create;
    if (typeof command !== "string" || command === "") {
      throw new Error(`command:remote:Command ${args.name}: create is required (the command to run)`);
    }
    const connection = remoteConnection(args.inputs?.connection, args.name);
    let run: RemoteRun;
    try {
      run = await this.options.runRemoteCommand({
        connection,
        command,
        stdin: typeof inputs.stdin === "string" ? inputs.stdin : undefined,
        environment: (inputs.environment as Record<string, string> | undefined) ?? undefined,
      });
    } catch (error) {
      const failed = error as { message?: string; stdout?: string };
      if (typeof failed.stdout === "string") this.commandStdouts.push({ name: args.name, stdout: failed.stdout });
      throw new Error(`command:remote:Command ${args.name}: ${failed.message ?? String(error)}`);
    }
    this.commandStdouts.push({ name: args.name, stdout: run.stdout });
    const state = { ...args.inputs, stdout: run.stdout, stderr: run.stderr };
    const id = `${args.name}-${createHash("sha1").update(command).digest("hex").slice(0, 8)}`;
    this.resources.push({
      type: args.type,
      name: args.name,
      id,
      inputs: redactSecrets(args.inputs),
      outputs: { stdout: run.stdout, stderr: run.stderr },
    });
    return { id, state };
  }
}
