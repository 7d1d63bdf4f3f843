import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { commandLine, launcherScript, OutputTail, tailText } from "../../local-azure/guestScript";
import {
  inGuest,
  installerScript,
  runInGuest,
  STOP_IN_GUEST,
  userInGuest,
} from "../../local-azure/linuxGuest/runScript";
import {
  actionArguments,
  actionResultMessage,
  executionFailed,
  instanceViewTime,
  invocationOf,
} from "../../local-azure/vm/runCommandHandler";
import { type RunCommandBody, runCommandView, sameSettings } from "../../local-azure/vm/runCommandRecord";
import { running } from "./runCommandSupport";

/** The pure parts of running a command as Azure's Linux agents run one, called directly. */

const scratch = mkdtempSync(join(tmpdir(), "run-command-handler-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe("the handler's parameters (exec.go SetEnvironmentVariables)", () => {
  it("makes named ones environment variables and unnamed ones arguments, public then protected, skipping empty values and unusable names", () => {
    expect(
      invocationOf(
        [{ name: "A", value: "1" }, { value: "first" }, { name: "EMPTY", value: "" }, { name: "BAD=NAME", value: "x" }],
        [{ name: "SECRET", value: "s" }, { value: "second" }, { name: "A", value: "overridden" }],
      ),
    ).toEqual({ env: { A: "overridden", SECRET: "s" }, args: ["first", "second"] });
    expect(invocationOf()).toEqual({ env: {}, args: [] });
  });

  it("joins arguments to the command line unquoted, as the handler does", () => {
    expect(commandLine("/d/script.sh", ["a b", "c"])).toBe("/d/script.sh a b c");
  });

  it("gives the action every value as an argument, in order, whatever its name", () => {
    expect(actionArguments([{ name: "arg1", value: "x" }, { name: "NAME", value: "y" }, { value: "" }])).toEqual([
      "x",
      "y",
    ]);
  });

  it("words a failure and the action's result as the handlers do", () => {
    expect(executionFailed(-1)).toBe(
      "Execution failed: failed to execute command: command terminated with exit status=-1",
    );
    expect(actionResultMessage(Buffer.from("out\n"), Buffer.from(""))).toBe(
      "Enable succeeded: \n[stdout]\nout\n\n[stderr]\n",
    );
    expect(instanceViewTime(Date.UTC(2026, 11, 7, 19, 6, 34, 567))).toBe("2026-12-07T19:06:34+00:00");
  });
});

describe("output tails (maxTailLen = 4 * 1024)", () => {
  it("keeps the last 4,096 bytes however they arrive", () => {
    const tail = new OutputTail();
    for (let i = 0; i < 100; i++) tail.write(Buffer.from(`${String(i).padStart(3, "0")}:${"x".repeat(196)}\n`));
    const bytes = tail.bytes();
    expect(bytes.length).toBe(4096);
    expect(bytes.toString().endsWith(`099:${"x".repeat(196)}\n`)).toBe(true);
  });

  it("turns a UTF-8 character cut at the edge into U+FFFD", () => {
    const text = `é${"a".repeat(4095)}`;
    expect(tailText(Buffer.from(text))).toBe(`\ufffd${"a".repeat(4095)}`);
  });
});

describe("the launcher a real guest's systemd runs", () => {
  it("removes itself, then runs the script with the parameters as the handler does (values with quotes and newlines intact)", () => {
    const folder = join(scratch, "launch");
    execFileSync("mkdir", ["-p", folder]);
    writeFileSync(join(folder, "script.sh"), 'printf "[%s][%s][%s][%s]\\n" "$ODD" "$1" "$2" "$#"\n', { mode: 0o700 });
    const launcher = join(folder, "launch.sh");
    writeFileSync(
      launcher,
      launcherScript({ folder, shell: "/bin/bash", env: { ODD: 'it\'s "quoted"\nand $HOME' }, args: ["a b"] }),
    );
    const run = spawnSync("/bin/bash", [launcher], { encoding: "utf8", env: { PATH: process.env.PATH } });
    expect(run.stdout).toBe(`[it's "quoted"\nand $HOME][a][b][2]\n`);
    expect(existsSync(launcher)).toBe(false);
  });

  it("quotes runAsUser on the command line it hands to sudo: a name is one argument, never shell code", () => {
    const folder = join(scratch, "runas");
    const runAsFolder = join(scratch, "runas-home");
    const tools = join(scratch, "tools");
    execFileSync("mkdir", ["-p", folder, tools]);
    writeFileSync(join(folder, "script.sh"), "echo script ran\n", { mode: 0o700 });
    // Stand-ins for chown and sudo: sudo prints the arguments it got, one per line, and runs nothing.
    writeFileSync(join(tools, "chown"), "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    writeFileSync(join(tools, "sudo"), '#!/bin/sh\nfor a in "$@"; do echo "arg:$a"; done\n', { mode: 0o755 });
    const user = "nobody; echo INJECTED";
    const launcher = join(folder, "launch.sh");
    writeFileSync(
      launcher,
      launcherScript({ folder, shell: "/bin/bash", env: {}, args: [], runAsUser: user, runAsFolder }),
    );
    const run = spawnSync("/bin/bash", [launcher], {
      encoding: "utf8",
      env: { PATH: `${tools}:${process.env.PATH}` },
    });
    expect(run.stdout).toBe(`arg:-u\narg:${user}\narg:${runAsFolder}/script.sh\n`);
  });

  it("finds a runAsUser by name only, as the handler's user.Lookup does: a numeric UID getent resolves is no user", async () => {
    // Stand-in for getent in the guest: what `getent passwd 0` and `getent passwd root` both print.
    const getent = () => spawn("/bin/sh", ["-c", "echo 'root:x:0:0:root:/root:/bin/bash'"], { stdio: "pipe" });
    expect(await userInGuest(getent, 4242, "root")).toBe(true);
    expect(await userInGuest(getent, 4242, "0")).toBe(false);
    const missing = () => spawn("/bin/sh", ["-c", "exit 2"], { stdio: "pipe" });
    expect(await userInGuest(missing, 4242, "ghost")).toBe(false);
  });

  it("keeps the values off the host's command line: nsenter's arguments hold none, the installer only base64", () => {
    const job = {
      folder: "/var/lib/waagent/run-command-handler/download/probe/0",
      script: "echo hi",
      shell: "/bin/bash" as const,
      env: { TOKEN_SECRET: "plain-secret-value" },
      args: ["positional-secret"],
    };
    expect(inGuest(4242, ["/bin/sh", "-s"])).toEqual([
      "setpriv",
      "--bounding-set=-all,+audit_control,+audit_write,+chown,+dac_override,+dac_read_search,+fowner,+fsetid,+ipc_owner,+kill,+lease,+linux_immutable,+mknod,+net_bind_service,+net_broadcast,+net_raw,+setfcap,+setgid,+setpcap,+setuid,+sys_admin,+sys_boot,+sys_chroot,+sys_nice,+sys_ptrace,+sys_resource,+sys_tty_config",
      "nsenter",
      "-t",
      "4242",
      "-a",
      "env",
      "-i",
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      "/bin/sh",
      "-s",
    ]);
    const installer = installerScript(job, "azure-run-command-0123456789ab");
    expect(installer).not.toContain("plain-secret-value");
    expect(installer).not.toContain("positional-secret");
    expect(installer).toContain(
      "exec systemd-run --wait --pipe --collect --quiet --slice=azure-vmextensions.slice --unit=azure-run-command-0123456789ab --working-directory='/var/lib/waagent/run-command-handler/download/probe/0' /bin/bash '/var/lib/waagent/run-command-handler/download/probe/0'/launch.sh < /dev/null",
    );
  });
});

describe("stopping a run in a real guest (runInGuest's kill, its guest stood in for by local processes)", () => {
  it("kills the host side as a process group, even a child that outlives its parent (as nsenter's does), stops the unit in the guest, and never waits for the output pipe", async () => {
    const pidFile = join(scratch, "forked.pid");
    const started: string[][] = [];
    // The first start stands for nsenter: a parent whose forked child keeps stdout open and survives
    // the parent's SIGKILL. Every later one (the stop in the guest) exits at once.
    const start = (argv: string[]) => {
      started.push(argv);
      const script = started.length === 1 ? `sleep 600 & echo "$!" > '${pidFile}'; wait` : "exit 0";
      return spawn("/bin/sh", ["-c", script], { detached: true, stdio: ["pipe", "pipe", "pipe"] });
    };
    const job = {
      folder: "/var/lib/waagent/run-command-handler/download/stopped/0",
      script: "sleep 600",
      shell: "/bin/bash" as const,
      env: {},
      args: [],
    };
    const script = runInGuest(start, 4242, job);
    while (!existsSync(pidFile) || readFileSync(pidFile, "utf8").trim() === "")
      await new Promise((resolve) => setTimeout(resolve, 10));
    const forked = Number(readFileSync(pidFile, "utf8"));
    // Before, kill() signalled the parent alone and then waited for the output pipe its child held: 600 s.
    await script.kill();
    expect((await script.result).exitCode).toBe(-1);
    while (running(forked)) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(started).toHaveLength(2);
    const entering = inGuest(4242, []);
    expect(started[1].slice(0, entering.length)).toEqual(entering);
    expect(started[1].slice(entering.length)).toEqual([
      "/bin/sh",
      "-c",
      STOP_IN_GUEST,
      "stop",
      `${job.folder}/launch.sh`,
      expect.stringMatching(/^azure-run-command-[0-9a-f]{12}\.service$/),
    ]);
  });
});

describe("a run command's record", () => {
  const record = (properties: Partial<RunCommandBody["properties"]>): RunCommandBody => ({
    name: "rc",
    id: "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/v/runCommands/rc",
    type: "Microsoft.Compute/virtualMachines/runCommands",
    location: "eastus",
    properties: {
      source: { script: "true" },
      asyncExecution: false,
      timeoutInSeconds: 0,
      treatFailureAsDeploymentFailure: false,
      provisioningState: "Succeeded",
      instanceView: { executionState: "Succeeded", executionMessage: "", exitCode: 0, output: "", error: "" },
      ...properties,
    },
    execution: { sequence: 0 },
  });

  it("runs again only for changed settings: a protected parameter or a password counts, the outcome does not", () => {
    const base = record({ protectedParameters: [{ name: "S", value: "1" }] });
    expect(
      sameSettings(
        base.properties,
        record({ protectedParameters: [{ name: "S", value: "1" }], provisioningState: "Failed" }).properties,
      ),
    ).toBe(true);
    expect(sameSettings(base.properties, record({ protectedParameters: [{ name: "S", value: "2" }] }).properties)).toBe(
      false,
    );
    expect(
      sameSettings(
        base.properties,
        record({ protectedParameters: [{ name: "S", value: "1" }], runAsPassword: "p" }).properties,
      ),
    ).toBe(false);
    expect(sameSettings(record({ parameters: [] }).properties, record({}).properties)).toBe(true);
  });

  it("never shows protected parameters or runAsPassword, and the instance view only when asked", () => {
    const body = record({ protectedParameters: [{ name: "S", value: "1" }], runAsPassword: "p" });
    const plain = runCommandView(body, false);
    expect(JSON.stringify(plain)).not.toMatch(/protectedParameters|runAsPassword|instanceView|execution"/);
    expect((runCommandView(body, true).properties as Record<string, unknown>).instanceView).toEqual(
      body.properties.instanceView,
    );
  });
});
