import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { ComputeManagementClient as Compute24 } from "@azure/arm-compute";
import { ComputeManagementClient as Compute25 } from "@azure/arm-compute-v25";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalAzure, seedVm } from "../../local-azure/index";
import { inGuest } from "../../local-azure/linuxGuest/runScript";
import { redirectTable } from "../../local-azure/linuxGuest/sshRedirect";
import { all, clientOptions, deployerCredential, POLL } from "../conformance/support/arm";
import { bootVm, footprint, type GuestFootprint, type GuestVm, leftovers, nftTables, startCloud } from "./support";

/**
 * Run Command against real guests: the script runs inside the VM, as root, through the guest's
 * systemd in azure.slice/azure-vmextensions.slice, with IMDS at 169.254.169.254 and ARM at
 * management.azure.com, driven by Microsoft's @azure/arm-compute 24 and 25; a VM without a public
 * IP has no SSH gate and still runs commands; nothing is left once Local Azure stops.
 */

let azure: LocalAzure;
let vm: GuestVm;
let compute24: Compute24;
let compute25: Compute25;
const prints: GuestFootprint[] = [];

beforeAll(async () => {
  azure = await startCloud({ identityAttachDelaySeconds: 0, rbacDelaySeconds: 0 });
  vm = await bootVm(azure, { identity: "user", vmName: "rc-guest" });
  prints.push(footprint(vm.guest.id));
  compute24 = new Compute24(deployerCredential(azure), azure.subscriptionId, clientOptions(azure));
  compute25 = new Compute25(deployerCredential(azure), azure.subscriptionId, {
    endpoint: azure.armEndpoint,
    tlsOptions: { ca: azure.caCertPem },
  });
}, 180_000);

afterAll(async () => {
  await azure?.stop();
  expect(leftovers({ owners: [process.pid], footprints: prints })).toEqual([]);
}, 60_000);

/** What a script reports about where it runs, without printing the token it gets. */
const WHERE_AM_I = [
  "echo user=$(id -un) uid=$(id -u)",
  "echo pid1=$(cat /proc/1/comm) host=$(hostname)",
  // The unified hierarchy's line ("0::…"); a hybrid host lists its v1 ones too.
  "echo cgroup=$(grep '^0::' /proc/self/cgroup | cut -d: -f3)",
  'echo imds=$(curl -s -o /tmp/token.json -w "%{http_code}" -H Metadata:true "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fmanagement.azure.com%2F&client_id=$CLIENT_ID")',
  'echo token=$(grep -c "\\"access_token\\":\\"ey" /tmp/token.json)',
  'echo arm=$(curl -s -o /dev/null -w "%{http_code}" "https://management.azure.com/subscriptions?api-version=2022-12-01")',
  'echo args="$*" secret=$(printf %s "$SECRET" | wc -c)',
  "rm -f /tmp/token.json",
].join("\n");

describe("a managed run command inside a real guest", () => {
  it("runs as root in the guest's own namespaces and azure-vmextensions.slice, and reaches IMDS and ARM", async () => {
    await compute24.virtualMachineRunCommands.createOrUpdate(
      vm.resourceGroup,
      "rc-guest",
      "where",
      {
        location: azure.location,
        source: { script: WHERE_AM_I },
        parameters: [
          { name: "CLIENT_ID", value: String(vm.userIdentity?.clientId) },
          { name: "", value: "one" },
        ],
        protectedParameters: [
          { name: "SECRET", value: "guest-secret" },
          { name: "", value: "two" },
        ],
      },
      POLL,
    );
    const read = await compute24.virtualMachineRunCommands.getByVirtualMachine(vm.resourceGroup, "rc-guest", "where", {
      expand: "instanceView",
    });
    expect(read.instanceView).toMatchObject({ executionState: "Succeeded", exitCode: 0, error: "" });
    const lines = Object.fromEntries(
      String(read.instanceView?.output)
        .trim()
        .split("\n")
        .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
    );
    expect(lines).toMatchObject({
      user: "root uid=0",
      pid1: "systemd host=rc-guest",
      imds: "200",
      token: "1",
      // ARM answers (401 without a token), over TLS the guest's trust store accepts.
      arm: "401",
      args: "one two secret=12",
    });
    expect(lines.cgroup).toMatch(
      /^\/azure\.slice\/azure-vmextensions\.slice\/azure-run-command-[0-9a-f]{12}\.service$/,
    );
    // The script and its folder are the guest's, root-only, where the handler keeps them.
    const folder = await compute25.virtualMachines.beginRunCommandAndWait(
      vm.resourceGroup,
      "rc-guest",
      {
        commandId: "RunShellScript",
        script: [
          "stat -c '%a %U %n' /var/lib/waagent/run-command-handler/download/where/0 /var/lib/waagent/run-command-handler/download/where/0/script.sh",
          "ls /var/lib/waagent/run-command-handler/download/where/0",
        ],
      },
      POLL,
    );
    expect(folder.value?.[0].message).toBe(
      "Enable succeeded: \n[stdout]\n700 root /var/lib/waagent/run-command-handler/download/where/0\n500 root /var/lib/waagent/run-command-handler/download/where/0/script.sh\nscript.sh\n\n[stderr]\n",
    );
  });

  it("reports a failing script's exit code and output in the instance view", async () => {
    await compute25.virtualMachineRunCommands.createOrUpdate(
      vm.resourceGroup,
      "rc-guest",
      "fails",
      { location: azure.location, source: { script: "echo before the failure; echo on stderr >&2; exit 42" } },
      POLL,
    );
    const read = await compute25.virtualMachineRunCommands.getByVirtualMachine(vm.resourceGroup, "rc-guest", "fails", {
      expand: "instanceView",
    });
    expect(read.instanceView).toMatchObject({
      executionState: "Failed",
      executionMessage: "Execution failed: failed to execute command: command terminated with exit status=42",
      exitCode: 42,
      output: "before the failure\n",
      error: "on stderr\n",
    });
    expect(
      (await all(compute25.virtualMachineRunCommands.listByVirtualMachine(vm.resourceGroup, "rc-guest")))
        .map((r) => r.name)
        .sort(),
    ).toEqual(["fails", "where"]);
    await compute25.virtualMachineRunCommands.delete(vm.resourceGroup, "rc-guest", "fails", POLL);
  });

  it("runs as runAsUser through sudo, as the handler does, and kills a script at its timeout", async () => {
    await compute24.virtualMachineRunCommands.createOrUpdate(
      vm.resourceGroup,
      "rc-guest",
      "as-admin",
      {
        location: azure.location,
        source: { script: 'echo "$(id -un) [$NAMED] $1"' },
        parameters: [
          { name: "NAMED", value: "kept" },
          { name: "", value: "arg" },
        ],
        runAsUser: vm.adminUsername,
      },
      POLL,
    );
    const asAdmin = await compute24.virtualMachineRunCommands.getByVirtualMachine(
      vm.resourceGroup,
      "rc-guest",
      "as-admin",
      {
        expand: "instanceView",
      },
    );
    // sudo's env_reset drops the named parameters; the arguments are on its command line.
    expect(asAdmin.instanceView).toMatchObject({
      executionState: "Succeeded",
      output: `${vm.adminUsername} [] arg\n`,
    });
    await compute24.virtualMachineRunCommands.createOrUpdate(
      vm.resourceGroup,
      "rc-guest",
      "slow",
      { location: azure.location, source: { script: "echo started; sleep 600" }, timeoutInSeconds: 1 },
      POLL,
    );
    const slow = await compute24.virtualMachineRunCommands.getByVirtualMachine(vm.resourceGroup, "rc-guest", "slow", {
      expand: "instanceView",
    });
    expect(slow.instanceView).toMatchObject({ executionState: "Failed", exitCode: -1, output: "started\n" });
    const units = await compute24.virtualMachines.beginRunCommandAndWait(
      vm.resourceGroup,
      "rc-guest",
      { commandId: "RunShellScript", script: ["pgrep -x sleep || echo no sleep left"] },
      POLL,
    );
    expect(units.value?.[0].message).toBe("Enable succeeded: \n[stdout]\nno sleep left\n\n[stderr]\n");
  });
});

describe("entering a real guest", () => {
  it("gives what enters it (the guest's own shell, systemd-run's client) no more capabilities than the guest's PID 1 has", () => {
    const leader = vm.guest.leaderPid();
    if (leader === null) throw new Error("no leader");
    const bounding = (status: string) => BigInt(`0x${/^CapBnd:\s*([0-9a-f]+)$/m.exec(status)?.[1]}`);
    const guestPid1 = bounding(readFileSync(`/proc/${leader}/status`, "utf8"));
    const [command, ...args] = inGuest(leader, ["cat", "/proc/self/status"]);
    const entered = spawnSync(command, args, { encoding: "utf8" });
    expect(entered.status).toBe(0);
    expect(bounding(entered.stdout)).toBe(guestPid1);
    // CAP_SYS_MODULE (16) is the host's, never the guest's.
    expect(guestPid1 & (1n << 16n)).toBe(0n);
  });
});

describe("a script stopped inside a real guest", () => {
  it("is stopped at once wherever it got to (0, 10 and 50 ms after it started), and nothing of it runs on", async () => {
    for (const delay of [0, 10, 50]) {
      const running = vm.guest.runScript({
        folder: `/var/lib/waagent/run-command-handler/download/killed/${delay}`,
        script: 'echo "$$" >> /root/killed-pids; sleep 600',
        shell: "/bin/bash",
        env: {},
        args: [],
      });
      // The kill lands before nsenter forked, while the guest's shell writes the files, or once the unit runs.
      if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
      await running.kill();
      expect((await running.result).exitCode).toBe(-1);
    }
    // Whatever started is dead: every script that got to record its PID, and its sleep.
    const check = vm.guest.runScript({
      folder: "/var/lib/waagent/run-command-handler/download/killed/check",
      script: [
        'for pid in $(cat /root/killed-pids 2>/dev/null); do kill -0 "$pid" 2>/dev/null && echo "alive $pid"; done',
        "pgrep -x sleep || echo no sleep left",
      ].join("\n"),
      shell: "/bin/bash",
      env: {},
      args: [],
    });
    const checked = await check.result;
    expect([checked.exitCode, checked.stdout.toString()]).toEqual([0, "no sleep left\n"]);
  });
});

describe("a real guest without a public IP", () => {
  it("boots with no SSH gate, and runs its commands", async () => {
    const own = await seedVm(azure, {
      identity: "user",
      resourceGroup: "private-guest-rg",
      vmName: "private-guest",
      publicIp: false,
    });
    const guest = azure.linuxGuest(own.vmId);
    if (!guest) throw new Error("no real guest");
    await guest.ready;
    prints.push(footprint(guest.id));
    expect(guest.host).toBeNull();
    const result = await compute25.virtualMachines.beginRunCommandAndWait(
      own.resourceGroup,
      "private-guest",
      {
        commandId: "RunShellScript",
        script: [
          'curl -s -o /dev/null -w "%{http_code}" -H Metadata:true "http://169.254.169.254/metadata/instance?api-version=2021-02-01"',
        ],
      },
      POLL,
    );
    expect(result.value?.[0].message).toBe("Enable succeeded: \n[stdout]\n200\n[stderr]\n");
  });

  it("a guest whose NIC loses its public IP loses its SSH gate and nftables table, and still runs commands", async () => {
    const before = vm.guest;
    expect(nftTables()).toContain(`table ip ${redirectTable(before.id)}`);
    const net = `${vm.resourceGroupId}/providers/Microsoft.Network`;
    const nicUrl = `${net}/networkInterfaces/rc-guest-nic?api-version=2024-05-01`;
    const nic = (await azure.arm.request("GET", nicUrl)).body as {
      properties: { ipConfigurations: Array<{ name: string; properties: Record<string, unknown> }> };
    };
    const [config] = nic.properties.ipConfigurations;
    const { publicIPAddress: _dropped, ...kept } = config.properties;
    await azure.arm.putAndWait(nicUrl, {
      location: azure.location,
      properties: { ipConfigurations: [{ name: config.name, properties: kept }] },
    });
    await azure.arm.deleteAndWait(`${net}/publicIPAddresses/rc-guest-ip?api-version=2024-05-01`);
    const after = azure.linuxGuest(vm.vmId);
    if (!after) throw new Error("no real guest");
    prints.push(footprint(after.id));
    expect(after.host).toBeNull();
    expect(after.id).not.toBe(before.id);
    expect(nftTables()).not.toContain(`table ip ${redirectTable(before.id)}`);
    expect(nftTables()).not.toContain(`table ip ${redirectTable(after.id)}`);
    const result = await compute25.virtualMachines.beginRunCommandAndWait(
      vm.resourceGroup,
      "rc-guest",
      { commandId: "RunShellScript", script: ["echo still here"] },
      POLL,
    );
    expect(result.value?.[0].message).toBe("Enable succeeded: \n[stdout]\nstill here\n\n[stderr]\n");
  });
});
