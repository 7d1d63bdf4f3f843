import { join } from "node:path";
import { LocalWorkspace } from "@pulumi/pulumi/automation";
import type { StackDriver, StackListing } from "./harness";
import { REPO_ROOT } from "./paths";

/** The project's policy pack (policy/): every up and preview runs it, as `--policy-pack policy` would. */
export const POLICY_PACK_DIR = join(REPO_ROOT, "policy");

/**
 * The StackDriver on Pulumi's Automation API, over this project's directory: the real `pulumi up`,
 * `preview`, `destroy` and `stack rm`. Backend and secrets come from the environment the CLI reads:
 * PULUMI_BACKEND_URL with PULUMI_CONFIG_PASSPHRASE, or PULUMI_ACCESS_TOKEN for Pulumi Cloud.
 */
export async function automationDriver(stackName: string): Promise<StackDriver & { cancel(): Promise<void> }> {
  const stack = await LocalWorkspace.createOrSelectStack({ stackName, workDir: REPO_ROOT });
  return {
    stackName,
    async setConfig(values) {
      await stack.setAllConfig(
        Object.fromEntries(
          Object.entries(values).map(([key, { value, secret }]) => [key, { value, secret: secret ?? false }]),
        ),
      );
    },
    async up(onOutput, signal) {
      const result = await stack.up({
        onOutput: (text) => onOutput(text.trimEnd()),
        color: "never",
        policyPacks: [POLICY_PACK_DIR],
        // The CLI cancels on SIGINT like on Ctrl-C and releases the stack's lock, so cleanup can follow.
        signal,
      });
      // Secrets arrive unwrapped here and are never printed by the harness.
      return {
        outputs: Object.fromEntries(Object.entries(result.outputs).map(([key, output]) => [key, output.value])),
      };
    },
    async preview() {
      const result = await stack.preview({ color: "never", diff: false, policyPacks: [POLICY_PACK_DIR] });
      const summary = Object.fromEntries(Object.entries(result.changeSummary).map(([op, count]) => [op, count ?? 0]));
      const changes = Object.entries(summary).reduce(
        (total, [op, count]) => (op === "same" ? total : total + count),
        0,
      );
      return { changes, summary };
    },
    async destroy(onOutput) {
      await stack.destroy({ onOutput: (text) => onOutput(text.trimEnd()), color: "never" });
    },
    async remove() {
      await stack.workspace.removeStack(stackName);
    },
    async cancel() {
      await stack.cancel();
    },
  };
}

/** Every stack of this project in the current backend, for the sweeper. */
export async function listProjectStacks(): Promise<{
  stacks: StackListing[];
  open: (name: string) => Promise<StackDriver & { cancel(): Promise<void> }>;
}> {
  const workspace = await LocalWorkspace.create({ workDir: REPO_ROOT });
  const stacks = await workspace.listStacks({ all: false });
  return {
    stacks: stacks.map(({ name, lastUpdate, updateInProgress }) => ({ name, lastUpdate, updateInProgress })),
    open: (name) => automationDriver(name),
  };
}
