import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { engineBinDir, engineEnv, enginePulumiHome } from "../../local/engineEnv";

describe("engine environment", () => {
  const env = engineEnv({
    repoRoot: "/repo",
    stateDir: "/repo/.local-azure/state",
    passphrase: "pass",
    basePath: "/usr/local/bin:/usr/bin",
  });

  it("puts .engine/bin first on PATH, once, keeping the rest in order", () => {
    expect(env.PATH).toBe(["/repo/.engine/bin", "/usr/local/bin", "/usr/bin"].join(path.delimiter));
    const again = engineEnv({ repoRoot: "/repo", stateDir: "/s", passphrase: "p", basePath: env.PATH });
    expect(again.PATH).toBe(env.PATH);
    expect(engineEnv({ repoRoot: "/repo", stateDir: "/s", passphrase: "p" }).PATH).toBe("/repo/.engine/bin");
  });

  it("keeps PULUMI_HOME under .engine, never ~/.pulumi, and the backend on the state folder", () => {
    expect(env.PULUMI_HOME).toBe("/repo/.engine/pulumi-home");
    expect(enginePulumiHome("/repo")).toBe(env.PULUMI_HOME);
    expect(engineBinDir("/repo/")).toBe("/repo/.engine/bin");
    expect(env.PULUMI_BACKEND_URL).toBe("file:///repo/.local-azure/state");
    expect(env.PULUMI_CONFIG_PASSPHRASE).toBe("pass");
    expect(engineEnv({ repoRoot: "/r", stateDir: "/s", passphrase: "", pulumiHome: "/h" }).PULUMI_HOME).toBe("/h");
  });

  it("resolves a relative state folder to an absolute file:// URL", () => {
    const rel = engineEnv({ repoRoot: ".", stateDir: "state", passphrase: "p" });
    expect(rel.PULUMI_BACKEND_URL).toBe(`file://${path.resolve("state")}`);
    expect(rel.PATH).toBe(path.resolve(".engine/bin"));
  });

  it("works offline: no update check, no plugin downloads, no registry look-ups, no ambient plugins", () => {
    expect(env).toMatchObject({
      PULUMI_SKIP_UPDATE_CHECK: "true",
      PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
      PULUMI_DISABLE_REGISTRY_RESOLVE: "true",
      PULUMI_IGNORE_AMBIENT_PLUGINS: "true",
    });
  });

  it("refuses to run without a state folder", () => {
    expect(() => engineEnv({ repoRoot: "/r", stateDir: "", passphrase: "p" })).toThrow("stateDir is required");
  });
});
