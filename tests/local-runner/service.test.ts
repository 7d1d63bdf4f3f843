import { execFile, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, watch, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runLocalCli, serviceTarget } from "../../local/cli";
import { deployerArm } from "../../local/deploy";
import { KEPT_FILE, processAlive, readLiveKept, renderEnv, writeKept } from "../../local/kept";
import {
  type RunningService,
  runningService,
  SERVICE_GUESTS_FILE,
  SERVICE_LOG_FILE,
  SERVICE_PID_FILE,
  serviceStatus,
  startService,
} from "../../local/service";
import { readState } from "../../local/state";

/**
 * `npm run local -- start | status | stop`: Local Azure as a background service, as a user starts it
 * (through npm, from a shell that then exits), and `npm run local` and `destroy` using it.
 */

const REPO = resolve(__dirname, "../..");
const run = promisify(execFile);
const stateDir = mkdtempSync(join(tmpdir(), "service-test-"));

/** `npm run -s local -- --state-dir <dir> ARGS` in a shell of its own, as typed; its exit code and output. */
async function npmLocal(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return run("bash", ["-c", 'exec npm run -s local -- --state-dir "$STATE" "$@"', "npm-local", ...args], {
    cwd: REPO,
    env: { ...process.env, STATE: stateDir },
    timeout: 120_000,
  }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code?: number; stdout?: string; stderr?: string }) => ({
      code: error.code ?? -1,
      stdout: error.stdout ?? "",
      stderr: error.stderr ?? "",
    }),
  );
}

function cli(argv: string[]) {
  let stdout = "";
  let stderr = "";
  const code = runLocalCli(["--state-dir", stateDir, ...argv], {
    stdout: (text) => {
      stdout += text;
    },
    stderr: (text) => {
      stderr += text;
    },
  });
  return code.then((exit) => ({ code: exit, stdout, stderr }));
}

let service: RunningService;

/** The service's log once it holds a line matching `line` (watched: it is written as requests are answered). */
function logWith(line: RegExp): Promise<string> {
  const file = join(stateDir, SERVICE_LOG_FILE);
  return new Promise((found) => {
    const check = () => {
      const log = readFileSync(file, "utf8");
      if (!line.test(log)) return false;
      watcher.close();
      found(log);
      return true;
    };
    const watcher = watch(file, () => void check());
    check();
  });
}

beforeAll(async () => {
  const started = await npmLocal("start");
  expect(started.stderr).toBe("");
  expect(started.code).toBe(0);
  service = runningService(stateDir) as RunningService;
}, 120_000);

afterAll(async () => {
  // Whatever a test left: the service must not outlive the suite.
  await cli(["stop"]);
  rmSync(stateDir, { recursive: true, force: true });
}, 60_000);

describe("npm run local -- start", () => {
  it("runs Local Azure in a process of its own session that outlives the shell that started it", () => {
    expect(service).not.toBeNull();
    // The shell and npm that ran `start` have exited; the service has not.
    expect(processAlive(service.pid)).toBe(true);
    const session = spawnSync("ps", ["-o", "sid=", "-p", String(service.pid)])
      .stdout.toString()
      .trim();
    expect(Number(session)).toBe(service.pid);
    // Its identity, so that stop signals this process and no other (tests/local-runner/serviceIdentity.test.ts).
    expect(JSON.parse(readFileSync(join(stateDir, SERVICE_PID_FILE), "utf8"))).toMatchObject({ pid: service.pid });
    expect(service.kept.pid).toBe(service.pid);
    expect(statSync(join(stateDir, KEPT_FILE)).mode & 0o777).toBe(0o600);
    // Its VMs' guests: portable, the default (start --guest linux boots real ones).
    expect(readFileSync(join(stateDir, SERVICE_GUESTS_FILE), "utf8")).toBe("portable\n");
    expect(service.guests).toBe("portable");
  });

  it("a second start says it is running, and changes nothing", async () => {
    const again = await cli(["start"]);
    expect(again).toEqual({
      code: 0,
      stdout: `Local Azure is already running (pid ${service.pid}, ARM ${service.kept.armEndpoint}).\n`,
      stderr: "",
    });
  });

  it("takes the fault flags, and refuses the deployment's flags with what it takes", async () => {
    // A fault flag is one start takes (here the service runs already, so it only says so).
    expect((await cli(["start", "--revocation-delay", "20"])).code).toBe(0);
    const refused = await cli(["start", "--identity", "system", "--no-grant"]);
    expect(refused).toEqual({
      code: 2,
      stdout: "",
      stderr:
        "error: start takes only the fault flags (--rbac-delay, --revocation-delay, --identity-attach-delay, --ssh-not-ready, --imds-burst, --arm-throttle, --arm-unauthorized), --guest and --state-dir; not --identity, --no-grant\n",
    });
  });
});

describe("npm run local -- start while another process keeps a Local Azure", () => {
  it("refuses: that process's cloud is the one the service would load", async () => {
    const busy = mkdtempSync(join(tmpdir(), "service-busy-"));
    try {
      // What `npm run local -- --keep` or a running `--engine` leaves: a live kept.json of another process.
      writeKept(
        busy,
        { ...serviceTarget(service), ...service.kept, caCertPem: service.caCertPem, vmRuntime: () => undefined },
        [],
        process.pid,
      );
      await expect(startService(busy)).rejects.toThrow(
        `process ${process.pid} keeps a Local Azure in ${busy} (npm run local -- --keep or --engine): stop it first (Ctrl-C), then npm run local -- start`,
      );
      expect(existsSync(join(busy, SERVICE_PID_FILE))).toBe(false);
    } finally {
      rmSync(busy, { recursive: true, force: true });
    }
  });
});

describe("npm run local -- status", () => {
  it("exits 0 while it runs and says where each part listens", async () => {
    const status = await cli(["status"]);
    expect(status.code).toBe(0);
    expect(status.stdout).toBe(
      [
        `Local Azure is running (pid ${service.pid}).`,
        `  ARM           ${service.kept.armEndpoint}`,
        `  Entra         ${service.kept.authorityHost}  tenant ${service.kept.tenantId}`,
        `  subscription  ${service.kept.subscriptionId}`,
        `  CA            ${join(stateDir, "ca.pem")}`,
        `  log           ${join(stateDir, SERVICE_LOG_FILE)}`,
        'Any client, in any shell: eval "$(npm run -s local -- env)"; stop it with npm run local -- stop.',
        "",
      ].join("\n"),
    );
  });
});

describe("the service for any client", () => {
  it("env prints the Azure SDK's and the Azure CLI's variables for it", () => {
    const env = renderEnv(stateDir).stdout;
    expect(env).toContain(`export AZURE_RESOURCE_MANAGER_ENDPOINT='${service.kept.armEndpoint}'\n`);
    expect(env).toContain(
      [
        `export AZURE_CONFIG_DIR='${join(stateDir, "azure-cli")}'`,
        `export REQUESTS_CA_BUNDLE='${join(stateDir, "ca-bundle.pem")}'`,
        "export AZURE_CORE_INSTANCE_DISCOVERY='false'",
        "export AZURE_CORE_COLLECT_TELEMETRY='false'",
      ].join("\n"),
    );
  });

  it("logs every request it answers (server, method, path, status), never a token", async () => {
    const arm = deployerArm(serviceTarget(service));
    await arm.request("GET", `/subscriptions/${service.kept.subscriptionId}/resourcegroups?api-version=2021-04-01`);
    // The service writes the line once it has answered: the client may have its answer a moment before.
    const log = await logWith(
      new RegExp(
        `\\n\\S+Z arm GET /subscriptions/${service.kept.subscriptionId}/resourcegroups\\?api-version=2021-04-01 200\\n`,
      ),
    );
    expect(log).toMatch(new RegExp(`\\n\\S+Z entra POST /${service.kept.tenantId}/oauth2/v2.0/token 200\\n`));
    expect(log).not.toContain("eyJ");
    expect(log).not.toContain(service.deployer.clientSecret);
  });
});

// The next two suites run at the same time ({ concurrent: true } on each): `status` in an empty state
// folder shares nothing with the running service, and its npm start-up need not wait for the deploys.
// The deploys stay in order (it.sequential): each goes on from the stack the one before it left.
describe("npm run local -- status, where no service runs", { concurrent: true }, () => {
  it.sequential("exits 3 when it does not run, saying why and the command that starts it", async () => {
    const empty = mkdtempSync(join(tmpdir(), "service-none-"));
    try {
      const status = await run(
        "bash",
        ["-c", 'npm run -s local -- --state-dir "$1" status; echo "exit $?"', "s", empty],
        {
          cwd: REPO,
        },
      );
      expect(status.stdout).toBe(
        `Local Azure is not running (no ${join(empty, SERVICE_PID_FILE)}); start it with npm run local -- start\nexit 3\n`,
      );
      // A pid file whose process is gone (SIGKILL, a reboot) is not a running service.
      const dead = spawnSync(process.execPath, ["-e", ""]).pid as number;
      writeFileSync(join(empty, SERVICE_PID_FILE), `${dead}\n`);
      expect(serviceStatus(empty)).toEqual({
        stopped: `Local Azure is not running (${join(empty, SERVICE_PID_FILE)} names process ${dead}, which is gone)`,
      });
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});

describe("npm run local into the running service", { concurrent: true }, () => {
  it.sequential("deploys into it, lists the VMs in kept.json, and a smaller second run deletes what left the program", async () => {
    const first = await cli(["--vm-count", "2"]);
    expect(first.stderr).toBe("");
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(
      `Into the Local Azure service (pid ${service.pid}, ARM ${service.kept.armEndpoint}).\n`,
    );
    const firstState = readState(stateDir);
    const vmIds = Object.values(firstState?.resources ?? {})
      .filter((entry) => entry.type === "azure-native:compute:VirtualMachine")
      .map((entry) => entry.id);
    expect(vmIds).toHaveLength(2);
    const kept = readLiveKept(stateDir);
    expect("kept" in kept && kept.kept.vms.map((vm) => vm.name).sort()).toEqual(
      vmIds.map((id) => id.split("/").pop()).sort(),
    );

    const second = await cli([]);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain("Deleting what the previous run created and this one did not:\n");
    const arm = deployerArm(serviceTarget(service));
    const secondVm = vmIds.find((id) => /\/vmia-vm1[0-9a-f]+$/.test(id));
    const gone = await arm.request("GET", `${secondVm}?api-version=2024-11-01`);
    expect(gone.status).toBe(404);
    const afterKept = readLiveKept(stateDir);
    expect("kept" in afterKept && afterKept.kept.vms).toHaveLength(1);
    expect(firstState?.armEndpoint).toBe(service.kept.armEndpoint);
  }, 180_000);

  it.sequential("--keep prints the tutorial's commands against it and returns: the service keeps running", async () => {
    const kept = await cli(["--keep"]);
    expect(kept.code).toBe(0);
    expect(kept.stdout).toContain(
      `\nThe Local Azure service (pid ${service.pid}) keeps running: any client, in any shell, after eval "$(npm run -s local -- env)"; npm run local -- stop stops it.\n`,
    );
    expect(kept.stdout).toMatch(
      /The tutorial's check by hand, against vmia-vm0[0-9a-f]+'s IMDS and Local Azure's ARM:/,
    );
  }, 120_000);

  it.sequential("refuses fault flags: they set a Local Azure's faults when it starts", async () => {
    const refused = await cli(["--rbac-delay", "5"]);
    expect(refused).toEqual({
      code: 2,
      stdout: "",
      stderr: `error: the Local Azure service (pid ${service.pid}) runs with the faults it was started with; fault flags apply to a Local Azure that starts: stop it (npm run local -- stop), then run this again, or start it with them (npm run local -- start --rbac-delay 45)\n`,
    });
  });

  it.sequential("destroy deletes the stack through it; the service runs on", async () => {
    const resourceGroupId = readState(stateDir)?.resources["azure-native:resources:ResourceGroup::vmia-rg"]?.id;
    expect(resourceGroupId).toMatch(/\/resourceGroups\/vmia-rg/);
    const destroyed = await cli(["destroy"]);
    expect(destroyed.stdout).toContain(
      "Deleted every resource of the stack through the Local Azure service, dependents first; cleared the local state.\n",
    );
    const arm = deployerArm(serviceTarget(service));
    expect((await arm.request("GET", `${resourceGroupId}?api-version=2021-04-01`)).status).toBe(404);
    expect(runningService(stateDir)?.pid).toBe(service.pid);
  }, 120_000);
});

describe("npm run local -- stop", () => {
  it("stops it: kept.json, the pid and guests files go, the cloud stays for the next start", async () => {
    const stopped = await cli(["stop"]);
    expect(stopped).toEqual({
      code: 0,
      stdout: `Local Azure stopped; its cloud stays in ${join(stateDir, "cloud")} for the next start (npm run local -- destroy empties it).\n`,
      stderr: "",
    });
    expect(processAlive(service.pid)).toBe(false);
    expect(existsSync(join(stateDir, KEPT_FILE))).toBe(false);
    expect(existsSync(join(stateDir, SERVICE_PID_FILE))).toBe(false);
    expect(existsSync(join(stateDir, SERVICE_GUESTS_FILE))).toBe(false);
    expect(existsSync(join(stateDir, "cloud", "cloud.json"))).toBe(true);
    expect(await cli(["stop"])).toEqual({ code: 0, stdout: "Local Azure is not running.\n", stderr: "" });
    expect((await cli(["status"])).code).toBe(3);
  }, 60_000);

  it("a new start comes back on the same endpoints (the kept cloud)", async () => {
    const started = await cli(["start"]);
    expect(started.code).toBe(0);
    const again = runningService(stateDir);
    expect(again?.kept.armEndpoint).toBe(service.kept.armEndpoint);
    expect(again?.kept.authorityHost).toBe(service.kept.authorityHost);
    expect(again?.pid).not.toBe(service.pid);
  }, 60_000);
});
