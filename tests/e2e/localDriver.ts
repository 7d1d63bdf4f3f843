import { rmSync } from "node:fs";
import { join } from "node:path";
import { deployLocal, destroyLocal, type LocalRunResult } from "../../local/deploy";
import { readState } from "../../local/state";
import { LocalAzure } from "../../local-azure/index";
import { startVirtualClock, type VirtualClock } from "../../local-azure/virtualClock";
import type { ConfigValue, StackDriver } from "./harness";

/**
 * The StackDriver on Local Azure. The driver starts one Local Azure for the stack's life and deploys
 * into it as into a running service: `up` is
 * deployLocal; the second run is deployLocal again, which decides every step from the first run's
 * state as the engine would (local/resourcePlan.ts) and counts what it did not leave alone, so a
 * second run that would change something does change it and shows up; `destroy` deletes through its
 * ARM, dependents first; `remove` deletes the stack's folder.
 * Its Local Azure runs on a virtual clock of the stack's own (local-azure/virtualClock.ts): the probe's
 * waits (the negative control's 10 s deadline) are slept, not waited for; its VMs share it.
 */
export function localDriver(
  stackName: string,
  stateRoot: string,
): StackDriver & { lastRun?: LocalRunResult; azure?: LocalAzure } {
  const stateDir = join(stateRoot, stackName);
  let config: Record<string, string> = {};
  let clock: VirtualClock | undefined;
  const deploy = async (onOutput: (line: string) => void): Promise<LocalRunResult> => {
    if (!driver.azure) {
      clock = startVirtualClock();
      driver.azure = await LocalAzure.start({ faults: { clock } });
    }
    const run = await deployLocal({ stateDir, config, service: driver.azure, onProgress: onOutput });
    driver.lastRun = run;
    if (run.error) throw new Error(run.error);
    return run;
  };
  const driver: StackDriver & { lastRun?: LocalRunResult; azure?: LocalAzure } = {
    stackName,
    async setConfig(values: Record<string, ConfigValue>) {
      config = Object.fromEntries(Object.entries(values).map(([key, { value }]) => [key, value]));
    },
    async up(onOutput) {
      return { outputs: (await deploy(onOutput)).outputs };
    },
    async preview() {
      const before = Object.keys(readState(stateDir)?.resources ?? {});
      const run = await deploy(() => undefined);
      const after = new Set(Object.keys(readState(stateDir)?.resources ?? {}));
      const summary: Record<string, number> = { same: 0, create: 0, update: 0, replace: 0, delete: 0 };
      for (const event of run.timeline) summary[event.operation ?? "create"]++;
      summary.delete = before.filter((key) => !after.has(key)).length;
      const changes = Object.entries(summary).reduce(
        (total, [op, count]) => (op === "same" ? total : total + count),
        0,
      );
      return { changes, summary };
    },
    async destroy(onOutput) {
      try {
        if (driver.azure) await destroyLocal({ stateDir, service: driver.azure, onProgress: onOutput });
      } finally {
        await driver.azure?.stop();
        clock?.remove();
      }
    },
    async remove() {
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
  return driver;
}
