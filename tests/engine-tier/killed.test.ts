import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { backendDir, cloudDir } from "../../local/engineStack";
import { readCloud } from "../../local-azure/persist";
import type { EphemeralReport } from "../e2e/harness";
import { commandProviderInstalled, engineBuilt, isolatedStack, REPO_ROOT } from "./support";

/**
 * A run killed mid-up is cleaned up (issue 10, item 6), with the Automation API and the real engine:
 * SIGTERM while `pulumi up` runs the check makes the harness abort the update (the CLI cancels it and
 * releases the stack's lock), then destroy and remove the stack; nothing is left in the backend or in
 * the kept cloud.
 */

describe.skipIf(!engineBuilt || !commandProviderInstalled)("a run killed mid-up", () => {
  it("is cleaned up: the update is cancelled, then the stack destroyed and removed", async () => {
    const { stateDir } = isolatedStack("killed");
    const stack = `e2e-killed-${process.pid}`;
    const reportFile = join(stateDir, "report.json");
    const child = spawn(
      process.execPath,
      ["--import", "tsx", join(__dirname, "fixtures", "ephemeralRun.ts"), stateDir, stack, reportFile],
      { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    let output = "";
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      const watch = (chunk: Buffer) => {
        output += chunk.toString();
        // The check is running: every Azure resource is created, and the grant is held back for the run.
        if (/command:remote:Command vmia-check-0-user creating/.test(output)) resolve();
      };
      child.stdout.on("data", watch);
      child.stderr.on("data", watch);
      void exited.then(() => reject(new Error(`the run ended before the check started:\n${output.slice(-2000)}`)));
    });
    child.kill("SIGTERM");
    expect(await exited).toBe(0);

    const report = JSON.parse(readFileSync(reportFile, "utf8")) as EphemeralReport;
    expect(report.errors[0]).toEqual({ step: "signal", message: "interrupted: cleaning up before exit" });
    expect(report.errors.map((error) => error.step)).not.toContain("destroy");
    expect(report.cleanedUp).toBe(true);
    // Nothing left: no stack in the backend, no resource group in the kept cloud.
    // (stack rm leaves the file:// backend's .bak copies, as it does for every removed stack.)
    expect(existsSync(join(backendDir(stateDir), ".pulumi", "stacks", "vm-identity-access", `${stack}.json`))).toBe(
      false,
    );
    expect(readCloud(cloudDir(stateDir))?.store.resourceGroups).toEqual([]);
  }, 300_000);
});
