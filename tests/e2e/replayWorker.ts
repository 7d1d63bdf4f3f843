/**
 * The local stand-in for `pulumi preview` after an `up`: runs index.ts again in Pulumi's mock
 * runtime, answering every resource with the outputs the last run stored, and compares the inputs the
 * program registers now with the inputs stored then, as the engine's diff does. A child process of
 * localPreview (Pulumi's mock runtime is process-global). Prints one JSON line: the change summary.
 */
import { readFileSync } from "node:fs";
import * as pulumi from "@pulumi/pulumi";
import { redactSecrets } from "../../local/secrets";
import type { LocalState } from "../../local/state";

const [stateFile, programPath, configJson] = process.argv.slice(2);
const state = JSON.parse(readFileSync(stateFile, "utf8")) as LocalState;
const previous = new Map(Object.entries(state.resources));
const seen = new Set<string>();
const summary: Record<string, number> = { same: 0, create: 0, update: 0, delete: 0 };
const changed: string[] = [];

/** JSON with sorted keys, so that key order is not a change. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, item) =>
    item && typeof item === "object" && !Array.isArray(item)
      ? Object.fromEntries(Object.entries(item).sort(([a], [b]) => a.localeCompare(b)))
      : item,
  );
}

const subscriptionId = /^\/subscriptions\/([^/]+)/i.exec(
  [...previous.values()].find((entry) => entry.id.startsWith("/subscriptions/"))?.id ?? "",
)?.[1];
const tenantId = [...previous.values()]
  .map((entry) => (entry.outputs as { tenantId?: string } | undefined)?.tenantId)
  .find((value) => typeof value === "string");

process.on("unhandledRejection", () => undefined);

async function main() {
  pulumi.runtime.setAllConfig(JSON.parse(configJson));
  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        if (args.type.startsWith("vm-identity-access:")) return { id: `${args.name}_id`, state: args.inputs };
        const key = `${args.type}::${args.name}`;
        seen.add(key);
        const entry = previous.get(key);
        if (!entry) {
          summary.create++;
          changed.push(`create ${key}`);
          return { id: `${args.name}_preview`, state: args.inputs };
        }
        if (canonical(redactSecrets(args.inputs)) === canonical(entry.inputs)) summary.same++;
        else {
          summary.update++;
          changed.push(`update ${key}`);
        }
        return { id: entry.id, state: entry.outputs as Record<string, unknown> };
      },
      call(args) {
        if (args.token === "azure-native:authorization:getClientConfig") {
          return { subscriptionId, tenantId, clientId: "", objectId: "" };
        }
        if (args.token === "azure-native:authorization:getRoleAssignment") {
          // As ARM would answer after the run: the assignment is there if the run left it in the state.
          const id = `${args.inputs.scope}/providers/Microsoft.Authorization/roleAssignments/${args.inputs.roleAssignmentName}`;
          const found = [...previous.values()].find((entry) => entry.id.toLowerCase() === id.toLowerCase());
          if (found) return found.outputs as Record<string, unknown>;
          const message = `request failed ${id}: Status=404 Code="RoleAssignmentNotFound" Message="The role assignment does not exist."`;
          throw Object.assign(new Error(message), { details: message });
        }
        throw new Error(`the replay has no answer for ${args.token}`);
      },
    },
    "vm-identity-access",
    "local",
    false,
  );
  const program = require(programPath) as Record<string, unknown>;
  await Promise.all(
    Object.values(program).map(
      (value) =>
        new Promise<void>((resolve) => {
          const output = pulumi.output(value as pulumi.Input<unknown>) as unknown as { promise(): Promise<unknown> };
          output.promise().then(
            () => resolve(),
            () => resolve(),
          );
        }),
    ),
  );
  for (const key of previous.keys()) {
    if (!seen.has(key)) {
      summary.delete++;
      changed.push(`delete ${key}`);
    }
  }
  process.stdout.write(`${JSON.stringify({ summary, changed })}\n`);
}

main().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`replay failed: ${(error as Error).message}\n`);
    process.exit(1);
  },
);
