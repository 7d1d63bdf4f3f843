import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { pluginDirName, pluginExecutableName } from "../../engine/versions";

const run = promisify(execFile);
const script = path.join(__dirname, "..", "..", "engine", "installPlugin.sh");

describe("engine/installPlugin.sh lays a plugin out where the engine looks", () => {
  let tmp: string;
  let home: string;
  const install = (...args: string[]) => run("bash", [script, ...args], { env: { ...process.env, PULUMI_HOME: home } });

  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "install-plugin-"));
    home = path.join(tmp, "home");
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it("copies an executable in as plugins/resource-NAME-vVERSION/pulumi-resource-NAME, mode 755, no .partial left", async () => {
    const exe = path.join(tmp, "standin.sh");
    fs.writeFileSync(exe, "#!/bin/sh\necho v1\n", { mode: 0o755 });
    const { stdout } = await install("azure-native", "v3.28.0", exe);
    const dir = path.join(home, "plugins", pluginDirName("resource", "azure-native", "3.28.0"));
    expect(stdout).toBe(`installed resource plugin azure-native v3.28.0 at ${dir}\n`);
    const installed = path.join(dir, pluginExecutableName("resource", "azure-native"));
    expect(fs.statSync(installed).mode & 0o777).toBe(0o755);
    expect(fs.readdirSync(path.join(home, "plugins"))).toEqual(["resource-azure-native-v3.28.0"]);

    // The same again leaves the folder as it is: an engine running beside may be using it.
    const before = fs.statSync(dir).ino;
    expect((await install("azure-native", "3.28.0", exe)).stdout).toBe(
      `installed resource plugin azure-native v3.28.0 at ${dir} (unchanged)\n`,
    );
    expect(fs.statSync(dir).ino).toBe(before);

    // Reinstalling something else replaces the folder's content.
    fs.writeFileSync(exe, "#!/bin/sh\necho v2\n", { mode: 0o755 });
    await install("azure-native", "3.28.0", exe);
    expect(fs.readFileSync(installed, "utf8")).toContain("v2");
  });

  it("installs side by side: concurrent installs of one plugin all succeed and leave one complete copy", async () => {
    const exe = path.join(tmp, "standin.sh");
    fs.writeFileSync(exe, "#!/bin/sh\necho v1\n", { mode: 0o755 });
    await Promise.all(Array.from({ length: 6 }, () => install("tls", "5.6.1", exe)));
    expect(fs.readdirSync(path.join(home, "plugins"))).toEqual(["resource-tls-v5.6.1"]);
    expect(fs.readdirSync(path.join(home, "plugins", "resource-tls-v5.6.1"))).toEqual(["pulumi-resource-tls"]);
  });

  it("copies a folder with a PulumiPlugin.yaml in whole", async () => {
    const src = path.join(tmp, "plugin");
    fs.mkdirSync(src);
    fs.writeFileSync(path.join(src, "PulumiPlugin.yaml"), "runtime: nodejs\n");
    fs.writeFileSync(path.join(src, "index.js"), "");
    await install("tls", "5.6.1", src);
    expect(fs.readdirSync(path.join(home, "plugins", "resource-tls-v5.6.1")).sort()).toEqual([
      "PulumiPlugin.yaml",
      "index.js",
    ]);
  });

  it("refuses bad names, versions, missing or non-executable files, with the reason", async () => {
    const plain = path.join(tmp, "plain");
    fs.writeFileSync(plain, "", { mode: 0o644 });
    await expect(install("tls")).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining("usage:") });
    await expect(install("bad/name", "1.0.0", plain)).rejects.toMatchObject({
      stderr: expect.stringContaining("not a plugin name"),
    });
    await expect(install("tls", "latest", plain)).rejects.toMatchObject({
      stderr: expect.stringContaining("latest is not a semantic version"),
    });
    await expect(install("tls", "5.6.1", path.join(tmp, "nope"))).rejects.toMatchObject({
      stderr: expect.stringContaining("does not exist"),
    });
    await expect(install("tls", "5.6.1", plain)).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining("is not executable"),
    });
    expect(fs.readdirSync(path.join(home, "plugins"))).toEqual([]);
  });
});
