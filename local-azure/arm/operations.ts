import { randomUUID } from "node:crypto";
import type { ArmContext, ArmProvider, ArmRequest } from "./context";
import { type ArmReply, armError } from "./errors";
import type { Route } from "./routes";

/**
 * Long-running operations, shared by every provider whose PUT or DELETE runs long: each gets an
 * unguessable ID and the two URLs a client polls (Learn, "Track asynchronous Azure operations"):
 * Azure-AsyncOperation answers 200 with a status; Location answers 202 while it runs, then 200.
 */
export class Operations implements ArmProvider {
  constructor(private readonly ctx: ArmContext) {}

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

  handle({ route }: ArmRequest): ArmReply {
    const operation = this.ctx.store.operations.get(route.name ?? "");
    if (!operation) return armError(404, "NotFound", "The operation was not found.");
    const done = Date.now() >= operation.readyAt;
    if (route.kind === "operationStatus")
      return { status: 200, body: { name: route.name, status: done ? "Succeeded" : "InProgress" } };
    if (!done) return { status: 202, headers: { location: this.resultUrl(String(route.name)) } };
    return { status: 200 };
  }
}
