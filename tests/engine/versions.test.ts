import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import {
  checkBuiltYamlHost,
  checkEnginePins,
  checkYamlHostPins,
  compareSemver,
  goModRequire,
  lockedVersion,
  parseGoBuildInfo,
  parsePulumiVersionOutput,
  parseSemver,
  pluginDirName,
  pluginExecutableName,
} from "../../engine/versions";

const root = path.join(__dirname, "..", "..");
const pins = { lockedPulumi: "3.248.0", lockedCommand: "1.2.1", cli: "v3.248.0", sdk: "v3.248.0" };

describe("engine versions", () => {
  it("compares release versions numerically, with or without v, ignoring pre-release and build suffixes", () => {
    expect(compareSemver("v3.248.0", "3.248.0")).toBe(0);
    expect(compareSemver("3.100.0", "3.99.9")).toBeGreaterThan(0);
    expect(compareSemver("v3.247.9", "3.248.0")).toBeLessThan(0);
    expect(compareSemver("1.2.1-alpha.1+x", "1.2.1")).toBe(0);
    expect(parseSemver("v1.2.3")).toEqual({ major: 1, minor: 2, patch: 3 });
    expect(() => parseSemver("latest")).toThrow('not a semantic version: "latest"');
  });

  it("reads the locked version of a package from package-lock.json", () => {
    const lock = { packages: { "node_modules/@pulumi/pulumi": { version: "3.248.0" } } };
    expect(lockedVersion(lock, "@pulumi/pulumi")).toBe("3.248.0");
    expect(() => lockedVersion(lock, "@pulumi/command")).toThrow(
      'package-lock.json does not lock @pulumi/command (no packages["node_modules/@pulumi/command"].version)',
    );
  });

  it("reads a module's required version from go.mod, in a block or on one line, not a longer path's", () => {
    const goMod = [
      "module x",
      "require github.com/pulumi/pulumi/sdk/v3 v3.248.0",
      "require (",
      "\tgithub.com/pulumi/pulumi/pkg/v3 v3.248.0 // indirect",
      "\tgithub.com/pulumi/pulumi/pkg/v3x v9.0.0",
      ")",
    ].join("\n");
    expect(goModRequire(goMod, "github.com/pulumi/pulumi/pkg/v3")).toBe("v3.248.0");
    expect(goModRequire(goMod, "github.com/pulumi/pulumi/sdk/v3")).toBe("v3.248.0");
    expect(goModRequire(goMod, "github.com/pulumi/esc")).toBeUndefined();
  });

  it("accepts pins equal to the lock file, and a CLI newer than the SDK", () => {
    expect(checkEnginePins(pins)).toEqual([]);
    expect(checkEnginePins({ ...pins, cli: "v3.260.0", sdk: "v3.260.0" })).toEqual([]);
  });

  it("refuses a CLI older than the locked @pulumi/pulumi, saying what to run", () => {
    const [problem, ...rest] = checkEnginePins({ ...pins, cli: "v3.247.0", sdk: "v3.247.0" });
    expect(rest).toEqual([]);
    expect(problem).toContain("older than the locked @pulumi/pulumi 3.248.0");
    expect(problem).toContain(
      "go get github.com/pulumi/pulumi/pkg/v3@v3.248.0 github.com/pulumi/pulumi/sdk/v3@v3.248.0",
    );
  });

  it("refuses an sdk pin apart from the CLI's, and a command provider other than the locked @pulumi/command", () => {
    expect(checkEnginePins({ ...pins, sdk: "v3.249.0" })).toEqual([
      expect.stringContaining("requires github.com/pulumi/pulumi/sdk/v3 v3.249.0 but pkg/v3 v3.248.0"),
    ]);
    expect(checkEnginePins({ ...pins, commandProvider: "v1.2.1" })).toEqual([]);
    expect(checkEnginePins({ ...pins, commandProvider: "v1.3.0" })).toEqual([
      expect.stringContaining("the built command provider is v1.3.0 but package-lock.json locks @pulumi/command 1.2.1"),
    ]);
  });

  it("the committed pins agree with the committed lock file", () => {
    const lock = JSON.parse(fs.readFileSync(path.join(root, "package-lock.json"), "utf8"));
    const goMod = fs.readFileSync(path.join(root, "engine", "go.mod"), "utf8");
    const committed = {
      lockedPulumi: lockedVersion(lock, "@pulumi/pulumi"),
      lockedCommand: lockedVersion(lock, "@pulumi/command"),
      cli: goModRequire(goMod, "github.com/pulumi/pulumi/pkg/v3") ?? "missing",
      sdk: goModRequire(goMod, "github.com/pulumi/pulumi/sdk/v3") ?? "missing",
    };
    expect(checkEnginePins(committed)).toEqual([]);
  });

  it("parses what pulumi version prints", () => {
    expect(parsePulumiVersionOutput("v3.248.0\n")).toBe("v3.248.0");
    expect(parsePulumiVersionOutput("3.248.0\nwarning: a newer version is available\n")).toBe("v3.248.0");
    expect(() => parsePulumiVersionOutput("")).toThrow("not a semantic version");
  });

  it("names a plugin's folder and executable as the engine looks them up", () => {
    expect(pluginDirName("resource", "azure-native", "3.28.0")).toBe("resource-azure-native-v3.28.0");
    expect(pluginDirName("resource", "tls", "v5.6.1")).toBe("resource-tls-v5.6.1");
    expect(pluginDirName("resource", "command", "1.2.1-alpha.1")).toBe("resource-command-v1.2.1-alpha.1");
    expect(pluginExecutableName("resource", "azure-native")).toBe("pulumi-resource-azure-native");
    expect(() => pluginDirName("resource", "bad/name", "1.0.0")).toThrow("not a plugin name");
  });

  describe("the YAML language host (engine/yaml/go.mod)", () => {
    const yamlPins = {
      yaml: "v1.25.0",
      sdk: "v3.206.0",
      pkg: "v3.206.0",
      releaseSdk: "v3.206.0",
      releasePkg: "v3.206.0",
      cli: "v3.248.0",
    };

    it("accepts the release's own dependencies on an SDK older than the CLI's, or equal to it", () => {
      expect(checkYamlHostPins(yamlPins)).toEqual([]);
      expect(checkYamlHostPins({ ...yamlPins, sdk: "v3.248.0", releaseSdk: "v3.248.0" })).toEqual([]);
    });

    it("refuses a dependency raised above what the release requires, naming it and the way back", () => {
      expect(checkYamlHostPins({ ...yamlPins, pkg: "v3.248.0" })).toEqual([
        "engine/yaml/go.mod builds pulumi-yaml v1.25.0 with github.com/pulumi/pulumi/pkg/v3 v3.248.0, but that release " +
          "requires v3.206.0: build it with its own dependencies (remove the raised requirement, then cd engine/yaml && go mod tidy)",
      ]);
    });

    it("refuses a YAML host built on an SDK newer than the CLI", () => {
      const newer = { ...yamlPins, sdk: "v3.255.0", pkg: "v3.255.0", releaseSdk: "v3.255.0", releasePkg: "v3.255.0" };
      expect(checkYamlHostPins(newer)).toEqual([
        "the YAML host (pulumi-yaml v1.25.0) is built on github.com/pulumi/pulumi/sdk/v3 v3.255.0, newer than the " +
          "engine's CLI v3.248.0: raise the CLI in engine/go.mod, or pin an older pulumi-yaml in engine/yaml/go.mod",
      ]);
    });

    it("the committed engine/yaml/go.mod selects pulumi's sdk and pkg no newer than the CLI", () => {
      const goMod = fs.readFileSync(path.join(root, "engine", "yaml", "go.mod"), "utf8");
      const cli = goModRequire(
        fs.readFileSync(path.join(root, "engine", "go.mod"), "utf8"),
        "github.com/pulumi/pulumi/pkg/v3",
      );
      const sdk = goModRequire(goMod, "github.com/pulumi/pulumi/sdk/v3");
      expect(goModRequire(goMod, "github.com/pulumi/pulumi-yaml")).toBe("v1.25.0");
      expect(compareSemver(sdk ?? "missing", cli ?? "missing")).toBeLessThanOrEqual(0);
    });

    // The shape of `go version -m` for a tool built from another module: its module is "mod", not "dep".
    const goVersionM = [
      ".engine/bin/pulumi-language-yaml: go1.25.11",
      "\tpath\tgithub.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml",
      "\tmod\tgithub.com/pulumi/pulumi-yaml\tv1.25.0\th1:fy/AKkIafzwtk/6Bj9KFXGj6uqYWGXY31UmLvhrfjqs=",
      "\tdep\tgithub.com/pulumi/pulumi/sdk/v3\tv3.206.0\th1:x=",
      '\tbuild\t-ldflags="-X github.com/pulumi/pulumi-yaml/pkg/version.Version=v1.25.0"',
      "\tbuild\tCGO_ENABLED=1",
    ].join("\n");

    it("reads the modules and -ldflags of a built binary", () => {
      expect(parseGoBuildInfo(goVersionM)).toEqual({
        modules: { "github.com/pulumi/pulumi-yaml": "v1.25.0", "github.com/pulumi/pulumi/sdk/v3": "v3.206.0" },
        ldflags: "-X github.com/pulumi/pulumi-yaml/pkg/version.Version=v1.25.0",
      });
    });

    it("accepts a built host of the pinned release, and names a stale or unversioned one", () => {
      const bin = ".engine/bin/pulumi-language-yaml";
      expect(checkBuiltYamlHost(parseGoBuildInfo(goVersionM), "v1.25.0", bin)).toEqual([]);
      expect(checkBuiltYamlHost({ modules: {}, ldflags: "" }, "v1.25.0", bin)).toEqual([
        `${bin} was built from pulumi-yaml (none), engine/yaml/go.mod pins v1.25.0: rebuild with npm run engine:build`,
        `${bin} reports version (unset), not v1.25.0: rebuild with npm run engine:build`,
      ]);
      expect(checkBuiltYamlHost(parseGoBuildInfo(goVersionM), "v1.26.2", bin)).toHaveLength(2);
    });
  });
});
