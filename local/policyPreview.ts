import { sep } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import type { RegisteredResource } from "./policyCheck";

/**
 * The runner's preview: the program once in Pulumi's mock runtime with preview on, creating nothing,
 * so the policy pack can judge every resource before the real run creates the first one (as
 * `pulumi up` previews, and a mandatory violation in the preview stops it). Every output is unknown,
 * as in a real preview of a new stack: the inputs built from other resources' outputs are unknown and
 * the policies skip them; the deployment judges each resource again with everything known.
 */

export interface PreviewResult {
  resources: RegisteredResource[];
  /** The program failed to load (bad settings): the real run reports it, nothing to judge here. */
  loadError: unknown;
}

/** How long registrations must have stopped before the preview is done (they are all in-process). */
const QUIET_MS = 50;

export async function previewRegistrations(opts: {
  programPath: string;
  project: string;
  stack: string;
  /** Answers the program's function calls (getClientConfig) as the real run will. */
  call: pulumi.runtime.Mocks["call"];
}): Promise<PreviewResult> {
  const resources: RegisteredResource[] = [];
  let pending = 0;
  let lastActivity = Date.now();
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        lastActivity = Date.now();
        resources.push({ type: args.type, name: args.name, inputs: args.inputs });
        // No id and no outputs: in a preview both are unknown until the resource exists.
        return { id: undefined, state: {} };
      },
      call: async (args) => {
        pending++;
        try {
          return await opts.call(args);
        } finally {
          pending--;
          lastActivity = Date.now();
        }
      },
    },
    opts.project,
    opts.stack,
    true,
  );
  const before = new Set(Object.keys(require.cache));
  try {
    let program: Record<string, unknown>;
    try {
      program = require(opts.programPath);
    } catch (error) {
      return { resources, loadError: error };
    }
    // Unknown exports resolve to undefined; a rejected one is the real run's business.
    await Promise.all(
      Object.values(program).map((value) =>
        (pulumi.output(value as pulumi.Input<unknown>) as unknown as { promise(): Promise<unknown> })
          .promise()
          .catch(() => undefined),
      ),
    );
    while (pending > 0 || Date.now() - lastActivity < QUIET_MS) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return { resources, loadError: null };
  } finally {
    // The real run loads the program afresh: forget the modules this pass loaded (the program's own,
    // never node_modules, whose SDKs keep their registrations).
    for (const key of Object.keys(require.cache)) {
      if (!before.has(key) && !key.includes(`${sep}node_modules${sep}`)) delete require.cache[key];
    }
  }
}
