/**
 * Engine tier (npm run test:engine, after npm run engine:build): a throwaway project runs through the
 * built Pulumi CLI, its language host and plugins, on a file:// backend with passphrase secrets:
 * stack init, up, stack output, preview with no changes, destroy, stack rm.
 *
 * Its resources need no cloud: a dynamic provider (served by the bundled pulumi-resource-pulumi-nodejs
 * script) and a resource of a plugin installed with engine/installPlugin.sh (proving the engine finds an
 * installed plugin by name and exact version, as it will the azure-native and tls stand-ins).
 * local.Command is not used: the real command provider's module is not served here, and its stand-in
 * (engine/commandhost) serves remote.Command only, which tests/engine-tier/command.test.ts covers.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compareSemver, lockedVersion } from "../../engine/versions";
import { engineBinDir } from "../../local/engineEnv";
import { throwawayProject } from "./support";

const exec = promisify(execFile);
const root = path.join(__dirname, "..", "..");
const pulumiBin = path.join(engineBinDir(root), "pulumi");
const PASSPHRASE = "engine-tier-throwaway";
const ECHO_VERSION = "0.0.1";

const PROGRAM = `
const pulumi = require("@pulumi/pulumi");

// Served by the bundled pulumi-resource-pulumi-nodejs script.
const greeter = {
  async create(inputs) {
    return { id: "greeting", outs: { said: inputs.word + " from a dynamic provider" } };
  },
};
class Greeting extends pulumi.dynamic.Resource {
  constructor(name, args) {
    super(greeter, name, { said: undefined, ...args });
  }
}

// Served by the installed plugin resource-engine-echo-v${ECHO_VERSION}.
class Echo extends pulumi.CustomResource {
  constructor(name, args, opts) {
    super("engine-echo:index:Echo", name, { echoed: undefined, ...args }, opts);
  }
}

const config = new pulumi.Config();
const greeting = new Greeting("greeting", { word: "hi" });
const echo = new Echo("echo", { message: config.get("message") || "hi" }, { version: config.get("echoVersion") || "${ECHO_VERSION}" });
exports.said = greeting.said;
exports.echoed = echo.echoed;
exports.secretWord = config.requireSecret("secretWord");
`;

describe("engine tier: a throwaway project through the built CLI", () => {
  let tmp: string;
  let project: string;
  let env: NodeJS.ProcessEnv;
  let remove: (() => void) | undefined;

  const pulumi = async (...args: string[]) => {
    try {
      return await exec(pulumiBin, [...args, "--non-interactive"], { cwd: project, env, maxBuffer: 16 << 20 });
    } catch (e) {
      const err = e as Error & { stdout?: string; stderr?: string };
      throw new Error(`pulumi ${args.join(" ")} failed: ${err.message}\n${err.stdout ?? ""}\n${err.stderr ?? ""}`);
    }
  };

  beforeAll(async () => {
    if (!fs.existsSync(pulumiBin)) {
      throw new Error(`${pulumiBin} is missing: run npm run engine:build first`);
    }
    ({ tmp, project, env, remove } = throwawayProject("engine-throwaway", PASSPHRASE, PROGRAM));
    const wrapper = path.join(tmp, "pulumi-resource-engine-echo");
    const provider = path.join(__dirname, "fixtures", "echoProvider.js");
    fs.writeFileSync(wrapper, `#!/bin/sh\nexec node ${JSON.stringify(provider)} "$@"\n`, { mode: 0o755 });
    await exec("bash", [path.join(root, "engine", "installPlugin.sh"), "engine-echo", ECHO_VERSION, wrapper], { env });
  });

  afterAll(() => remove?.());

  it("the CLI is at least the locked @pulumi/pulumi and uses this project's language host", async () => {
    const lock = JSON.parse(fs.readFileSync(path.join(root, "package-lock.json"), "utf8"));
    const { stdout } = await pulumi("version");
    expect(compareSemver(stdout.trim(), lockedVersion(lock, "@pulumi/pulumi"))).toBeGreaterThanOrEqual(0);
    const about = await pulumi("about");
    expect(about.stdout).toContain("languageHost='vm-identity-access engine/langhost'");
  });

  it("stack init, up, stack output, preview without changes, destroy and stack rm", async () => {
    await pulumi("stack", "init", "throwaway");
    await pulumi("config", "set", "--secret", "secretWord", "s3cr3t-w0rd");

    const up = await pulumi("up", "--yes", "--skip-preview");
    expect(up.stdout).toContain("3 created");

    const outputs = JSON.parse((await pulumi("stack", "output", "--json", "--show-secrets")).stdout);
    expect(outputs).toEqual({ said: "hi from a dynamic provider", echoed: "echo: hi", secretWord: "s3cr3t-w0rd" });
    expect((await pulumi("stack", "output", "secretWord")).stdout.trim()).toBe("[secret]");

    // The secret is encrypted in the state, not in clear.
    const exported = (await pulumi("stack", "export")).stdout;
    expect(exported).toContain("engine-echo:index:Echo");
    expect(exported).not.toContain("s3cr3t-w0rd");

    await pulumi("preview", "--expect-no-changes");

    await pulumi("destroy", "--yes");
    expect(JSON.parse((await pulumi("stack", "export")).stdout).deployment.resources ?? []).toEqual([]);
    await pulumi("stack", "rm", "--yes", "throwaway");
    expect((await pulumi("stack", "ls", "--json")).stdout.trim()).toBe("[]");
  });

  it("a plugin version that is not installed is named in the error, not downloaded", async () => {
    await pulumi("stack", "init", "missing-plugin");
    await pulumi("config", "set", "--secret", "secretWord", "x");
    await pulumi("config", "set", "echoVersion", "0.0.9");
    await expect(pulumi("preview")).rejects.toThrow(
      "no resource plugin 'pulumi-resource-engine-echo' found in the workspace at version v0.0.9",
    );
    await pulumi("stack", "rm", "--yes", "missing-plugin");
  });
});
