/**
 * The engine tier's version pins, kept in step with package-lock.json. Pure functions: the build
 * script (engine/checkVersions.ts) feeds them the files, tests feed them strings.
 *
 * Why it matters: the engine loads resource plugins by exact version (resource-command-v1.2.1 for
 * @pulumi/command 1.2.1), and the CLI must be at least as new as the @pulumi/pulumi SDK it runs.
 */

/** A release version as major, minor, patch (a leading "v" and any pre-release or build suffix ignored). */
export interface Semver {
  major: number;
  minor: number;
  patch: number;
}

export function parseSemver(text: string): Semver {
  const m = /^v?(\d+)\.(\d+)\.(\d+)(?:[-+].*)?$/.exec(text.trim());
  if (!m) {
    throw new Error(`not a semantic version: ${JSON.stringify(text)}`);
  }
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]) };
}

/** Negative when a < b, 0 when equal, positive when a > b. */
export function compareSemver(a: string, b: string): number {
  const x = parseSemver(a);
  const y = parseSemver(b);
  return x.major - y.major || x.minor - y.minor || x.patch - y.patch;
}

/** The version npm installed for a package, from package-lock.json (lockfileVersion 2 or 3). */
export function lockedVersion(lock: unknown, pkg: string): string {
  const packages = (lock as { packages?: Record<string, { version?: string }> })?.packages;
  const version = packages?.[`node_modules/${pkg}`]?.version;
  if (!version) {
    throw new Error(`package-lock.json does not lock ${pkg} (no packages["node_modules/${pkg}"].version)`);
  }
  return version;
}

/** The version a go.mod requires for a module (single-line or block `require`), or undefined. */
export function goModRequire(goMod: string, module: string): string | undefined {
  const escaped = module.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const m = new RegExp(`^\\s*(?:require\\s+)?${escaped}\\s+(v\\S+)`, "m").exec(goMod);
  return m?.[1];
}

/** The version `pulumi version` printed (first line, e.g. "v3.248.0"). */
export function parsePulumiVersionOutput(stdout: string): string {
  const line = stdout.trim().split("\n")[0]?.trim() ?? "";
  parseSemver(line);
  return line.startsWith("v") ? line : `v${line}`;
}

export interface EnginePins {
  /** @pulumi/pulumi in package-lock.json, e.g. "3.248.0". */
  lockedPulumi: string;
  /** @pulumi/command in package-lock.json, e.g. "1.2.1". */
  lockedCommand: string;
  /** github.com/pulumi/pulumi/pkg/v3 in engine/go.mod (the CLI), e.g. "v3.248.0". */
  cli: string;
  /** github.com/pulumi/pulumi/sdk/v3 in engine/go.mod (language host, bundled scripts). */
  sdk: string;
  /** The command provider's version, when it is built; undefined when it is not (see engine/README.md). */
  commandProvider?: string;
}

/** Every way the pins disagree with the lock file, each as a message that says what to change. */
export function checkEnginePins(p: EnginePins): string[] {
  const problems: string[] = [];
  if (compareSemver(p.cli, p.lockedPulumi) < 0) {
    problems.push(
      `the engine's Pulumi CLI (github.com/pulumi/pulumi/pkg/v3 ${p.cli} in engine/go.mod) is older than the locked ` +
        `@pulumi/pulumi ${p.lockedPulumi}: raise it in engine/go.mod (cd engine && go get ` +
        `github.com/pulumi/pulumi/pkg/v3@v${p.lockedPulumi} github.com/pulumi/pulumi/sdk/v3@v${p.lockedPulumi})`,
    );
  }
  if (compareSemver(p.sdk, p.cli) !== 0) {
    problems.push(
      `engine/go.mod requires github.com/pulumi/pulumi/sdk/v3 ${p.sdk} but pkg/v3 ${p.cli}: they are released ` +
        "together, keep them equal (the CLI reports the sdk version and loads the bundled scripts of that sdk)",
    );
  }
  if (p.commandProvider !== undefined && compareSemver(p.commandProvider, p.lockedCommand) !== 0) {
    problems.push(
      `the built command provider is ${p.commandProvider} but package-lock.json locks @pulumi/command ` +
        `${p.lockedCommand}: the engine loads resource-command at exactly the SDK's version`,
    );
  }
  return problems;
}

/** The YAML language host's pins: engine/yaml/go.mod, and the go.mod of the pulumi-yaml release it builds. */
export interface YamlHostPins {
  /** github.com/pulumi/pulumi-yaml in engine/yaml/go.mod, e.g. "v1.25.0". */
  yaml: string;
  /** github.com/pulumi/pulumi/sdk/v3 and pkg/v3 as engine/yaml/go.mod selects them. */
  sdk: string;
  pkg: string;
  /** What that pulumi-yaml release's own go.mod requires. */
  releaseSdk: string;
  releasePkg: string;
  /** github.com/pulumi/pulumi/pkg/v3 in engine/go.mod: the CLI that starts the host. */
  cli: string;
}

/**
 * Every way the YAML host's pins are wrong, each saying what to change. The host is built with the
 * release's own dependencies (so it is that release, not a mix), and its SDK may not be newer than the CLI
 * (a language host may then use protocol the engine does not have yet; an older one is what Pulumi
 * supports, and every Pulumi release ships a YAML host built on an older SDK).
 */
export function checkYamlHostPins(p: YamlHostPins): string[] {
  const problems: string[] = [];
  for (const [module, selected, release] of [
    ["sdk/v3", p.sdk, p.releaseSdk],
    ["pkg/v3", p.pkg, p.releasePkg],
  ] as const) {
    if (selected !== release) {
      problems.push(
        `engine/yaml/go.mod builds pulumi-yaml ${p.yaml} with github.com/pulumi/pulumi/${module} ${selected}, but that ` +
          `release requires ${release}: build it with its own dependencies (remove the raised requirement, then ` +
          "cd engine/yaml && go mod tidy)",
      );
    }
  }
  if (compareSemver(p.sdk, p.cli) > 0) {
    problems.push(
      `the YAML host (pulumi-yaml ${p.yaml}) is built on github.com/pulumi/pulumi/sdk/v3 ${p.sdk}, newer than the ` +
        `engine's CLI ${p.cli}: raise the CLI in engine/go.mod, or pin an older pulumi-yaml in engine/yaml/go.mod`,
    );
  }
  return problems;
}

/** What `go version -m BINARY` says about a binary: its modules' versions and its -ldflags. */
export interface GoBuildInfo {
  /** Module path to version: the module of the main package ("mod") and its dependencies ("dep"). */
  modules: Record<string, string>;
  /** The -ldflags build setting, "" when none. */
  ldflags: string;
}

export function parseGoBuildInfo(text: string): GoBuildInfo {
  const modules: Record<string, string> = {};
  let ldflags = "";
  for (const line of text.split("\n")) {
    const fields = line.trim().split("\t");
    if ((fields[0] === "mod" || fields[0] === "dep") && fields.length >= 3) modules[fields[1]] = fields[2];
    if (fields[0] === "build" && fields[1]?.startsWith("-ldflags=")) {
      ldflags = fields[1].slice("-ldflags=".length).replace(/^"(.*)"$/, "$1");
    }
  }
  return { modules, ldflags };
}

/** The variable pulumi-yaml's Makefile sets with -X to the release version (what GetPluginInfo reports). */
export const YAML_VERSION_VAR = "github.com/pulumi/pulumi-yaml/pkg/version.Version";

/** How a built pulumi-language-yaml differs from the pin: its pulumi-yaml module, and the version it reports. */
export function checkBuiltYamlHost(info: GoBuildInfo, yaml: string, bin: string): string[] {
  const problems: string[] = [];
  const built = info.modules["github.com/pulumi/pulumi-yaml"];
  if (built !== yaml) {
    problems.push(
      `${bin} was built from pulumi-yaml ${built ?? "(none)"}, engine/yaml/go.mod pins ${yaml}: rebuild with npm run engine:build`,
    );
  }
  const reported = new RegExp(`-X ${YAML_VERSION_VAR.replace(/\./g, "\\.")}=(\\S+)`).exec(info.ldflags)?.[1];
  if (reported !== yaml) {
    problems.push(`${bin} reports version ${reported ?? "(unset)"}, not ${yaml}: rebuild with npm run engine:build`);
  }
  return problems;
}

/** The folder name under $PULUMI_HOME/plugins where the engine looks for a plugin of this kind, name and version. */
export function pluginDirName(kind: "resource" | "analyzer" | "language", name: string, version: string): string {
  if (!/^[a-zA-Z0-9-][a-zA-Z0-9-_.]*[a-zA-Z0-9]$/.test(name)) {
    throw new Error(`not a plugin name the engine recognises: ${JSON.stringify(name)}`);
  }
  const v = parseSemver(version);
  const suffix = version.replace(/^v/, "").slice(`${v.major}.${v.minor}.${v.patch}`.length);
  return `${kind}-${name}-v${v.major}.${v.minor}.${v.patch}${suffix}`;
}

/** The executable the engine runs inside that folder. */
export function pluginExecutableName(kind: "resource" | "analyzer" | "language", name: string): string {
  return `pulumi-${kind}-${name}`;
}
