import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type CliIo, deployOptionsFromFlags, runLocalCli, tutorialCurlCommands } from "../../local/cli";
import type { LocalRunOptions, LocalRunResult } from "../../local/deploy";
import { outputsJson, outputsTable } from "../../local/outputFormat";
import type { RunningService } from "../../local/service";
import { verdictLine } from "../../local/verdict";

const FIXTURE_STATE = join(__dirname, "fixtures", "state");

async function cli(
  argv: string[],
  deploy?: (opts: LocalRunOptions) => Promise<LocalRunResult>,
  checks: Pick<CliIo, "engineMissing" | "realGuestsMissing" | "findService"> = {},
) {
  let stdout = "";
  let stderr = "";
  const calls: LocalRunOptions[] = [];
  const code = await runLocalCli(argv, {
    ...checks,
    stdout: (text) => {
      stdout += text;
    },
    stderr: (text) => {
      stderr += text;
    },
    deploy: async (opts) => {
      calls.push(opts);
      if (!deploy) throw new Error("no deploy expected");
      return deploy(opts);
    },
  });
  return { code, stdout, stderr, calls };
}

function fakeResult(overrides: Partial<LocalRunResult>): LocalRunResult {
  return {
    ok: true,
    outputs: { resourceGroupName: "rg1", sshPrivateKey: "[secret]" },
    error: null,
    commandStdouts: [],
    timeline: [],
    wallSeconds: 2.5,
    azure: null,
    verdict: "VERIFIED: 1 of 1 check(s) proved access for identity user on 1 VM",
    ...overrides,
  };
}

describe("npm run local: bad flags exit 2 with a message naming the flag and what is allowed", () => {
  const cases: Array<[string[], string]> = [
    [
      ["--identity", "admin"],
      "error: option '--identity <kind>' argument 'admin' is invalid. Allowed choices are user, system, both.",
    ],
    [["--vm-count", "11"], "error: option '--vm-count <n>' argument '11' is invalid. allowed: an integer from 1 to 10"],
    [
      ["--vm-count", "two"],
      "error: option '--vm-count <n>' argument 'two' is invalid. allowed: an integer from 1 to 10",
    ],
    [
      ["--timeout", "5"],
      "error: option '--timeout <seconds>' argument '5' is invalid. allowed: an integer number of seconds from 30 to 3600",
    ],
    [
      ["--rbac-delay", "-1"],
      "error: option '--rbac-delay <seconds>' argument '-1' is invalid. allowed: a number of seconds from 0 to 3600, such as 2 or 0.5",
    ],
    [
      ["--imds-burst", "418:2"],
      "error: option '--imds-burst <status:count>' argument '418:2' is invalid. allowed: STATUS:COUNT with STATUS one of 404, 410, 429, 500, 503 (e.g. 503:3)",
    ],
    [
      ["--arm-throttle", "x"],
      "error: option '--arm-throttle <count[:retryAfter]>' argument 'x' is invalid. allowed: COUNT[:RETRY_AFTER_SECONDS] (e.g. 3 or 3:1)",
    ],
    [
      ["--arm-unauthorized", "0"],
      "error: option '--arm-unauthorized <count>' argument '0' is invalid. allowed: an integer count from 1 to 1000",
    ],
    [["--bogus"], "error: unknown option '--bogus'"],
    [
      ["--guest", "windows"],
      "error: option '--guest <kind>' argument 'windows' is invalid. Allowed choices are portable, linux.",
    ],
    [
      ["--check-via", "rdp"],
      "error: option '--check-via <transport>' argument 'rdp' is invalid. Allowed choices are ssh, runCommand.",
    ],
    [
      ["--revocation-delay", "-1"],
      "error: option '--revocation-delay <seconds>' argument '-1' is invalid. allowed: a number of seconds from 0 to 3600, such as 2 or 0.5",
    ],
  ];
  for (const [argv, message] of cases) {
    it(argv.join(" "), async () => {
      const run = await cli(argv);
      expect(run.code).toBe(2);
      expect(run.stderr.trim()).toBe(message);
      expect(run.stderr).not.toMatch(/\n\s+at /);
      expect(run.calls).toEqual([]);
    });
  }
});

describe("npm run local: flags -> deployLocal options", () => {
  it("passes identity, count, grant, timeout and every fault", async () => {
    const run = await cli(
      [
        "--identity",
        "both",
        "--vm-count",
        "3",
        "--no-grant",
        "--timeout",
        "60",
        "--rbac-delay",
        "1.5",
        "--revocation-delay",
        "20",
        "--identity-attach-delay",
        "0.5",
        "--ssh-not-ready",
        "2",
        "--imds-burst",
        "503:3",
        "--arm-throttle",
        "2:1",
        "--arm-unauthorized",
        "1",
      ],
      async () => fakeResult({}),
    );
    expect(run.code).toBe(0);
    const { onProgress, onMark, stateDir, ...options } = run.calls[0];
    expect(typeof onProgress).toBe("function");
    expect(typeof onMark).toBe("function");
    expect(options).toEqual({
      identity: "both",
      vmCount: 3,
      grantAccess: false,
      accessCheckTimeoutSeconds: 60,
      faults: {
        rbacDelaySeconds: 1.5,
        revocationDelaySeconds: 20,
        identityAttachDelaySeconds: 0.5,
        sshNotReadySeconds: 2,
        imdsBurst: { status: 503, count: 3 },
        armThrottle: { count: 2, retryAfterSeconds: 1 },
        armUnauthorized: { count: 1 },
      },
    });
  });

  it("defaults: grant on, no faults, no identity override", () => {
    expect(deployOptionsFromFlags({ grant: true })).toEqual({ grantAccess: true });
  });

  it("--check-via asks the program for a transport; without it the program's default (ssh) stands", () => {
    expect(deployOptionsFromFlags({ grant: true, checkVia: "runCommand" })).toEqual({
      grantAccess: true,
      accessCheckVia: "runCommand",
    });
    expect(deployOptionsFromFlags({ grant: true, checkVia: "ssh" })).toEqual({
      grantAccess: true,
      accessCheckVia: "ssh",
    });
  });

  it("--guest linux asks for real guests; the portable guest is the default and adds nothing", () => {
    expect(deployOptionsFromFlags({ grant: true, guest: "linux" })).toEqual({ grantAccess: true, guest: "linux" });
    expect(deployOptionsFromFlags({ grant: true, guest: "portable" })).toEqual({ grantAccess: true });
  });

  it("prints progress, the outputs table and one verdict line; exit 0 only when verified", async () => {
    const ok = await cli([], async (opts) => {
      opts.onProgress?.("  + azure-native:network:PublicIPAddress  vmia-ip0  0.41s");
      return fakeResult({});
    });
    expect(ok.code).toBe(0);
    expect(ok.stdout).toBe(
      [
        "Deploying vm-identity-access to Local Azure (offline)...",
        "  + azure-native:network:PublicIPAddress  vmia-ip0  0.41s",
        "",
        "Current stack outputs (2):",
        "    OUTPUT             VALUE",
        "    resourceGroupName  rg1",
        "    sshPrivateKey      [secret]",
        "",
        "VERIFIED: 1 of 1 check(s) proved access for identity user on 1 VM",
        "(2.50 s)",
        "",
      ].join("\n"),
    );
    const failed = await cli([], async () =>
      fakeResult({
        ok: false,
        error: "The access check did not verify",
        verdict: "NOT VERIFIED: The access check did not verify",
      }),
    );
    expect(failed.code).toBe(1);
    expect(failed.stderr).toBe("error: The access check did not verify\n");
    expect(failed.stdout).toContain("\nNOT VERIFIED: The access check did not verify\n");
  });
});

describe("npm run local -- output", () => {
  it("prints the table like pulumi stack output, secrets as [secret]", async () => {
    const run = await cli(["--state-dir", FIXTURE_STATE, "output"]);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(
      [
        "Current stack outputs (6):",
        "    OUTPUT             VALUE",
        '    accessCheck        {"verified":true,"expectation":"granted","results":[{"vm":"vmia-vm0a1b2c3d4","identity":"user","verified":true}]}',
        "    identity           null",
        "    resourceGroupId    /subscriptions/00000000-0000-4000-8000-000000000001/resourceGroups/vmia-rg1a2b3c4d",
        "    resourceGroupName  vmia-rg1a2b3c4d",
        "    sshPrivateKey      [secret]",
        '    vms                [{"name":"vmia-vm0a1b2c3d4","publicIp":"127.77.0.2","sshCommand":"ssh -i vm-key -p 2222 azureuser@127.77.0.2"}]',
        "",
      ].join("\n"),
    );
  });

  it("--json prints every output as one JSON object; NAME prints one value", async () => {
    const json = await cli(["--state-dir", FIXTURE_STATE, "output", "--json"]);
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.stdout);
    expect(Object.keys(parsed)).toEqual([
      "accessCheck",
      "identity",
      "resourceGroupId",
      "resourceGroupName",
      "sshPrivateKey",
      "vms",
    ]);
    expect(parsed.sshPrivateKey).toBe("[secret]");

    const one = await cli(["--state-dir", FIXTURE_STATE, "output", "resourceGroupName"]);
    expect(one).toMatchObject({ code: 0, stdout: "vmia-rg1a2b3c4d\n" });
    const secret = await cli(["--state-dir", FIXTURE_STATE, "output", "sshPrivateKey"]);
    expect(secret.stdout).toBe("[secret]\n");
    const oneJson = await cli(["--state-dir", FIXTURE_STATE, "output", "vms", "--json"]);
    expect(JSON.parse(oneJson.stdout)).toEqual([
      { name: "vmia-vm0a1b2c3d4", publicIp: "127.77.0.2", sshCommand: "ssh -i vm-key -p 2222 azureuser@127.77.0.2" },
    ]);
  });

  it("an unknown output name exits 2 naming the outputs that exist; no state exits 1", async () => {
    const unknown = await cli(["--state-dir", FIXTURE_STATE, "output", "nope"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe(
      "error: current stack does not have output property 'nope' (outputs: accessCheck, identity, resourceGroupId, resourceGroupName, sshPrivateKey, vms)\n",
    );
    const missing = join(__dirname, "fixtures", "no-such-state");
    const none = await cli(["--state-dir", missing, "output"]);
    expect(none.code).toBe(1);
    expect(none.stderr).toBe(`error: no local stack outputs in ${missing}: run npm run local first\n`);
  });

  it("formats an empty stack and sorts keys in --json", () => {
    expect(outputsTable({})).toBe("Current stack outputs (0):\n    No output values currently in this stack\n");
    expect(outputsJson({ b: 1, a: "x" })).toBe('{\n  "a": "x",\n  "b": 1\n}\n');
  });
});

describe("--keep: the tutorial's curl commands", () => {
  it("points the IMDS token request and the ARM read at Local Azure, the token as a placeholder", () => {
    expect(
      tutorialCurlCommands({
        imdsEndpoint: "http://127.78.0.2:40001",
        armEndpoint: "https://127.0.0.1:40000",
        caCertPath: "/tmp/la/ca.pem",
        subscriptionId: "sub",
        resourceGroup: "rg",
        clientId: "client-1",
      }),
    ).toEqual([
      "curl -H Metadata:true 'http://127.78.0.2:40001/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2F127.0.0.1%3A40000%2F&client_id=client-1'",
      "curl --cacert '/tmp/la/ca.pem' 'https://127.0.0.1:40000/subscriptions/sub/resourceGroups/rg?api-version=2016-09-01' -H 'Authorization: Bearer <ACCESS_TOKEN>'",
    ]);
  });
});

describe("the verdict line", () => {
  const check = {
    verified: false,
    expectation: "granted",
    results: [
      { vm: "vm0", verified: true },
      { vm: "vm0", verified: false },
      { vm: "vm1", verified: true },
    ],
  };
  it("counts checks and VMs, and names denial for the negative control", () => {
    expect(verdictLine({ ok: true, accessCheck: { ...check, verified: true }, error: null, identity: "both" })).toBe(
      "VERIFIED: 2 of 3 check(s) proved access for identity both on 2 VMs",
    );
    expect(
      verdictLine({
        ok: true,
        accessCheck: { verified: true, expectation: "denied", results: [{ vm: "vm0", verified: true }] },
        error: null,
        identity: "user",
      }),
    ).toBe("VERIFIED: 1 of 1 check(s) proved denial for identity user on 1 VM");
  });
  it("NOT VERIFIED names the first failure, also when the error is a list", () => {
    expect(
      verdictLine({
        ok: false,
        accessCheck: check,
        error:
          "The access check did not verify the expected access (granted):\n- vm0 (user): token audience is wrong\n- more",
        identity: "user",
      }),
    ).toBe(
      "NOT VERIFIED: 2 of 3 check(s) proved access for identity user on 2 VMs: The access check did not verify the expected access (granted): vm0 (user): token audience is wrong",
    );
    expect(verdictLine({ ok: false, accessCheck: null, error: "bad setting\nmore", identity: "user" })).toBe(
      "NOT VERIFIED: bad setting",
    );
  });

  it("NOT VERIFIED YET, in one line, when the update only removes the grant and the next one proves the denial", () => {
    const detail =
      "the grant on /subscriptions/s/resourceGroups/rg is removed at the end of this update, after the check: run pulumi up again to prove the denial";
    const pending = {
      verified: false,
      expectation: "denied",
      results: [{ vm: "vm0", verified: false, checks: [{ name: "revocation-pending", ok: false, detail }] }],
    };
    expect(verdictLine({ ok: false, accessCheck: pending, error: null, identity: "user" })).toBe(
      `NOT VERIFIED YET: ${detail}`,
    );
  });

  it("NOT VERIFIED gives a failed probe command's own error, not its command line", () => {
    const probe = {
      probeVersion: 1,
      ok: false,
      error: {
        stage: "arm",
        status: 403,
        code: "AuthorizationFailed",
        message: "The client 'c1' … over scope '/subscriptions/s/resourceGroups/rg'",
      },
    };
    const error = `command:remote:Command vmia-check-0-user: Process exited with status 1: running "ARM_ENDPOINT='https://127.0.0.1:1' bash -s":\n${JSON.stringify(probe)}\nprobe: arm 403, retrying\n`;
    expect(verdictLine({ ok: false, accessCheck: null, error, identity: "user" })).toBe(
      "NOT VERIFIED: vmia-check-0-user: the probe exited 1: arm 403 AuthorizationFailed: The client 'c1' … over scope '/subscriptions/s/resourceGroups/rg'",
    );
    const noJson =
      'command:remote:Command vmia-check-0-user: Process exited with status 2: running "bash -s":\nusage\n';
    expect(verdictLine({ ok: false, accessCheck: null, error: noJson, identity: "user" })).toBe(
      "NOT VERIFIED: vmia-check-0-user: the probe exited 2 without its JSON evidence",
    );
  });
});

describe("npm run local --keep", () => {
  it("prints the tutorial's curl commands for the kept Local Azure, waits for Ctrl-C, then stops it", async () => {
    const stateDir = FIXTURE_STATE;
    let stopped = 0;
    const kept = {
      armEndpoint: "https://127.0.0.1:40000",
      caCertPath: "/tmp/la/ca.pem",
      subscriptionId: "00000000-0000-4000-8000-000000000001",
      vmRuntime: (id: string) =>
        id.endsWith("/virtualMachines/vmia-vm0a1b2c3d4")
          ? { imdsEndpoint: "http://127.78.0.2:40001", publicIp: "127.77.0.2", guest: null }
          : undefined,
      stop: async () => {
        stopped++;
      },
    };
    let stdout = "";
    let interrupted = false;
    const code = await runLocalCli(["--keep", "--state-dir", stateDir], {
      stdout: (text) => {
        stdout += text;
      },
      stderr: () => undefined,
      deploy: async (opts) => {
        expect(opts.keep).toBe(true);
        return fakeResult({
          outputs: { resourceGroupName: "vmia-rg1a2b3c4d", identity: { clientId: "client-1" } },
          azure: kept as unknown as LocalRunResult["azure"],
        });
      },
      waitForInterrupt: async () => {
        expect(stopped).toBe(0);
        interrupted = true;
      },
    });
    expect(code).toBe(0);
    expect(interrupted).toBe(true);
    expect(stopped).toBe(1);
    expect(stdout).toContain(
      "  curl -H Metadata:true 'http://127.78.0.2:40001/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2F127.0.0.1%3A40000%2F&client_id=client-1'\n",
    );
    expect(stdout).toContain(
      "  curl --cacert '/tmp/la/ca.pem' 'https://127.0.0.1:40000/subscriptions/00000000-0000-4000-8000-000000000001/resourceGroups/vmia-rg1a2b3c4d?api-version=2016-09-01' -H 'Authorization: Bearer <ACCESS_TOKEN>'\n",
    );
    expect(stdout).toContain("press Ctrl-C to stop it");
  });
});

describe("npm run local -- --guest linux", () => {
  const run = (argv: string[], missing: string | null) =>
    cli(argv, async () => fakeResult({}), { realGuestsMissing: () => missing, engineMissing: () => null });

  it("where this machine cannot run real guests: why, in one line, exit 2, nothing deployed", async () => {
    const why = "--guest linux needs root (it makes namespaces, mounts and cgroups, and binds port 22); run it as root";
    for (const argv of [
      ["--guest", "linux"],
      ["--guest", "linux", "--engine"],
    ]) {
      const result = await run(argv, why);
      expect(result).toEqual({ code: 2, stdout: "", stderr: `error: ${why}\n`, calls: [] });
    }
  });

  it("where it can: deploys with guest linux, with the engine too", async () => {
    const result = await run(["--guest", "linux", "--vm-count", "3"], null);
    expect(result.code).toBe(0);
    expect(result.calls.map(({ guest, vmCount }) => ({ guest, vmCount }))).toEqual([{ guest: "linux", vmCount: 3 }]);
  });

  it("refuses a running Local Azure service whose VMs have portable guests: exit 2, saying how", async () => {
    const service = { pid: 4242, guests: "portable" } as RunningService;
    const result = await cli(["--guest", "linux"], async () => fakeResult({}), {
      realGuestsMissing: () => null,
      findService: () => service,
    });
    expect(result).toEqual({
      code: 2,
      stdout: "",
      stderr:
        "error: the Local Azure service (pid 4242) runs portable guests: stop it (npm run local -- stop), then npm run local -- start --guest linux for real guests (--guest linux)\n",
      calls: [],
    });
  });

  it("into a service started with --guest linux, a run deploys for real guests with or without the flag", async () => {
    const service = { pid: 4242, guests: "linux", kept: { armEndpoint: "https://127.0.0.1:1" } } as RunningService;
    for (const argv of [[], ["--guest", "linux"]]) {
      const result = await cli(argv, async () => fakeResult({}), {
        realGuestsMissing: () => null,
        findService: () => service,
      });
      expect(result.code).toBe(0);
      expect(result.calls.map(({ guest, service: target }) => ({ guest, into: target?.armEndpoint }))).toEqual([
        { guest: "linux", into: "https://127.0.0.1:1" },
      ]);
    }
    const portable = await cli(["--guest", "portable"], async () => fakeResult({}), { findService: () => service });
    expect(portable).toEqual({
      code: 2,
      stdout: "",
      stderr:
        "error: the Local Azure service (pid 4242) runs real guests (--guest linux): stop it (npm run local -- stop), then npm run local -- start for portable guests\n",
      calls: [],
    });
  });

  it("start --guest linux where this machine cannot run real guests: why, in one line, exit 2, nothing started", async () => {
    const why = "--guest linux needs Linux (systemd-nspawn containers); this is darwin";
    const result = await cli(["--state-dir", "/nonexistent/state", "start", "--guest", "linux"], undefined, {
      realGuestsMissing: () => why,
    });
    expect(result).toEqual({ code: 2, stdout: "", stderr: `error: ${why}\n`, calls: [] });
  });

  it("the portable default never asks whether real guests could run", async () => {
    const result = await run([], "must not be asked");
    expect(result.code).toBe(0);
    expect(result.calls[0].guest).toBeUndefined();
  });
});
