import { mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { renderHostKeyCloudConfig } from "../../components/cloudInit";
import { hostKeysFromCustomData } from "../../local-azure/cloudInit";
import { generatePrivateKey } from "../../local-azure/tlsKeys";
import { type Registration, runProgram } from "../support/programMocks";
import { needsTools, requireTool } from "../support/systemTools";
import { runTool } from "./support/ssh";

/**
 * The program's customData as Debian's cloud-init (22.4 on bookworm) reads it, with cloud-init's
 * own code rather than this project's reading of its documentation:
 * - `cloud-init schema --config-file` (the validator cloud-init ships) accepts the cloud-config;
 * - cloud-init's user-data processing and its cc_ssh module, run against a sandboxed /etc/ssh
 *   (support/cloudInitHostKeys.py), install exactly one host key, and OpenSSH's `ssh-keygen -y`
 *   derives from that private key the very line the program pins in connection.hostKey;
 * - Local Azure's guest presents the private key cloud-init would install.
 * Not covered offline: a real Ubuntu boot, where cloud-init must run before sshd starts.
 */

let work: string;
let cloudInit: string;
let sshKeygen: string;
/** cloud-init's own interpreter (its script's #! line), so its modules import as installed. */
let python: string[];

const toolsInstalled = needsTools("cloud-init", "ssh-keygen");

beforeAll(() => {
  if (!toolsInstalled) return;
  cloudInit = requireTool("cloud-init");
  sshKeygen = requireTool("ssh-keygen");
  const shebang = readFileSync(cloudInit, "utf8").split("\n")[0];
  if (!shebang.startsWith("#!")) throw new Error(`${cloudInit} is not a script with a #! line: "${shebang}"`);
  python = shebang.slice(2).trim().split(/\s+/);
  work = realpathSync(mkdtempSync(join(tmpdir(), "cloud-init-conformance-")));
});
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

let fileCount = 0;
function writeWorkFile(name: string, text: string, mode = 0o644): string {
  fileCount += 1;
  const path = join(work, `${fileCount}-${name}`);
  writeFileSync(path, text, { mode });
  return path;
}

/** The program's host key and customData, as components/vm.ts builds them from its tls.PrivateKey. */
function programHostKey() {
  const key = generatePrivateKey("ED25519");
  const customData = Buffer.from(
    renderHostKeyCloudConfig({ privateKey: key.privateKeyOpenssh, publicKey: key.publicKeyOpenssh }),
  ).toString("base64");
  // vm.ts: hostPublicKey = publicKeyOpenssh trimmed; index.ts hands it to connection.hostKey.
  return { customData, pinnedHostKey: key.publicKeyOpenssh.trim() };
}

interface CloudInitHostKeys {
  cloudConfigKeys: string[];
  files: Record<string, { mode: string; content: string }>;
  published: Array<[string, string]>;
  credentialSteps: number;
  warnings: string[];
}

/** Runs cloud-init's own user-data processing and cc_ssh on customData in a fresh sandbox. */
async function cloudInitHostKeys(customData: string): Promise<{ result: CloudInitHostKeys; etcSsh: string }> {
  const sandbox = mkdtempSync(join(work, "sandbox-"));
  const [interpreter, ...interpreterArgs] = python;
  const run = await runTool(
    interpreter,
    [...interpreterArgs, join(__dirname, "support", "cloudInitHostKeys.py"), sandbox],
    { stdin: customData, env: { ...process.env, PYTHONDONTWRITEBYTECODE: "1" } },
  );
  if (run.code !== 0 || run.stderr !== "") {
    throw new Error(`cloud-init's cc_ssh run failed (exit ${run.code}):\n${run.stderr}`);
  }
  return { result: JSON.parse(run.stdout) as CloudInitHostKeys, etcSsh: join(sandbox, "etc", "ssh") };
}

describe("cloud-init's validator", () => {
  it("accepts the cloud-config the program renders into customData", async () => {
    const { customData } = programHostKey();
    const file = writeWorkFile("user-data", Buffer.from(customData, "base64").toString("utf8"));
    expect(await runTool(cloudInit, ["schema", "--config-file", file])).toEqual({
      code: 0,
      stdout: `Valid cloud-config: ${file}\n`,
      stderr: "",
    });
  });

  it.each([
    ["ssh_keys as a list", "#cloud-config\nssh_keys: [1]\n", "ssh_keys: [1] is not of type 'object'"],
    [
      "a host key that is not a string",
      "#cloud-config\nssh_keys:\n  ed25519_private: 1\n",
      "ssh_keys.ed25519_private: 1 is not of type 'string'",
    ],
  ])("rejects %s, so the check above can fail", async (_name, text, error) => {
    // cloud-init 22.4 does not flag unknown top-level keys (a typo such as `ssh_key:` validates), so
    // the negatives are type errors; tests/local-azure/guest.test.ts pins the exact keys rendered.
    const result = await runTool(cloudInit, ["schema", "--config-file", writeWorkFile("broken", text)]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`Cloud config schema errors: ${error}`);
  });
});

describe("cloud-init's cc_ssh module on the program's customData", () => {
  // One VM's customData and what cloud-init makes of it, shared by the first two tests.
  const program = programHostKey();
  let installed: Awaited<ReturnType<typeof cloudInitHostKeys>>;
  beforeAll(async () => {
    if (!toolsInstalled) return;
    installed = await cloudInitHostKeys(program.customData);
  });

  it("installs exactly the pinned ed25519 host key, deleting the image's keys, and publishes only it", async () => {
    const { pinnedHostKey } = program;
    const { result, etcSsh } = installed;
    expect(result.cloudConfigKeys).toEqual(["ssh_deletekeys", "ssh_genkeytypes", "ssh_keys"]);
    expect(Object.keys(result.files)).toEqual(["ssh_host_ed25519_key", "ssh_host_ed25519_key.pub"]);
    expect(result.files.ssh_host_ed25519_key.mode).toBe("600");
    expect(result.files["ssh_host_ed25519_key.pub"].content).toBe(pinnedHostKey);
    expect(result.published).toEqual([pinnedHostKey.split(" ")]);
    // The step after host keys still ran (recorded, not applied), and nothing failed on the way.
    expect(result.credentialSteps).toBe(1);
    expect(result.warnings).toEqual([]);

    // OpenSSH derives the public half from the private key cloud-init wrote (sshd serves that one).
    const derived = await runTool(sshKeygen, ["-y", "-f", join(etcSsh, "ssh_host_ed25519_key")]);
    expect(derived.code).toBe(0);
    expect(derived.stdout.trim()).toBe(pinnedHostKey);
  });

  it("installs the private key that Local Azure's guest presents", () => {
    expect(hostKeysFromCustomData(program.customData).ed25519Private).toBe(
      installed.result.files.ssh_host_ed25519_key.content,
    );
  });

  it("pins, in the program itself, the key cloud-init installs from that VM's customData", async () => {
    // The whole program under mocks: the VM's customData and the remote command's connection.hostKey
    // as index.ts wires them (the mocks' tls keys are placeholders, so the match is on the text).
    const run = await runProgram({ sshAllowedCidr: "198.51.100.7/32" }, { resetModules: () => vi.resetModules() });
    const ofType = (type: string): Registration[] => run.registrations.filter((r) => r.type === type);
    const [vmRegistration] = ofType("azure-native:compute:VirtualMachine");
    const [command] = ofType("command:remote:Command");
    const customData = (vmRegistration.inputs.osProfile as { customData: string }).customData;
    const hostKey = (command.inputs.connection as { hostKey: string }).hostKey;
    const { result } = await cloudInitHostKeys(customData);
    expect(hostKey).toMatch(/^ssh-ed25519 \S+$/);
    expect(result.files["ssh_host_ed25519_key.pub"].content).toBe(hostKey);
    expect(result.published).toEqual([hostKey.split(" ")]);
  });
});
