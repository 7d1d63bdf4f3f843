import { execFile, spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { backendDir, cloudDir } from "../../local/engineStack";
import { readCloud } from "../../local-azure/persist";
import { type EngineTarget, startEngineTarget } from "../e2e/engineTarget";
import { commandProviderInstalled, engineBuilt, isolatedStack, REPO_ROOT } from "./support";

/**
 * The sweeper removes what a killed run left (issue 10, item 6), with the Automation API and the real
 * engine. A run SIGKILLed mid-up (its resource group made, the rest on its way) cleans nothing up, and
 * the CLI dies with it, so the stack stays locked. `npm run sweep` meets the lock on destroy (the
 * Automation API's ConcurrentUpdateError), cancels the killed run's update as an operator would with
 * `pulumi cancel` (the file:// backend supports it in v3.248), then destroys and removes the stack
 * against the kept cloud, which is empty again.
 */

const { stateDir } = isolatedStack("sweep");
const stack = `e2e-swept-${process.pid}`;
const stackFile = join(backendDir(stateDir), ".pulumi", "stacks", "vm-identity-access", `${stack}.json`);
const locks = join(backendDir(stateDir), ".pulumi", "locks");
let target: EngineTarget | undefined;

afterAll(async () => {
  await target?.stop();
});

function lockCount(): number {
  if (!existsSync(locks)) return 0;
  return readdirSync(locks, { recursive: true }).filter((file) => String(file).endsWith(".json")).length;
}

describe.skipIf(!engineBuilt || !commandProviderInstalled)("the sweeper", () => {
  it("destroys and removes the stack a SIGKILLed run left behind", async () => {
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        join(__dirname, "fixtures", "ephemeralRun.ts"),
        stateDir,
        stack,
        join(stateDir, "report.json"),
      ],
      { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    let output = "";
    const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
    await new Promise<void>((resolve, reject) => {
      const watch = (chunk: Buffer) => {
        output += chunk.toString();
        // Mid-up: the resource group is there, the rest is on its way.
        if (/azure-native:resources:ResourceGroup vmia-rg created/.test(output)) resolve();
      };
      child.stdout.on("data", watch);
      child.stderr.on("data", watch);
      void exited.then(() => reject(new Error(`the run ended before the check started:\n${output.slice(-2000)}`)));
    });
    child.kill("SIGKILL");
    await exited;
    // The killed run's lock is left behind; cancelling the update it names releases it.
    expect(lockCount()).toBe(1);
    expect(existsSync(stackFile)).toBe(true);
    expect(readCloud(cloudDir(stateDir))?.store.resourceGroups).toHaveLength(1);

    // The kept cloud comes back, and the sweeper meets what the killed run made.
    target = await startEngineTarget(stateDir, (values) => Object.assign(process.env, values));
    const sweep = await promisify(execFile)(
      process.execPath,
      ["--import", "tsx", join(REPO_ROOT, "tests", "e2e", "sweep.ts"), "--older-than", "0m"],
      { cwd: REPO_ROOT, env: process.env, timeout: 180_000 },
    );
    expect(sweep.stdout).toContain(`sweeping ${stack}`);
    expect(sweep.stdout).toContain(`${stack} is locked by an update older than the sweep age: cancelling it`);
    expect(lockCount()).toBe(0);
    expect(existsSync(stackFile)).toBe(false);
    expect(readCloud(cloudDir(stateDir))?.store.resourceGroups).toEqual([]);
  }, 300_000);
});
