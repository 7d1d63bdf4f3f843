import { spawn } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkSettings, planRun } from "../components/accessCheckPlan";
import type { ProbeInvocation } from "../components/probeCommand";
import {
  encodeProbeSettings,
  invocationParameters,
  PREAMBLE_PATH,
  PROBE_RUN_PARAMETER,
  RUN_COMMAND_OUTPUT_LIMIT_BYTES,
  type RunCommandParameter,
  runCommandBody,
  runCommandScript,
  runIdentity,
  triggersDigest,
} from "../components/runCommandPlan";
import { type Faults, LocalAzure, type SeededVm, seedVm } from "../local-azure";
import type { ProbeResultV1 } from "../verify/contract";
import { judgeProbe } from "../verify/judge";
import { HANG_GUARD_MS } from "./support/hangGuard";
import { PROBE_SCRIPT_PATH } from "./support/probeRunner";
import { needsTools } from "./support/systemTools";

/**
 * The run command's script (verify/runCommandPreamble.sh, then verify/probe.sh on its stdin) run for
 * real with bash and curl against Local Azure, as Azure's Linux agent runs it: as a file of root's alone,
 * with the run command's parameters in its environment as the handler puts them there (os.Setenv in its
 * own long-lived process: what a run before set stays, unless this run sets it again).
 * As root it must drop to nobody before the probe's first request; not as root (Local Azure's portable
 * guest) it runs the probe as it is. And the report must fit, with room, in the 4,096 bytes of output
 * Azure keeps.
 */

const asRoot = process.getuid?.() === 0;
const NO_FAULTS: Partial<Faults> = {
  rbacDelaySeconds: 0,
  identityAttachDelaySeconds: 0,
  sshNotReadySeconds: 0,
  armThrottle: { count: 0, retryAfterSeconds: 0 },
  armUnauthorized: { count: 0 },
  imdsBurst: null,
  lroSeconds: 0.01,
};
/** The report's size must leave at least a quarter of what Azure keeps. */
const ROOM = Math.floor(RUN_COMMAND_OUTPUT_LIMIT_BYTES * 0.75);

const script = runCommandScript(readFileSync(PREAMBLE_PATH, "utf8"), readFileSync(PROBE_SCRIPT_PATH, "utf8"));

let azure: LocalAzure;
let granted: SeededVm;
let refused: SeededVm;
/** A VM with both identities: its system check runs after its user check. */
let both: SeededVm;
/** Holds the script (root's alone), a CA bundle anyone may read, and the spies. */
let work: string;
let scriptFile: string;
let caBundle: string;

interface Run {
  exitCode: number | null;
  stdout: string;
  stderr: string;
  /** One line per curl the probe ran: the user it ran as. */
  curlUsers: string[];
}

/** A folder of the tools the probe uses, linked, with a curl that says who runs it first; setpriv only when asked. */
function toolFolder(withSetpriv: boolean): string {
  const dir = mkdtempSync(path.join(work, "tools-"));
  chmodSync(dir, 0o755);
  for (const tool of ["bash", "id", "cat", "awk", "sed", "grep", "head", "tr", "base64", "date", "sleep", "printf"]) {
    const found = ["/usr/bin", "/bin"].map((bin) => path.join(bin, tool)).find((file) => existsSync(file));
    if (found) symlinkSync(found, path.join(dir, tool));
  }
  if (withSetpriv) symlinkSync("/usr/bin/setpriv", path.join(dir, "setpriv"));
  const log = path.join(work, "curl-users.log");
  writeFileSync(log, "", { mode: 0o666 });
  chmodSync(log, 0o666);
  writeFileSync(
    path.join(dir, "curl"),
    `#!/bin/bash\nprintf '%s\\n' "$(id -un)" >> ${log}\nexec /usr/bin/curl "$@"\n`,
    { mode: 0o755 },
  );
  return dir;
}

/** Runs `command` with the probe's settings as environment variables (as the agent does), and nothing else. */
function run(command: string[], env: Record<string, string>, tools: string): Promise<Run> {
  const log = path.join(work, "curl-users.log");
  writeFileSync(log, "");
  return new Promise((resolve, reject) => {
    const child = spawn(command[0], command.slice(1), {
      env: { PATH: tools, CURL_CA_BUNDLE: caBundle, ...env },
      cwd: work,
      stdio: ["pipe", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => out.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => err.push(chunk));
    const killer = setTimeout(() => child.kill("SIGKILL"), HANG_GUARD_MS);
    child.on("error", reject);
    child.on("close", (exitCode) => {
      clearTimeout(killer);
      resolve({
        exitCode,
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
        curlUsers: readFileSync(log, "utf8").split("\n").filter(Boolean),
      });
    });
    child.stdin.end(command.includes("-s") ? script : undefined);
  });
}

/** The run command's parameters for `vm`, as the component sends them (components/runCommandPlan.ts). */
function parametersFor(
  vm: SeededVm,
  options: { identity?: "user" | "system"; expectation?: "granted" | "denied"; deadlineSeconds?: number } = {},
): RunCommandParameter[] {
  const user = (options.identity ?? "user") === "user";
  const identity = user
    ? { type: "UserAssigned", ...(vm.userIdentity as NonNullable<SeededVm["userIdentity"]>) }
    : { type: "SystemAssigned", ...(vm.systemIdentity as NonNullable<SeededVm["systemIdentity"]>) };
  const { id: resourceId, ...named } = identity as typeof identity & { id?: string };
  const settings = checkSettings("check", {
    identity: user ? { ...named, resourceId } : named,
    armEndpoint: azure.armEndpoint,
    deadlineSeconds: options.deadlineSeconds ?? 20,
  });
  const expectation = options.expectation ?? "granted";
  const plan = planRun("check", settings, {
    scope: vm.resourceGroupId,
    expectation,
    arg: expectation === "granted" ? "readableScopes" : "refusedScopes",
    index: 0,
  });
  return runCommandBody(plan, undefined, { probe: script }, triggersDigest([vm.vmId])).parameters;
}

/** The parameters of one invocation as given (a setting no plan would make), PROBE_RUN 1. */
function parametersOf(invocation: ProbeInvocation): RunCommandParameter[] {
  return [...invocationParameters(invocation), { name: PROBE_RUN_PARAMETER, value: "1" }];
}

/**
 * The environment the handler gives a run command's script after `runs` (the last is this one): each
 * named parameter with a value set in its own process, in order, an empty one skipped
 * (run-command-handler-linux internal/exec SetEnvironmentVariables), on top of the VM's own (its IMDS,
 * as Local Azure's portable guest sets it for every process).
 */
function agentEnvironment(vm: SeededVm, ...runs: RunCommandParameter[][]): Record<string, string> {
  const env: Record<string, string> = { AZURE_POD_IDENTITY_AUTHORITY_HOST: vm.imdsEndpoint };
  for (const { name, value } of runs.flat()) if (name !== "" && value !== "") env[name] = value;
  return env;
}

function expected(vm: SeededVm) {
  const identity = vm.userIdentity as NonNullable<SeededVm["userIdentity"]>;
  return {
    principalId: identity.principalId,
    clientId: identity.clientId,
    resourceId: identity.id,
    tenantId: azure.tenantId,
    resourceGroupId: vm.resourceGroupId,
    resource: `${azure.armEndpoint}/`,
  };
}

beforeAll(async () => {
  azure = await LocalAzure.start({ faults: NO_FAULTS });
  granted = await seedVm(azure, { identity: "user", resourceGroup: "rc-granted-rg", vmName: "vm-rc" });
  refused = await seedVm(azure, { identity: "user", grant: false, resourceGroup: "rc-refused-rg", vmName: "vm-rc2" });
  both = await seedVm(azure, { identity: "both", resourceGroup: "rc-both-rg", vmName: "vm-rc3" });
  work = mkdtempSync(path.join(tmpdir(), "run-command-script-"));
  chmodSync(work, 0o755);
  // The agent writes the script where only root reads it.
  scriptFile = path.join(work, "script.sh");
  writeFileSync(scriptFile, script, { mode: 0o700 });
  // Local Azure's CA, readable by the unprivileged probe (a VM's trust store is readable by all).
  mkdirSync(path.join(work, "ca"), { mode: 0o755 });
  caBundle = path.join(work, "ca", "ca.pem");
  writeFileSync(caBundle, readFileSync(azure.caCertPath), { mode: 0o644 });
});

afterAll(async () => {
  await azure?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("the run command's script", () => {
  needsTools("curl");

  it("is the preamble, then the probe verbatim on the preamble's stdin", () => {
    const probe = readFileSync(PROBE_SCRIPT_PATH, "utf8");
    expect(script.startsWith(readFileSync(PREAMBLE_PATH, "utf8").trimEnd())).toBe(true);
    expect(script).toContain(`\nvmia_run_probe <<'VMIA_PROBE_SOURCE'\n${probe}VMIA_PROBE_SOURCE\n`);
    expect(script.endsWith("VMIA_PROBE_SOURCE\n")).toBe(true);
    expect(() => runCommandScript("x", "a\nVMIA_PROBE_SOURCE\nb")).toThrow(/ends its here-document/);
  });

  describe.skipIf(!asRoot)("started as root, as Azure's agent starts it (needs root: skipped otherwise)", () => {
    it("drops to nobody before the probe's first request, says so in the evidence, and verifies access", async () => {
      const result = await run(
        ["bash", scriptFile],
        agentEnvironment(granted, parametersFor(granted)),
        toolFolder(true),
      );
      expect(result.exitCode, result.stderr).toBe(0);
      // Every request of the probe, the first included, was made as nobody.
      expect(result.curlUsers.length).toBeGreaterThanOrEqual(3);
      expect(new Set(result.curlUsers)).toEqual(new Set(["nobody"]));
      expect(result.stdout.endsWith("}\n")).toBe(true);
      expect(result.stdout.trimEnd().split("\n")).toHaveLength(1);
      const report = JSON.parse(result.stdout) as ProbeResultV1 & { runAs: unknown; run: unknown };
      expect(report.runAs).toEqual({ user: "nobody", uid: 65534 });
      // The run it was, as its parameters name it: the program takes only the evidence of the run it sent.
      const parameters = parametersFor(granted);
      expect(report.run).toEqual(runIdentity(parameters));
      expect(report.run).toEqual({
        probeRun: "1",
        triggers: triggersDigest([granted.vmId]),
        settings: expect.any(String),
      });
      expect(report.probeVersion).toBe(1);
      expect(judgeProbe(report, expected(granted), "user", "granted")).toMatchObject({ verified: true });
      // The progress went to stderr, which Azure keeps apart (instanceView.error).
      expect(result.stderr).toContain("probe: arm resourceGroup attempt 1: HTTP 200");
      expect(Buffer.byteLength(result.stdout)).toBeLessThan(ROOM);
    });

    it("proves a refusal the same way, its report as small", async () => {
      const result = await run(
        ["bash", scriptFile],
        agentEnvironment(refused, parametersFor(refused, { expectation: "denied" })),
        toolFolder(true),
      );
      expect(result.exitCode, result.stderr).toBe(0);
      const report = JSON.parse(result.stdout) as ProbeResultV1 & { runAs: unknown };
      expect(report.runAs).toEqual({ user: "nobody", uid: 65534 });
      expect(report.resourceGroup?.status).toBe(403);
      expect(judgeProbe(report, expected(refused), "user", "denied")).toMatchObject({ verified: true });
      expect(Buffer.byteLength(result.stdout)).toBeLessThan(ROOM);
    });

    it("reads a CA bundle in a folder only root may enter, through the descriptor it opened as root", async () => {
      const privateFolder = mkdtempSync(path.join(work, "root-only-"));
      chmodSync(privateFolder, 0o700);
      const privateBundle = path.join(privateFolder, "ca.pem");
      writeFileSync(privateBundle, readFileSync(azure.caCertPath), { mode: 0o644 });
      const result = await run(
        ["bash", scriptFile],
        { ...agentEnvironment(granted, parametersFor(granted)), CURL_CA_BUNDLE: privateBundle },
        toolFolder(true),
      );
      expect(result.exitCode, result.stderr).toBe(0);
      expect(new Set(result.curlUsers)).toEqual(new Set(["nobody"]));
      const report = JSON.parse(result.stdout) as ProbeResultV1 & { runAs: unknown };
      expect(judgeProbe(report, expected(granted), "user", "granted")).toMatchObject({ verified: true });
    });

    it("refuses to run the probe as root where setpriv is missing: exit 3, one line why, no evidence", async () => {
      const result = await run(
        ["bash", scriptFile],
        agentEnvironment(granted, parametersFor(granted)),
        toolFolder(false),
      );
      expect(result.exitCode).toBe(3);
      expect(result.stdout).toBe("");
      expect(result.stderr).toBe(
        "run command: setpriv (util-linux) is not installed: the probe does not run as root\n",
      );
      expect(result.curlUsers).toEqual([]);
    });

    it("runs the probe as it is when not started as root (Local Azure's portable guest), setpriv untouched", async () => {
      const tools = toolFolder(false);
      // A setpriv that would say so if it ran.
      writeFileSync(path.join(tools, "setpriv"), "#!/bin/bash\necho 'setpriv ran' >&2\nexit 99\n", { mode: 0o755 });
      const result = await run(
        ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", "/bin/bash", "-s"],
        agentEnvironment(granted, parametersFor(granted)),
        tools,
      );
      expect(result.exitCode, result.stderr).toBe(0);
      expect(result.stderr).not.toContain("setpriv ran");
      expect(JSON.parse(result.stdout)).toMatchObject({ ok: true, runAs: { user: "nobody", uid: 65534 } });
    });
  });

  describe.skipIf(asRoot)("started by a user other than root (as root, the case above plays it)", () => {
    it("runs the probe as that user, and says so", async () => {
      const result = await run(["bash", "-s"], agentEnvironment(granted, parametersFor(granted)), toolFolder(false));
      expect(result.exitCode, result.stderr).toBe(0);
      const report = JSON.parse(result.stdout) as { ok: boolean; runAs: { uid: number } };
      expect(report.ok).toBe(true);
      expect(report.runAs.uid).toBe(process.getuid?.());
    });
  });

  it("keeps the probe's report and exit status for bad input (exit 2, no request sent)", async () => {
    const invocation: ProbeInvocation = {
      form: "granted",
      settings: {
        armEndpoint: azure.armEndpoint,
        subscriptionId: azure.subscriptionId,
        resourceGroup: granted.resourceGroup,
        deadlineSeconds: 0,
      },
    };
    const result = await run(["bash", "-s"], agentEnvironment(granted, parametersOf(invocation)), toolFolder(true));
    // Bad input: the probe's own JSON (stage input), exit 2, no request.
    expect(result.exitCode).toBe(2);
    expect(JSON.parse(result.stdout)).toMatchObject({ ok: false, error: { stage: "input" } });
    expect(result.curlUsers).toEqual([]);
  });

  it("unpacks PROBE_SETTINGS byte for byte as the program encoded it, and sets nothing it does not name", async () => {
    const values: Array<[string, string]> = [
      ["ARM_ENDPOINT", "https://127.0.0.1:8443/a b"],
      ["RESOURCE_GROUP", "rg(1)&x=y%z'q\"w\\v é"],
      ["PROBE_DEADLINE_SECONDS", "20"],
    ];
    const result = await new Promise<{ stdout: string; code: number | null }>((resolve, reject) => {
      const child = spawn(
        "bash",
        [
          "-c",
          `source ${JSON.stringify(PREAMBLE_PATH)}; vmia_probe_settings || exit $?; printf '%s\\0' "$ARM_ENDPOINT" "$RESOURCE_GROUP" "$PROBE_DEADLINE_SECONDS" "\${MI_CLIENT_ID-unset}" "\${PROBE_RUN-unset}"`,
        ],
        {
          env: {
            PATH: process.env.PATH,
            MI_CLIENT_ID: "left by an earlier run",
            PROBE_RUN: "7",
            PROBE_SETTINGS: encodeProbeSettings(values),
          },
        },
      );
      const out: Buffer[] = [];
      child.stdout.on("data", (chunk: Buffer) => out.push(chunk));
      child.on("error", reject);
      child.on("close", (code) => resolve({ stdout: Buffer.concat(out).toString("utf8"), code }));
    });
    expect(result.code).toBe(0);
    expect(result.stdout.split("\0").slice(0, -1)).toEqual([...values.map(([, value]) => value), "unset", "unset"]);
  });

  it("refuses to start the probe without its settings: exit 3, one line why, no request", async () => {
    const withoutSettings = parametersFor(granted).filter((p) => p.name !== "PROBE_SETTINGS");
    const result = await run(["bash", "-s"], agentEnvironment(granted, withoutSettings), toolFolder(true));
    expect(result.exitCode).toBe(3);
    expect(result.stdout).toBe("");
    expect(result.stderr).toBe(
      "run command: the parameter PROBE_SETTINGS is missing or not NAME=value&NAME=value (values percent-encoded): the probe's settings come only from it\n",
    );
    expect(result.curlUsers).toEqual([]);
  });

  it("refuses to start the probe when its evidence could not name its run: exit 3, no request", async () => {
    const withoutRun = parametersFor(granted).filter((p) => p.name !== PROBE_RUN_PARAMETER);
    const result = await run(["bash", "-s"], agentEnvironment(granted, withoutRun), toolFolder(true));
    expect(result.exitCode).toBe(3);
    expect(result.stdout).toBe("");
    expect(result.stderr).toBe(
      "run command: the parameters PROBE_RUN (a number) and PROBE_TRIGGERS (a digest, or none) are missing or malformed: the evidence could not name its run\n",
    );
    expect(result.curlUsers).toEqual([]);
  });

  describe("whatever a run command before it left in the agent's environment", () => {
    it("checks the system identity after the user one's check: no MI_CLIENT_ID of the user check's reaches the probe", async () => {
      const userRun = parametersFor(both, { identity: "user" });
      const systemRun = parametersFor(both, { identity: "system" });
      const result = await run(["bash", "-s"], agentEnvironment(both, userRun, systemRun), toolFolder(true));
      expect(result.exitCode, result.stderr).toBe(0);
      const report = JSON.parse(result.stdout) as ProbeResultV1;
      expect(report.identity).toEqual({ selector: "system", value: null });
      const system = both.systemIdentity as NonNullable<SeededVm["systemIdentity"]>;
      expect(
        judgeProbe(
          report,
          { ...system, resourceGroupId: both.resourceGroupId, resource: `${azure.armEndpoint}/` },
          "system",
          "granted",
        ),
      ).toMatchObject({ verified: true });
    });

    it("proves access after a refusal's run on the VM: no PROBE_EXPECT=denied of that run makes it wait for a 403", async () => {
      const refusalRun = parametersFor(refused, { expectation: "denied", deadlineSeconds: 3 });
      const grantedRun = parametersFor(granted, { deadlineSeconds: 3 });
      const result = await run(["bash", "-s"], agentEnvironment(granted, refusalRun, grantedRun), toolFolder(true));
      expect(result.exitCode, result.stderr).toBe(0);
      const report = JSON.parse(result.stdout) as ProbeResultV1;
      expect(judgeProbe(report, expected(granted), "user", "granted")).toMatchObject({ verified: true });
    });

    it("selects the identity this run names, not also one an earlier run named another way", async () => {
      const identity = granted.userIdentity as NonNullable<SeededVm["userIdentity"]>;
      const byObjectId = checkSettings("check", {
        identity: {
          type: "UserAssigned",
          principalId: identity.principalId,
          tenantId: identity.tenantId,
          selectBy: "objectId",
        },
        armEndpoint: azure.armEndpoint,
        deadlineSeconds: 20,
      });
      const earlier = parametersOf(
        planRun("check", byObjectId, {
          scope: granted.resourceGroupId,
          expectation: "granted",
          arg: "readableScopes",
          index: 0,
        }).first,
      );
      const result = await run(
        ["bash", "-s"],
        agentEnvironment(granted, earlier, parametersFor(granted)),
        toolFolder(true),
      );
      expect(result.exitCode, result.stderr).toBe(0);
      expect((JSON.parse(result.stdout) as ProbeResultV1).identity).toEqual({
        selector: "client_id",
        value: identity.clientId,
      });
    });
  });
});
