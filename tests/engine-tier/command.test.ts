/**
 * Engine tier (npm run test:engine, after npm run engine:build): @pulumi/command's remote.Command under
 * the built Pulumi CLI, served by engine/commandhost (the stand-in for the resource-command-v1.2.1
 * plugin, see engine/README.md), against a Local Azure SSH guest whose host key this test chooses.
 *
 * - The pinned host key: `pulumi up` succeeds and the command's stdout is a stack output; the
 *   connection (private key included) is encrypted in the state.
 * - Another pinned key: `pulumi up` fails naming the host key mismatch, nothing is recorded.
 * - A failing command: `pulumi up` fails with the command line and its output; as with the real
 *   provider (pulumi-go-provider v1.3.0 sends a plain error, not an init failure) the state does not
 *   keep the resource, so the next `pulumi up`, after the cause is fixed, creates it again and succeeds
 *   without --replace.
 * - A changed trigger replaces the command (the SDK's replaceOnChanges ["triggers[*]"]).
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { lockedVersion } from "../../engine/versions";
import { engineBinDir } from "../../local/engineEnv";
import { type Guest, startGuest } from "../../local-azure/guest";
import { generatePrivateKey } from "../../local-azure/tlsKeys";
import { throwawayProject } from "./support";

const exec = promisify(execFile);
const root = path.join(__dirname, "..", "..");
const pulumiBin = path.join(engineBinDir(root), "pulumi");
// COMMAND_PROVIDER_BIN runs the same test against another build of the provider (e.g. the real one,
// built where its source is at hand), installed under the same name and version.
const commandBin = process.env.COMMAND_PROVIDER_BIN ?? path.join(engineBinDir(root), "pulumi-resource-command");
const PASSPHRASE = "engine-tier-command";
const ADMIN = "azureuser";

const PROGRAM = `
const pulumi = require("@pulumi/pulumi");
const command = require("@pulumi/command");

const config = new pulumi.Config();
const probe = new command.remote.Command("probe", {
  connection: {
    host: config.require("host"),
    port: config.requireNumber("port"),
    user: "${ADMIN}",
    privateKey: config.requireSecret("privateKey"),
    hostKey: config.require("hostKey"),
    dialErrorLimit: 1,
    perDialTimeout: 10,
  },
  create: config.require("create"),
  stdin: "echo from-stdin\\n",
  triggers: [config.get("trigger") || "t1"],
  addPreviousOutputInEnv: false,
  logging: "stderr",
});
exports.stdout = probe.stdout;
`;

type Result = { stdout: string; stderr: string };

describe("engine tier: remote.Command through the stand-in command provider", () => {
  let tmp: string;
  let project: string;
  let guestDir: string;
  let env: NodeJS.ProcessEnv;
  let remove: (() => void) | undefined;
  let guest: Guest;
  const clientKey = generatePrivateKey("ED25519");
  const hostKey = generatePrivateKey("ED25519");
  const otherHostKey = generatePrivateKey("ED25519");

  const pulumi = async (...args: string[]): Promise<Result> => {
    try {
      // Before a "--", whatever follows it being values.
      const at = args.includes("--") ? args.indexOf("--") : args.length;
      const argv = [...args.slice(0, at), "--non-interactive", ...args.slice(at)];
      return await exec(pulumiBin, argv, { cwd: project, env, maxBuffer: 16 << 20 });
    } catch (e) {
      const err = e as Error & { stdout?: string; stderr?: string };
      throw new Error(`pulumi ${args.join(" ")} failed: ${err.message}\n${err.stdout ?? ""}\n${err.stderr ?? ""}`);
    }
  };
  /** Runs a pulumi command that must fail; returns what it printed. */
  const pulumiFails = async (...args: string[]): Promise<string> => {
    try {
      const out = await exec(pulumiBin, [...args, "--non-interactive"], { cwd: project, env, maxBuffer: 16 << 20 });
      throw new Error(`pulumi ${args.join(" ")} succeeded but should have failed:\n${out.stdout}\n${out.stderr}`);
    } catch (e) {
      const err = e as Error & { stdout?: string; stderr?: string; code?: number };
      if (typeof err.code !== "number") throw e;
      return `${err.stdout ?? ""}\n${err.stderr ?? ""}`;
    }
  };
  const newStack = async (name: string, create: string, pinned: string) => {
    await pulumi("stack", "init", name);
    await pulumi("config", "set", "host", guest.host);
    await pulumi("config", "set", "port", String(guest.port));
    await pulumi("config", "set", "hostKey", pinned);
    await pulumi("config", "set", "create", create);
    // "--" first: the key's first line starts with dashes.
    await pulumi("config", "set", "--secret", "privateKey", "--", clientKey.privateKeyOpenssh);
  };
  const resourcesOf = async () =>
    (JSON.parse((await pulumi("stack", "export")).stdout).deployment.resources ?? []) as {
      type: string;
      id?: string;
    }[];

  beforeAll(async () => {
    for (const bin of [pulumiBin, commandBin]) {
      if (!fs.existsSync(bin)) throw new Error(`${bin} is missing: run npm run engine:build first`);
    }
    ({ tmp, project, env, remove } = throwawayProject("engine-command", PASSPHRASE, PROGRAM));
    guestDir = path.join(tmp, "guest-home");
    // The stand-in, installed in this test's own PULUMI_HOME as the engine looks for @pulumi/command 1.2.1.
    const lock = JSON.parse(fs.readFileSync(path.join(root, "package-lock.json"), "utf8"));
    const version = lockedVersion(lock, "@pulumi/command");
    await exec("bash", [path.join(root, "engine", "installPlugin.sh"), "command", version, commandBin], { env });

    guest = await startGuest({
      host: "127.0.0.1",
      port: 0,
      adminUsername: ADMIN,
      authorizedKeys: [clientKey.publicKeyOpenssh],
      hostKeyPrivate: hostKey.privateKeyOpenssh,
      env: {},
      workDir: guestDir,
    });
    expect(guest.hostPublicKey).toBe(hostKey.publicKeyOpenssh.trim().split(" ").slice(0, 2).join(" "));
  });

  afterAll(async () => {
    await guest?.close();
    remove?.();
  });

  it("the pinned host key: up runs the command (stdin delivered), stdout is an output, the connection is secret in the state; a changed trigger replaces it", async () => {
    await newStack("pinned", "bash -s; echo progress >&2", guest.hostPublicKey);
    const up = await pulumi("up", "--yes", "--skip-preview");
    expect(up.stdout).toContain("2 created");
    expect((await pulumi("stack", "output", "stdout")).stdout.trim()).toBe("from-stdin");

    const exported = (await pulumi("stack", "export")).stdout;
    expect(exported).toContain("command:remote:Command");
    expect(exported).not.toContain("OPENSSH PRIVATE KEY");
    const probe = (await resourcesOf()).find((r) => r.type === "command:remote:Command");
    expect(probe?.id).toMatch(/^probe[0-9a-f]{8}$/);

    await pulumi("preview", "--expect-no-changes");
    await pulumi("config", "set", "trigger", "t2");
    const replaced = await pulumi("up", "--yes", "--skip-preview");
    expect(replaced.stdout).toContain("1 replaced");
    const after = (await resourcesOf()).find((r) => r.type === "command:remote:Command");
    expect(after?.id).not.toBe(probe?.id);

    await pulumi("destroy", "--yes");
    await pulumi("stack", "rm", "--yes", "pinned");
  });

  it("another pinned host key: up fails naming the host key mismatch, after dialErrorLimit + 1 dials", async () => {
    const other = otherHostKey.publicKeyOpenssh.trim().split(" ").slice(0, 2).join(" ");
    await newStack("mismatch", "echo should-not-run", other);
    const out = await pulumiFails("up", "--yes", "--skip-preview");
    expect(out).toContain("after 1 failed attempts: ssh: handshake failed: ssh: host key mismatch");
    expect((await resourcesOf()).some((r) => r.type === "command:remote:Command")).toBe(false);
    await pulumi("stack", "rm", "--yes", "--force", "mismatch");
  });

  it("a failing command: up fails with its output; the next up, once the cause is fixed, runs it again without --replace", async () => {
    const marker = path.join(guestDir, "fixed");
    fs.rmSync(marker, { force: true });
    await newStack(
      "heal",
      `cat >/dev/null; if test -f fixed; then echo healed; else echo not-yet; exit 1; fi`,
      guest.hostPublicKey,
    );

    const first = await pulumiFails("up", "--yes", "--skip-preview");
    expect(first).toContain("Process exited with status 1: running");
    expect(first).toContain("not-yet");
    // As the real provider: a plain error, so the engine records nothing for the command.
    expect((await resourcesOf()).some((r) => r.type === "command:remote:Command")).toBe(false);

    fs.writeFileSync(marker, "");
    const second = await pulumi("up", "--yes", "--skip-preview");
    expect(second.stdout).toContain("1 created");
    expect((await pulumi("stack", "output", "stdout")).stdout.trim()).toBe("healed");

    await pulumi("destroy", "--yes");
    await pulumi("stack", "rm", "--yes", "heal");
  });
});
