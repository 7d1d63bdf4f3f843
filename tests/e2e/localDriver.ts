import { execFile } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { deployLocal, destroyLocal, type LocalRunResult, runnerConfig } from "../../local/deploy";
import { STATE_FILE } from "../../local/state";
import type { ConfigValue, StackDriver } from "./harness";
import { REPO_ROOT } from "./paths";

const execFileAsync = promisify(execFile);

/**
 * The StackDriver on Local Azure: `up` is deployLocal (keeping Local Azure running so `destroy`
 * really deletes through its ARM), `preview` replays the program against the stored state and
 * diffs the inputs as the engine would, `remove` deletes the stack's state folder.
 */
export function localDriver(stackName: string, stateRoot: string): StackDriver & { lastRun?: LocalRunResult } {
  const stateDir = join(stateRoot, stackName);
  let config: Record<string, string> = {};
  let lastConfig: Record<string, string> = {};
  const driver: StackDriver & { lastRun?: LocalRunResult } = {
    stackName,
    async setConfig(values: Record<string, ConfigValue>) {
      config = Object.fromEntries(Object.entries(values).map(([key, { value }]) => [key, value]));
    },
    async up(onOutput) {
      const run = await deployLocal({ stateDir, config, keep: true, onProgress: onOutput });
      driver.lastRun = run;
      if (run.azure) lastConfig = runnerConfig({ config }, run.azure);
      if (run.error) throw new Error(run.error);
      return { outputs: run.outputs };
    },
    async preview() {
      const { stdout } = await execFileAsync(
        process.execPath,
        [
          "--import",
          "tsx",
          join(__dirname, "replayWorker.ts"),
          join(stateDir, STATE_FILE),
          join(REPO_ROOT, "index.ts"),
          JSON.stringify(lastConfig),
        ],
        { cwd: REPO_ROOT, maxBuffer: 1 << 20 },
      );
      const { summary } = JSON.parse(stdout.trim().split("\n").pop() ?? "{}") as { summary: Record<string, number> };
      const changes = Object.entries(summary).reduce(
        (total, [op, count]) => (op === "same" ? total : total + count),
        0,
      );
      return { changes, summary };
    },
    async destroy(onOutput) {
      try {
        await destroyLocal({ stateDir, onProgress: onOutput });
      } finally {
        await driver.lastRun?.azure?.stop();
      }
    },
    async remove() {
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
  return driver;
}
