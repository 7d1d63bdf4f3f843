/**
 * `tsx engine/checkVersions.ts [--built]`: checks that the engine's pins (engine/go.mod) agree with
 * package-lock.json; with --built, also that the built .engine/bin/pulumi reports that version.
 * Prints the pins on success; exits 1 with one line per problem otherwise.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { engineBinDir } from "./env";
import { checkEnginePins, compareSemver, goModRequire, lockedVersion, parsePulumiVersionOutput } from "./versions";

const root = path.resolve(__dirname, "..");

function main(): number {
  const lock = JSON.parse(fs.readFileSync(path.join(root, "package-lock.json"), "utf8"));
  const goMod = fs.readFileSync(path.join(root, "engine", "go.mod"), "utf8");
  const cli = goModRequire(goMod, "github.com/pulumi/pulumi/pkg/v3");
  const sdk = goModRequire(goMod, "github.com/pulumi/pulumi/sdk/v3");
  if (!cli || !sdk) {
    console.error("engine/go.mod must require github.com/pulumi/pulumi/pkg/v3 and github.com/pulumi/pulumi/sdk/v3");
    return 1;
  }
  const pins = {
    lockedPulumi: lockedVersion(lock, "@pulumi/pulumi"),
    lockedCommand: lockedVersion(lock, "@pulumi/command"),
    cli,
    sdk,
  };
  const problems = checkEnginePins(pins);
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
  }
  for (const p of problems) {
    console.error(`engine versions: ${p}`);
  }
  if (problems.length === 0) {
    console.log(
      `engine versions: CLI ${pins.cli} (locked @pulumi/pulumi ${pins.lockedPulumi}), sdk ${pins.sdk}; ` +
        `locked @pulumi/command ${pins.lockedCommand} (its provider is not built here: see engine/README.md)`,
    );
  }
  return problems.length === 0 ? 0 : 1;
}

process.exitCode = main();
