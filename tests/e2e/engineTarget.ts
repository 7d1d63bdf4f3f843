import { join } from "node:path";
import { installStandIns } from "../../engine/plugins/install";
import { engineMissing } from "../../local/engineBridge";
import { engineEnv } from "../../local/engineEnv";
import { backendDir, cloudDir, enginePassphrase, KEPT_ENV } from "../../local/engineStack";
import { KEPT_FILE, removeKept, writeKept } from "../../local/kept";
import type { ArmClient } from "../../local-azure/armClient";
import { type Faults, LocalAzure } from "../../local-azure/index";
import type { CheckVia, ConfigValue } from "./harness";
import { REPO_ROOT } from "./paths";

/**
 * E2E_TARGET=engine: the ephemeral-stack suite through the Automation API driver and the CLI built by
 * `npm run engine:build`, against a Local Azure this process keeps (its cloud in the suite's state
 * folder) and the stand-in plugins pointed at it. The CLI, the stand-ins and the command provider
 * read the environment set here.
 */

export type EngineTargetDecision = { target: "engine" } | { skip: string };

export function decideEngineTarget(repoRoot = REPO_ROOT): EngineTargetDecision {
  const missing = engineMissing(repoRoot);
  return missing ? { skip: `E2E_TARGET=engine: ${missing}` } : { target: "engine" };
}

export interface EngineTarget {
  /**
   * What every stack needs besides the harness's settings: Local Azure's ARM endpoint, and over SSH
   * the portable guests' SSH port (through Run Command, none: nothing connects to the VM).
   */
  settings(checkVia?: CheckVia): Record<string, ConfigValue>;
  /** The kept Local Azure's ARM, as the deployer, and its portable guests' SSH port: what tests read back. */
  arm: ArmClient;
  sshPort: number;
  stop(): Promise<void>;
}

/**
 * `setEnv` puts the CLI's environment into this process's, where the Automation API and the stand-ins'
 * installer read it: a process of its own assigns it, a test file that shares its process stubs it and
 * undoes that when it ends (vitest.config.ts).
 */
export async function startEngineTarget(
  stateRoot: string,
  setEnv: (values: Record<string, string>) => void,
  faults?: Partial<Faults>,
): Promise<EngineTarget> {
  const azure = await LocalAzure.start({ faults, persistDir: cloudDir(stateRoot) });
  writeKept(stateRoot, azure, []);
  setEnv({
    ...engineEnv({
      repoRoot: REPO_ROOT,
      stateDir: backendDir(stateRoot),
      passphrase: enginePassphrase(stateRoot),
      basePath: process.env.PATH,
    }),
    [KEPT_ENV]: join(stateRoot, KEPT_FILE),
    PULUMI_NODEJS_TRANSPILE_ONLY: "true",
  });
  installStandIns(process.env);
  return {
    settings: (checkVia = "ssh") => ({
      "vm-identity-access:armEndpoint": { value: azure.armEndpoint },
      ...(checkVia === "ssh" ? { "vm-identity-access:sshPort": { value: String(azure.sshPort) } } : {}),
    }),
    arm: azure.arm,
    sshPort: azure.sshPort,
    async stop() {
      removeKept(stateRoot);
      await azure.stop();
    },
  };
}
