import { randomUUID } from "node:crypto";
import type { ArmContext, ArmProvider, ArmRequest } from "./context";
import { type ArmReply, armError } from "./errors";
import type { Route } from "./routes";

/**
 * Long-running operations, shared by every provider whose PUT or DELETE runs long: each gets an
 * unguessable ID and the two URLs a client polls (Learn, "Track asynchronous Azure operations"):
 * Azure-AsyncOperation answers 200 with a status; Location answers 202 while it runs, then 200.
 *
 * While an operation runs, its first answer and every poll that finds it running carry Retry-After,
 * "the number of seconds to wait before checking the status" (same page), as ARM's do: recorded in
 * Azure/azure-sdk-for-js's test recordings, Microsoft.Compute's VM PUT answers 201 with
 * Azure-AsyncOperation and Retry-After 10 and its running status Retry-After 50; Microsoft.Network's
 * PUTs 201 with Azure-AsyncOperation and Retry-After 3, its running status Retry-After 10, nothing
 * once Succeeded; a resource group's DELETE 202 with Location and Retry-After 15, again on each 202
 * poll (sdk/{compute/arm-compute,resources/arm-resources}/recordings/node/…). Local Azure's value is
 * the whole seconds left until its operation ends, so at least 1: never 0, which azure-core (Python,
 * the Azure CLI's) and @azure/core-lro read as "none", falling back to their own interval (azure-core:
 * 30 s).
 *
 * By default (lroSeconds 0) an operation ends with its first answer: provisioningState Succeeded and no
 * Retry-After, which ARM's async contract allows (a PUT that completes synchronously) and every
 * referee handles without waiting: azcore (azure-native's) polls no operation whose first answer is
 * terminal (internal/pollers/async/async.go, New); azure-core's LROBasePolling (the Azure CLI's) polls
 * once before its first delay (base_polling.py, _poll); @azure/arm-* clients pass tests/conformance/
 * against it. A test that needs an operation to run for a while sets lroSeconds.
 */
export class Operations implements ArmProvider {
  constructor(
    private readonly ctx: ArmContext,
    /** Resolves once the deletion a delete's operation stands for has ended (./deletions.ts). */
    private readonly deletionEnded: (key: string) => Promise<void>,
  ) {}

  /** A new operation that finishes at `readyAt` (epoch ms); returns its ID. */
  create(readyAt: number): string {
    const id = randomUUID();
    this.ctx.store.operations.set(id, { readyAt });
    return id;
  }

  /** An operation that finishes after the configured LRO time. */
  createNow(): string {
    return this.create(Date.now() + this.ctx.faults.lroSeconds * 1000);
  }

  /**
   * A delete's operation: it ends `lroSeconds` after `startedAt`, as the faults say at each poll, and
   * is answered done only once the deletion `deletes` (./deletions.ts) has ended.
   */
  createDelete(startedAt: number, deletes: string): string {
    const id = randomUUID();
    this.ctx.store.operations.set(id, { readyAt: startedAt, startedAt, deletes });
    return id;
  }

  /** When an operation ends. */
  readyAt(operation: { readyAt: number; startedAt?: number }): number {
    return operation.startedAt === undefined ? operation.readyAt : this.deletedAt(operation.startedAt);
  }

  /** When a delete that began at `startedAt` ends: `lroSeconds` later, read now. */
  deletedAt(startedAt: number): number {
    return startedAt + this.ctx.faults.lroSeconds * 1000;
  }

  /**
   * An operation that runs until `work` settles, and at least the configured LRO time: Succeeded with
   * what it resolves to (the Location's answer), or Failed with the ARM error it resolves to.
   */
  track(work: Promise<{ result?: unknown; error?: { code: string; message: string } }>): string {
    const id = this.create(Number.POSITIVE_INFINITY);
    const earliest = Date.now() + this.ctx.faults.lroSeconds * 1000;
    void work.then(
      (outcome) => this.settle(id, earliest, outcome),
      (error: Error) =>
        this.settle(id, earliest, { error: { code: "InternalOperationError", message: error.message } }),
    );
    return id;
  }

  private settle(
    id: string,
    earliest: number,
    outcome: { result?: unknown; error?: { code: string; message: string } },
  ) {
    const operation = this.ctx.store.operations.get(id);
    if (!operation) return;
    operation.readyAt = Math.max(earliest, Date.now());
    if (outcome.error) operation.error = outcome.error;
    if (outcome.result !== undefined) operation.result = outcome.result;
  }

  /**
   * Retry-After while the operation finishing at `readyAt` runs: whole seconds left, at least 1; none
   * once done. While its end is not known (a script runs), 1.
   */
  retryAfter(readyAt: number, now = Date.now()): Record<string, string> {
    const left = readyAt - now;
    if (left === Number.POSITIVE_INFINITY) return { "retry-after": "1" };
    return left > 0 ? { "retry-after": String(Math.max(1, Math.ceil(left / 1000))) } : {};
  }

  /**
   * The headers of an operation's first answer: where to poll (Azure-AsyncOperation, Location, or both,
   * as the provider's REST spec has it) and, while it runs, when.
   */
  accepted(id: string, poll: { asyncOperation?: boolean; location?: boolean }): Record<string, string> {
    return {
      ...(poll.asyncOperation ? { "azure-asyncoperation": this.statusUrl(id) } : {}),
      ...(poll.location ? { location: this.resultUrl(id) } : {}),
      ...this.retryAfter(this.readyAtOf(id)),
    };
  }

  private readyAtOf(id: string): number {
    const operation = this.ctx.store.operations.get(id);
    return operation ? this.readyAt(operation) : 0;
  }

  statusUrl(id: string): string {
    return `${this.ctx.endpoint}/subscriptions/${this.ctx.subscriptionId}/providers/Microsoft.Resources/operationStatuses/${id}?api-version=2020-01-01`;
  }

  resultUrl(id: string): string {
    return `${this.ctx.endpoint}/subscriptions/${this.ctx.subscriptionId}/operationResults/${id}?api-version=2020-01-01`;
  }

  match(_method: string, path: string): Route | undefined {
    // Operation polls carry their own unguessable ID: no RBAC action.
    let match = /^\/subscriptions\/[^/]+\/providers\/Microsoft\.Resources\/operationStatuses\/([^/]+)$/i.exec(path);
    if (match) return { kind: "operationStatus", scope: path, name: match[1], action: "" };
    match = /^\/subscriptions\/[^/]+\/operationResults\/([^/]+)$/i.exec(path);
    if (match) return { kind: "operationResult", scope: path, name: match[1], action: "" };
    return undefined;
  }

  async handle({ route }: ArmRequest): Promise<ArmReply> {
    const operation = this.ctx.store.operations.get(route.name ?? "");
    if (!operation) return armError(404, "NotFound", "The operation was not found.");
    // One instant per poll: what it answers is decided once.
    const now = Date.now();
    const readyAt = this.readyAt(operation);
    const done = now >= readyAt;
    // A delete is Succeeded once its resource is gone and what hung on it (a VM's guest) torn down.
    if (done && operation.deletes !== undefined) await this.deletionEnded(operation.deletes);
    const pace = this.retryAfter(readyAt, now);
    if (route.kind === "operationStatus") {
      const status = !done ? "InProgress" : operation.error ? "Failed" : "Succeeded";
      return {
        status: 200,
        headers: pace,
        body: { name: route.name, status, ...(done && operation.error ? { error: operation.error } : {}) },
      };
    }
    if (!done) return { status: 202, headers: { location: this.resultUrl(String(route.name)), ...pace } };
    // A failed operation's Location answers with its error, as ARM's does (Learn, "Track asynchronous Azure operations").
    if (operation.error) return { status: 400, body: { error: operation.error } };
    // A result may be the resource as it is when asked (a PUT's final state via its Location).
    const result = typeof operation.result === "function" ? (operation.result as () => unknown)() : operation.result;
    return result === undefined ? { status: 200 } : { status: 200, body: result };
  }
}
