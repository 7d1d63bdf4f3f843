import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { Client } from "ssh2";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { probeCommandLine, refusalCommandLine } from "../../components/probeCommand";
import { PREAMBLE_PATH, runCommandScript, UNPROBED_SCRIPT } from "../../components/runCommandPlan";
import { LocalAzure, type SeededVm, seedVm } from "../../local-azure/index";
import { generatePrivateKey } from "../../local-azure/tlsKeys";
import { checkTimeSources, startVirtualClock, type VirtualClock } from "../../local-azure/virtualClock";
import { PROBE_SCRIPT_PATH } from "../support/probeRunner";
import { needsTools } from "../support/systemTools";
import { FAST, putRunCommand, untilState } from "./runCommandSupport";

/**
 * Local Azure on a running virtual clock (faults.clock, local-azure/virtualClock.ts): the real time
 * plus what was slept, read by Local Azure's time windows and by every bash its portable guests run,
 * so that a guest's sleep moves them on instead of being waited for.
 */

const clocks: VirtualClock[] = [];
function clock(): VirtualClock {
  const started = startVirtualClock();
  clocks.push(started);
  return started;
}
afterEach(() => {
  for (const started of clocks.splice(0)) started.remove();
});

/** Runs `script` in bash -s with the clock's definitions through BASH_ENV, stdin not a socket (as Run Command starts it). */
function bashWithClock(running: VirtualClock, script: string) {
  return spawnSync("bash", ["-s"], {
    input: script,
    encoding: "utf8",
    env: { PATH: "/usr/bin:/bin", BASH_ENV: running.bashEnv },
  });
}

describe("the running virtual clock", () => {
  it("starts at the real time and moves on at once by what a shell sleeps, never back", () => {
    const before = Date.now();
    const running = clock();
    const started = running.now();
    expect(started).toBeGreaterThanOrEqual(before);
    expect(started).toBeLessThanOrEqual(Date.now());
    expect(running.movedOn()).toBe(0);

    const result = bashWithClock(running, "sleep 1.500; sleep 0.250; date +%s%3N");
    expect(result.stderr).toBe("");
    expect(running.movedOn()).toBe(1750);
    // What the shell read: the real time then, plus what it had slept.
    expect(Number(result.stdout)).toBeGreaterThanOrEqual(started + 1750);
    expect(Number(result.stdout)).toBeLessThanOrEqual(running.now());

    running.advance(250);
    expect(running.movedOn()).toBe(2000);
    expect(() => running.advance(-1)).toThrow("virtual clock: advance takes milliseconds >= 0; got -1");
    expect(() => running.timeOutCurl()).toThrow(
      "virtual clock: timeOutCurl is for a frozen clock (a running one keeps curl's own timeouts)",
    );
  });

  it("sleeps side by side each move it on from what they read: it ends one or both sleeps on, never less", () => {
    const running = clock();
    // Read before the other's move: both wake at the same time, as on a real clock; after it: one after the other.
    const result = bashWithClock(running, "sleep 1.000 & sleep 1.000 & builtin wait; date +%s%3N >/dev/null");
    expect(result.stderr).toBe("");
    expect([1000, 2000]).toContain(running.movedOn());
  });

  it("covers what the program runs in the VM: the probe, the run command's script, the SSH command lines", () => {
    const probe = readFileSync(PROBE_SCRIPT_PATH, "utf8");
    const settings = {
      armEndpoint: "https://127.0.0.1:1",
      subscriptionId: "s",
      resourceGroup: "rg",
      deadlineSeconds: 30,
    };
    for (const script of [
      probe,
      runCommandScript(readFileSync(PREAMBLE_PATH, "utf8"), probe),
      UNPROBED_SCRIPT,
      probeCommandLine(settings, "granted"),
      probeCommandLine(settings, "denied"),
      refusalCommandLine(settings),
    ]) {
      expect(() => checkTimeSources(script), script.slice(0, 80)).not.toThrow();
    }
  });
});

describe("Local Azure with a virtual clock", () => {
  needsTools("curl");
  const adminKey = generatePrivateKey("ED25519");
  let azure: LocalAzure;
  let running: VirtualClock;
  let vm: SeededVm;
  beforeAll(async () => {
    running = startVirtualClock();
    // An hour for every window: nothing but the clock's moves can end one, however slow the machine.
    azure = await LocalAzure.start({
      faults: {
        ...FAST,
        identityAttachDelaySeconds: 3600,
        rbacDelaySeconds: 3600,
        revocationDelaySeconds: 3600,
        directoryReplicationSeconds: 3600,
        clock: running,
      },
    });
    vm = await seedVm(azure, {
      identity: "user",
      grant: false,
      resourceGroup: "clock-rg",
      vmName: "clock-vm",
      sshPublicKey: adminKey.publicKeyOpenssh.trim(),
    });
  });
  afterAll(async () => {
    await azure?.stop();
    running?.remove();
  });

  /** Runs `script` through Run Command (/bin/bash, as root or whoever runs Local Azure); its output. */
  async function runCommand(name: string, script: string): Promise<string> {
    const id = `${vm.vmId}/runCommands/${name}`;
    await putRunCommand(azure, id, { source: { script } });
    const view = await untilState(azure, id, "Succeeded");
    expect(view.error).toBe("");
    return view.output;
  }

  /**
   * `script` after the functions it calls: token_status prints the status of IMDS's answer to a token
   * request, read_group that of ARM's to a read of the resource group with the identity's token.
   */
  function withReads(script: string): string {
    const token = `"$AZURE_POD_IDENTITY_AUTHORITY_HOST/metadata/identity/oauth2/token?api-version=2018-02-01&resource=${encodeURIComponent(`${azure.armEndpoint}/`)}"`;
    return `token_status() { curl -s -o /dev/null -w '%{http_code} ' -H Metadata:true ${token}; }
read_group() {
  printf 'Authorization: Bearer %s\\n' "$(curl -s -H Metadata:true ${token} | sed -n 's/.*"access_token":"\\([^"]*\\)".*/\\1/p')" |
    curl -s -o /dev/null -w '%{http_code} ' -H @- "${azure.armEndpoint}${vm.resourceGroupId}?api-version=2021-04-01"
}
${script}`;
  }

  it("its windows end when a guest's sleep moves the clock past them: identity, grant, revocation", async () => {
    const moved = running.movedOn();
    // IMDS: "Identity not found" for an hour after the identity was attached, then a token.
    expect(await runCommand("identity", withReads("token_status; sleep 3600.000; token_status"))).toBe("400 200 ");

    const reader = `/subscriptions/${azure.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7`;
    const assignment = `${vm.resourceGroupId}/providers/Microsoft.Authorization/roleAssignments/6f0d0c52-1f2e-4f43-9d44-000000000c10?api-version=2022-04-01`;
    const put = await azure.arm.request("PUT", assignment, {
      properties: {
        roleDefinitionId: reader,
        principalId: vm.userIdentity?.principalId,
        principalType: "ServicePrincipal",
      },
    });
    expect(put.status).toBe(201);
    // The grant reaches ARM an hour after it was made, on the clock.
    expect(await runCommand("grant", withReads("read_group; sleep 3600.000; read_group"))).toBe("403 200 ");

    expect((await azure.arm.request("DELETE", assignment)).status).toBe(200);
    // The deleted assignment keeps working for an hour after its deletion, on the clock, then no more.
    expect(await runCommand("revoke", withReads("read_group; sleep 3600.000; read_group"))).toBe("200 403 ");

    // Nothing but the guest's three sleeps moved it.
    expect(running.movedOn() - moved).toBe(3 * 3_600_000);
  });

  it("the directory's replication window ends when the test moves the clock past it", async () => {
    const identity = await azure.arm.putAndWait(
      `${vm.resourceGroupId}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/fresh?api-version=2023-01-31`,
      { location: azure.location },
    );
    const principalId = (identity.body as { properties: { principalId: string } }).properties.principalId;
    const reader = `/subscriptions/${azure.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7`;
    const assign = () =>
      azure.arm.request(
        "PUT",
        `${vm.resourceGroupId}/providers/Microsoft.Authorization/roleAssignments/${crypto.randomUUID()}?api-version=2022-04-01`,
        { properties: { roleDefinitionId: reader, principalId } },
      );
    // Without principalType, a principal younger than the replication window is not found yet.
    const early = await assign();
    expect([early.status, (early.body as { error: { code: string } }).error.code]).toEqual([400, "PrincipalNotFound"]);
    running.advance(3_600_000);
    expect((await assign()).status).toBe(201);
  });

  it("every bash a portable guest runs has the clock's definitions: over SSH, through Run Command, nested, unprivileged", async () => {
    const probeLike = `printf '%s ' "\${EPOCHREALTIME-unset}"; sleep 1.250`;
    // Over SSH: the program's form, the script on the stdin of \`bash -s\`.
    const client = new Client();
    await new Promise<void>((resolve, reject) => {
      client.once("ready", () => resolve());
      client.once("error", reject);
      client.connect({
        host: vm.publicIp,
        port: azure.sshPort,
        username: "azureuser",
        privateKey: adminKey.privateKeyOpenssh,
      });
    });
    const before = running.movedOn();
    try {
      const ssh = await new Promise<string>((resolve, reject) => {
        client.exec("bash -s", (error, channel) => {
          if (error) return reject(error);
          let out = "";
          channel.on("data", (chunk: Buffer) => {
            out += chunk.toString();
          });
          channel.on("close", () => resolve(out));
          channel.end(probeLike);
        });
      });
      expect(ssh).toBe("unset ");
    } finally {
      client.end();
    }
    expect(running.movedOn() - before).toBe(1250);

    // Through Run Command: the script's shell, a nested \`bash -s\` and, as the program's preamble does
    // when it runs as root, one as nobody (setpriv), each with EPOCHREALTIME unset and its sleep virtual.
    const nested = `${probeLike}
bash -s <<'NESTED'
${probeLike}
NESTED
as_nobody=""
[ "$(id -u)" = 0 ] && as_nobody="setpriv --reuid=65534 --regid=65534 --clear-groups --no-new-privs --"
$as_nobody /bin/bash -s <<'UNPRIVILEGED'
${probeLike}
UNPRIVILEGED`;
    expect(await runCommand("nested", nested)).toBe("unset unset unset ");
    expect(running.movedOn() - before).toBe(4 * 1250);
  });
});
