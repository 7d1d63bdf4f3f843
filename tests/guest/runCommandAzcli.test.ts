import { execFile, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LocalAzure } from "../../local-azure/index";
import { bootVm, footprint, type GuestFootprint, type GuestVm, leftovers, startCloud } from "./support";

/**
 * Microsoft's Azure CLI (the Azure CLI tier's az, tests/azcli/install.sh) on the host, as the
 * deployer, running commands inside a real guest through Run Command: az vm run-command invoke,
 * create, show --instance-view, list and delete. The scripts run as root inside the VM and reach IMDS
 * at 169.254.169.254. Skipped, saying why, when the tier's venv cannot be installed.
 */

const install = spawnSync("bash", [join(__dirname, "..", "azcli", "install.sh")], { encoding: "utf8" });
const azPath = install.status === 0 ? install.stdout.trim() : "";
if (azPath === "") {
  process.stderr.write(
    `tests/guest/runCommandAzcli.test.ts skipped: tests/azcli/install.sh failed (${install.stderr.trim().split("\n").pop()}); it installs the Azure CLI tier's venv (npm run test:azcli).\n`,
  );
}

/** az's one request that would leave loopback (its version check) goes to a closed port (tests/azcli/azcli.test.ts). */
const NO_EGRESS = { HTTPS_PROXY: "http://127.0.0.1:9", HTTP_PROXY: "http://127.0.0.1:9", NO_PROXY: "127.0.0.0/8" };

let azure: LocalAzure;
let vm: GuestVm;
let env: NodeJS.ProcessEnv;
const configDir = mkdtempSync(join(tmpdir(), "az-run-command-"));
const prints: GuestFootprint[] = [];

function az(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) =>
    execFile(azPath, args, { env, timeout: 170_000 }, (error, stdout, stderr) =>
      done({ code: error ? Number((error as { code?: number }).code ?? -1) : 0, stdout, stderr }),
    ),
  );
}

async function azJson<T>(...args: string[]): Promise<T> {
  const run = await az(...args, "--output", "json");
  if (run.code !== 0) throw new Error(`az ${args.join(" ")} exited ${run.code}:\n${run.stderr}`);
  return JSON.parse(run.stdout) as T;
}

beforeAll(async () => {
  if (azPath === "") return;
  azure = await startCloud({ identityAttachDelaySeconds: 0, rbacDelaySeconds: 0 });
  vm = await bootVm(azure, { identity: "user", vmName: "az-rc-guest" });
  prints.push(footprint(vm.guest.id));
  // What `eval "$(npm run -s local -- env)"` gives az: its own config folder, Local Azure's CA, no
  // instance discovery, no telemetry.
  const clean = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(AZURE_|REQUESTS_CA)/.test(name)));
  env = {
    ...clean,
    ...NO_EGRESS,
    AZURE_CONFIG_DIR: configDir,
    REQUESTS_CA_BUNDLE: azure.caCertPath,
    AZURE_CORE_INSTANCE_DISCOVERY: "false",
    AZURE_CORE_COLLECT_TELEMETRY: "false",
  };
  for (const args of [
    ["cloud", "register", "--name", "LocalAzure", "--endpoint-resource-manager", azure.armEndpoint],
    ["cloud", "set", "--name", "LocalAzure"],
    [
      "login",
      "--service-principal",
      "--username",
      azure.deployer.clientId,
      `--password=${azure.deployer.clientSecret}`,
      "--tenant",
      azure.tenantId,
    ],
  ]) {
    const run = await az(...args);
    if (run.code !== 0) throw new Error(`az ${args[0]} ${args[1]} exited ${run.code}: ${run.stderr}`);
  }
}, 600_000);

afterAll(async () => {
  await azure?.stop();
  rmSync(configDir, { recursive: true, force: true });
  if (azPath !== "") expect(leftovers({ owners: [process.pid], footprints: prints })).toEqual([]);
}, 60_000);

describe.skipIf(azPath === "")("az vm run-command against real guests", () => {
  it("az vm run-command invoke: the script runs as root inside the VM and gets a token from 169.254.169.254", async () => {
    const result = await azJson<{ value: Array<{ code: string; message: string }> }>(
      "vm",
      "run-command",
      "invoke",
      "-g",
      vm.resourceGroup,
      "-n",
      "az-rc-guest",
      "--command-id",
      "RunShellScript",
      "--scripts",
      'echo "$(id -un) on $(hostname)"',
      `curl -s -H Metadata:true "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fmanagement.azure.com%2F&client_id=$1" | grep -c '"access_token":"ey'`,
      "--parameters",
      String(vm.userIdentity?.clientId),
    );
    expect(result.value.map((status) => status.code)).toEqual(["ProvisioningState/succeeded"]);
    expect(result.value[0].message).toBe("Enable succeeded: \n[stdout]\nroot on az-rc-guest\n1\n\n[stderr]\n");
  });

  it("az vm run-command create, show --instance-view (a failing script's exit code and output), list, delete", async () => {
    const created = await azJson<Record<string, unknown>>(
      "vm",
      "run-command",
      "create",
      "-g",
      vm.resourceGroup,
      "--vm-name",
      "az-rc-guest",
      "--name",
      "az-guest-rc",
      "--script",
      'echo "uid $(id -u) in $(grep ^0:: /proc/self/cgroup | cut -d/ -f2-3)"; echo failing >&2; exit 7',
    );
    expect(created).toMatchObject({ name: "az-guest-rc", provisioningState: "Succeeded" });
    const shown = await azJson<{ instanceView: Record<string, unknown> }>(
      "vm",
      "run-command",
      "show",
      "-g",
      vm.resourceGroup,
      "--vm-name",
      "az-rc-guest",
      "--name",
      "az-guest-rc",
      "--instance-view",
    );
    expect(shown.instanceView).toMatchObject({
      executionState: "Failed",
      executionMessage: "Execution failed: failed to execute command: command terminated with exit status=7",
      exitCode: 7,
      output: "uid 0 in azure.slice/azure-vmextensions.slice\n",
      error: "failing\n",
    });
    const listed = await azJson<Array<{ name: string }>>(
      "vm",
      "run-command",
      "list",
      "-g",
      vm.resourceGroup,
      "--vm-name",
      "az-rc-guest",
    );
    expect(listed.map((item) => item.name)).toEqual(["az-guest-rc"]);
    expect(
      (
        await az(
          "vm",
          "run-command",
          "delete",
          "-g",
          vm.resourceGroup,
          "--vm-name",
          "az-rc-guest",
          "--name",
          "az-guest-rc",
          "--yes",
        )
      ).code,
    ).toBe(0);
    expect(
      await azJson<unknown[]>("vm", "run-command", "list", "-g", vm.resourceGroup, "--vm-name", "az-rc-guest"),
    ).toEqual([]);
  });
});
