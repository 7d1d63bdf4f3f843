import { execFile, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { shellQuote } from "../../components/probeCommand";
import { runLocalCli } from "../../local/cli";
import { engineMissing } from "../../local/engineBridge";
import { type EnvSource, exportLine, KEPT_FILE, readLiveKept, renderEnv, writeKept } from "../../local/kept";
import { LocalAzure, type SeededVm, seedVm } from "../../local-azure/index";
import { HANG_GUARD_MS } from "../support/hangGuard";
import { skipWithoutTools } from "../support/systemTools";

/** The engine's source has nothing either in a fresh state folder: no CLI built, or no engine stack there. */
const ENGINE_REASON = engineMissing()
  ? "the Pulumi CLI is not built (npm run engine:build)"
  : "no engine stack yet (npm run local -- --engine makes one)";

/**
 * `npm run local -- --keep` for any client: kept.json (exactly the documented fields, mode 600, gone
 * when the kept run stops) and `npm run -s local -- env`, whose lines a shell evals and Microsoft's
 * SDK then uses as is.
 */

const REPO = resolve(__dirname, "../..");
let azure: LocalAzure;
let vm: SeededVm;
const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), "kept-test-"));
  dirs.push(dir);
  return dir;
};

beforeAll(async () => {
  azure = await LocalAzure.start({
    faults: { rbacDelaySeconds: 0, identityAttachDelaySeconds: 0, sshNotReadySeconds: 0, lroSeconds: 0 },
  });
  vm = await seedVm(azure, { identity: "user", resourceGroup: "rg-kept", vmName: "vm-kept" });
});
afterAll(async () => {
  await azure.stop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A pid no process has any more: a child that already exited. */
const deadPid = () => spawnSync(process.execPath, ["-e", ""]).pid as number;

const expectedExports = (dir: string) =>
  [
    `export AZURE_TENANT_ID='${azure.tenantId}'`,
    `export AZURE_CLIENT_ID='${azure.deployer.clientId}'`,
    `export AZURE_CLIENT_SECRET='${azure.deployer.clientSecret}'`,
    `export AZURE_AUTHORITY_HOST='${azure.authorityHost}'`,
    `export AZURE_SUBSCRIPTION_ID='${azure.subscriptionId}'`,
    `export AZURE_RESOURCE_MANAGER_ENDPOINT='${azure.armEndpoint}'`,
    `export NODE_EXTRA_CA_CERTS='${join(dir, "ca.pem")}'`,
    `export SSL_CERT_FILE='${join(dir, "ca-bundle.pem")}'`,
    `export AZURE_CONFIG_DIR='${join(dir, "azure-cli")}'`,
    `export REQUESTS_CA_BUNDLE='${join(dir, "ca-bundle.pem")}'`,
    "export AZURE_CORE_INSTANCE_DISCOVERY='false'",
    "export AZURE_CORE_COLLECT_TELEMETRY='false'",
  ].join("\n");

describe("kept.json", () => {
  it("holds exactly the documented fields, owner-only, with the CA beside it", () => {
    const dir = tempDir();
    const file = writeKept(dir, azure, [vm.vmId]);
    expect(file).toBe(join(dir, KEPT_FILE));
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(file, "utf8"))).toEqual({
      pid: process.pid,
      armEndpoint: azure.armEndpoint,
      authorityHost: azure.authorityHost,
      tenantId: azure.tenantId,
      subscriptionId: azure.subscriptionId,
      caBundle: join(dir, "ca.pem"),
      deployer: { clientId: azure.deployer.clientId, clientSecret: azure.deployer.clientSecret },
      vms: [{ name: "vm-kept", imdsEndpoint: vm.imdsEndpoint, host: vm.publicIp, sshPort: azure.sshPort }],
    });
    expect(readFileSync(join(dir, "ca.pem"), "utf8")).toBe(azure.caCertPem);
  });

  it("is removed when the kept run stops (Ctrl-C); the CA stays for shells that name it", async () => {
    // deployLocal writes kept.json (tests/local-runner/deployLocal.test.ts checks it after a real run);
    // here the CLI's part: the hint, and removal on Ctrl-C, without a second deployment.
    const dir = tempDir();
    const out: string[] = [];
    let keptWhileRunning = false;
    const runningAzure = { ...azure, vmRuntime: () => undefined, stop: async () => undefined };
    const code = await runLocalCli(["--keep", "--state-dir", dir], {
      stdout: (text) => out.push(text),
      stderr: (text) => out.push(text),
      deploy: async () => {
        writeKept(dir, azure, [vm.vmId]);
        return {
          ok: true,
          outputs: {},
          error: null,
          commandStdouts: [],
          timeline: [],
          wallSeconds: 0,
          azure: runningAzure as unknown as LocalAzure,
          verdict: "VERIFIED",
        };
      },
      waitForInterrupt: async () => {
        keptWhileRunning = Object.hasOwn(readLiveKept(dir), "kept");
      },
    });
    expect([code, keptWhileRunning]).toEqual([0, true]);
    expect(out.join("")).toContain(
      'Any Azure SDK client or tool, in another shell: eval "$(npm run -s local -- env)"\n',
    );
    expect(existsSync(join(dir, KEPT_FILE))).toBe(false);
    expect(existsSync(join(dir, "ca.pem"))).toBe(true);
  });
});

describe("npm run -s local -- env", () => {
  it("prints export lines for the Azure SDK, each value single-quoted", async () => {
    const dir = tempDir();
    writeKept(dir, azure, [vm.vmId]);
    expect(renderEnv(dir)).toEqual({ stdout: `${expectedExports(dir)}\n`, stderr: "", code: 0 });
    const out: string[] = [];
    const err: string[] = [];
    const code = await runLocalCli(["--state-dir", dir, "env"], {
      stdout: (text) => out.push(text),
      stderr: (text) => err.push(text),
    });
    expect([code, out.join(""), err.join("")]).toEqual([0, `${expectedExports(dir)}\n`, ""]);
  });

  it("quotes any value safely for eval", () => {
    expect(shellQuote(`it's $HOME "x" \`id\``)).toBe(`'it'\\''s $HOME "x" \`id\`'`);
    // As eval "$(npm run -s local -- env)" meets it: the substitution's text is not expanded again.
    const line = `export V=${shellQuote("a'b $HOME\n`id`")}`;
    const echoed = spawnSync("bash", ["-c", 'eval "$LINE"; printf %s "$V"'], { env: { ...process.env, LINE: line } });
    expect(echoed.stdout.toString()).toBe("a'b $HOME\n`id`");
  });

  it("puts a prepended folder in front of the evaluating shell's own PATH, quoted, whatever that PATH holds", () => {
    const line = exportLine("PATH", { prepend: "/x y/.engine/bin" });
    expect(line).toBe(`export PATH='/x y/.engine/bin'"\${PATH:+:$PATH}"`);
    // stdin is not a socket (Node's default pipe is one): Debian's bash then reads ~/.bashrc, as under sshd.
    const evaluated = (path: string) =>
      spawnSync("/bin/bash", ["-c", 'eval "$LINE"; printf %s "$PATH"'], {
        env: { LINE: line, PATH: path },
        stdio: ["ignore", "pipe", "pipe"],
      }).stdout.toString();
    expect(evaluated("/usr/bin:/bin")).toBe("/x y/.engine/bin:/usr/bin:/bin");
    expect(evaluated("")).toBe("/x y/.engine/bin");
  });

  it("says in one line that nothing is kept, and how to start it, when there is no kept.json (exit 1)", async () => {
    const dir = tempDir();
    const err: string[] = [];
    const code = await runLocalCli(["--state-dir", dir, "env"], {
      stdout: () => undefined,
      stderr: (t) => err.push(t),
    });
    expect(code).toBe(1);
    // One line: each source's reason (the engine's too: engine not built, or no engine stack here).
    expect(err.join("")).toBe(
      `nothing to print: no Local Azure is running (no ${join(dir, KEPT_FILE)}); start it with \`npm run local -- start\`; ${ENGINE_REASON}\n`,
    );
  });

  it("treats a kept.json whose process is gone as nothing kept (exit 1)", () => {
    const dir = tempDir();
    const pid = deadPid();
    writeKept(dir, azure, [vm.vmId], pid);
    expect(renderEnv(dir)).toEqual({
      stdout: "",
      stderr: `nothing to print: no Local Azure is running (${join(dir, KEPT_FILE)} names process ${pid}, which is no longer running); start it with \`npm run local -- start\`; ${ENGINE_REASON}\n`,
      code: 1,
    });
  });

  it("treats a kept.json that is not a kept record as nothing kept", () => {
    const dir = tempDir();
    writeFileSync(join(dir, KEPT_FILE), JSON.stringify({ pid: process.pid }));
    const lookup = readLiveKept(dir);
    expect(lookup).toEqual({
      none: `no Local Azure is running (${join(dir, KEPT_FILE)} is not a kept record: armEndpoint Required); start it with \`npm run local -- start\``,
    });
  });

  it("renders from a list of sources: another source adds its lines, and with nothing anywhere says why", () => {
    const dir = tempDir();
    writeKept(dir, azure, [vm.vmId]);
    const engine: EnvSource = { name: "engine", variables: () => ({ variables: [["HOME_OF_X", "/x/$HOME"]] }) };
    const idle: EnvSource = { name: "idle", variables: () => ({ none: "the engine is not built" }) };
    expect(renderEnv(dir, [engine]).stdout).toBe("export HOME_OF_X='/x/$HOME'\n");
    expect(renderEnv(tempDir(), [idle, idle])).toEqual({
      stdout: "",
      stderr: "nothing to print: the engine is not built; the engine is not built\n",
      code: 1,
    });
  });

  it("is eval'd by bash, and Microsoft's SDK (Node) and Python's ssl then use the kept Local Azure as is", async (context) => {
    skipWithoutTools(context, "python3");
    const dir = tempDir();
    writeKept(dir, azure, [vm.vmId]);
    // Node reads NODE_EXTRA_CA_CERTS at start, so the client runs in a fresh process.
    // The example of docs/local-azure.md ("Use Local Azure from any client"), exactly as printed there.
    const page = readFileSync(join(REPO, "docs", "local-azure.md"), "utf8");
    const section = page.slice(page.indexOf("## Use Local Azure from any client"));
    const node = /```js\n([\s\S]*?)```/.exec(section)?.[1] ?? "";
    expect(node).toContain("new EnvironmentCredential({ disableInstanceDiscovery: true })");
    const python = [
      "import os, urllib.request",
      "url = os.environ['AZURE_AUTHORITY_HOST'] + '/' + os.environ['AZURE_TENANT_ID'] + '/v2.0/.well-known/openid-configuration'",
      "print('discovery', urllib.request.urlopen(url).status)",
    ].join("\n");
    const script = `set -e
eval "$(npm run -s local -- --state-dir "$KEPT_DIR" env)"
node --input-type=module -e "$NODE_SCRIPT"
python3 -c "$PY_SCRIPT"`;
    const { AZURE_CLIENT_SECRET: _s, NODE_EXTRA_CA_CERTS: _n, SSL_CERT_FILE: _c, ...env } = process.env;
    const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>((done) => {
      execFile(
        "bash",
        ["-c", script],
        { cwd: REPO, env: { ...env, KEPT_DIR: dir, NODE_SCRIPT: node, PY_SCRIPT: python }, timeout: HANG_GUARD_MS },
        (error, stdout, stderr) =>
          done({ code: error ? ((error as { code?: number }).code ?? -1) : 0, stdout, stderr }),
      );
    });
    expect(result).toEqual({ code: 0, stdout: "rg-kept\ndiscovery 200\n", stderr: "" });
  });
});
