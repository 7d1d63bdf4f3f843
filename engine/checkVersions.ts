/**
 * `tsx engine/checkVersions.ts [--built]`: checks that the engine's pins (engine/go.mod, and the
 * version the stand-in command provider declares in engine/commandhost/main.go) agree with
 * package-lock.json, and that the YAML host (engine/yaml/go.mod) is built with its release's own
 * dependencies on an SDK no newer than the CLI; with --built, also that the built .engine/bin/pulumi
 * reports that version, the built .engine/bin/pulumi-resource-command the locked @pulumi/command's, and
 * the built .engine/bin/pulumi-language-yaml is the pinned pulumi-yaml.
 * Prints the pins on success; exits 1 with one line per problem otherwise.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { engineBinDir } from "../local/engineEnv";
import {
  checkBuiltYamlHost,
  checkEnginePins,
  checkYamlHostPins,
  compareSemver,
  goModRequire,
  lockedVersion,
  parseGoBuildInfo,
  parsePulumiVersionOutput,
} from "./versions";

const root = path.resolve(__dirname, "..");
const YAML_MODULE = "github.com/pulumi/pulumi-yaml";

/** The go.mod of a module version, from Go's module cache (downloaded if missing: Go is at hand when building). */
function releaseGoMod(module: string, version: string): string {
  const info = JSON.parse(
    execFileSync("go", ["mod", "download", "-json", `${module}@${version}`], {
      cwd: path.join(root, "engine", "yaml"),
      encoding: "utf8",
    }),
  ) as { GoMod?: string; Error?: string };
  if (!info.GoMod) throw new Error(info.Error ?? `go mod download ${module}@${version} named no go.mod`);
  return fs.readFileSync(info.GoMod, "utf8");
}

/** The YAML host's pins, or the problem that keeps them from being read. */
function yamlHostPins(cli: string): { yaml: string; problems: string[] } {
  const goMod = fs.readFileSync(path.join(root, "engine", "yaml", "go.mod"), "utf8");
  const yaml = goModRequire(goMod, YAML_MODULE);
  const sdk = goModRequire(goMod, "github.com/pulumi/pulumi/sdk/v3");
  const pkg = goModRequire(goMod, "github.com/pulumi/pulumi/pkg/v3");
  if (!yaml || !sdk || !pkg) {
    return {
      yaml: yaml ?? "(none)",
      problems: [`engine/yaml/go.mod must require ${YAML_MODULE} (and list pulumi's sdk/v3 and pkg/v3: go mod tidy)`],
    };
  }
  let release: string;
  try {
    release = releaseGoMod(YAML_MODULE, yaml);
  } catch (e) {
    return {
      yaml,
      problems: [`could not read the go.mod of ${YAML_MODULE} ${yaml}: ${(e as Error).message.split("\n")[0]}`],
    };
  }
  const releaseSdk = goModRequire(release, "github.com/pulumi/pulumi/sdk/v3") ?? "(none)";
  const releasePkg = goModRequire(release, "github.com/pulumi/pulumi/pkg/v3") ?? "(none)";
  return { yaml, problems: checkYamlHostPins({ yaml, sdk, pkg, releaseSdk, releasePkg, cli }) };
}

function main(): number {
  const lock = JSON.parse(fs.readFileSync(path.join(root, "package-lock.json"), "utf8"));
  const goMod = fs.readFileSync(path.join(root, "engine", "go.mod"), "utf8");
  const cli = goModRequire(goMod, "github.com/pulumi/pulumi/pkg/v3");
  const sdk = goModRequire(goMod, "github.com/pulumi/pulumi/sdk/v3");
  if (!cli || !sdk) {
    console.error("engine/go.mod must require github.com/pulumi/pulumi/pkg/v3 and github.com/pulumi/pulumi/sdk/v3");
    return 1;
  }
  // The @pulumi/command release engine/commandhost stands in for (`var version = "…"`): the engine
  // loads it as resource-command at that version, which must be the SDK's.
  const commandHostMain = fs.readFileSync(path.join(root, "engine", "commandhost", "main.go"), "utf8");
  const commandProvider = /^var version = "([^"]+)"/m.exec(commandHostMain)?.[1];
  if (!commandProvider) {
    console.error('engine/commandhost/main.go must declare the version it stands in for: var version = "x.y.z"');
    return 1;
  }
  const pins = {
    lockedPulumi: lockedVersion(lock, "@pulumi/pulumi"),
    lockedCommand: lockedVersion(lock, "@pulumi/command"),
    cli,
    sdk,
    commandProvider,
  };
  const yamlHost = yamlHostPins(cli);
  const problems = [...checkEnginePins(pins), ...yamlHost.problems];
  if (process.argv.includes("--built")) {
    const bin = path.join(engineBinDir(root), "pulumi");
    try {
      const out = execFileSync(bin, ["version"], {
        encoding: "utf8",
        env: { ...process.env, PULUMI_SKIP_UPDATE_CHECK: "true" },
      });
      const built = parsePulumiVersionOutput(out);
      if (compareSemver(built, cli) !== 0) {
        problems.push(`${bin} reports ${built}, engine/go.mod pins ${cli}: rebuild with npm run engine:build`);
      }
    } catch (e) {
      problems.push(`could not run ${bin} version: ${(e as Error).message.split("\n")[0]}`);
    }
    const commandBin = path.join(engineBinDir(root), "pulumi-resource-command");
    try {
      const built = execFileSync(commandBin, ["--version"], { encoding: "utf8" }).trim();
      problems.push(
        ...checkEnginePins({ ...pins, commandProvider: built }).filter((p) => p.includes("command provider")),
      );
    } catch (e) {
      problems.push(`could not run ${commandBin} --version: ${(e as Error).message.split("\n")[0]}`);
    }
    const yamlBin = path.join(engineBinDir(root), "pulumi-language-yaml");
    try {
      const info = parseGoBuildInfo(execFileSync("go", ["version", "-m", yamlBin], { encoding: "utf8" }));
      problems.push(...checkBuiltYamlHost(info, yamlHost.yaml, yamlBin));
    } catch (e) {
      problems.push(`could not run go version -m ${yamlBin}: ${(e as Error).message.split("\n")[0]}`);
    }
  }
  for (const p of problems) {
    console.error(`engine versions: ${p}`);
  }
  if (problems.length === 0) {
    console.log(
      `engine versions: CLI ${pins.cli} (locked @pulumi/pulumi ${pins.lockedPulumi}), sdk ${pins.sdk}; ` +
        `command provider ${pins.commandProvider} (engine/commandhost, a stand-in: see engine/README.md), ` +
        `locked @pulumi/command ${pins.lockedCommand}; YAML host pulumi-yaml ${yamlHost.yaml} (engine/yaml/go.mod)`,
    );
  }
  return problems.length === 0 ? 0 : 1;
}

process.exitCode = main();
