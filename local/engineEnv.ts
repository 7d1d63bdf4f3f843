/**
 * The environment for running the engine tier's Pulumi CLI (built by `npm run engine:build` into
 * .engine/bin). Pure: callers pass the repository root, the state folder and the passphrase, and
 * get back the variables to add; nothing here reads or writes the process environment. Here, in the
 * runner's layer, because `npm run -s local -- env` prints it too (through local/kept.ts).
 */
import * as path from "node:path";

/** Where the build puts everything, relative to the repository root (git-ignored). */
export const ENGINE_DIR = ".engine";

export function engineBinDir(repoRoot: string): string {
  return path.join(path.resolve(repoRoot), ENGINE_DIR, "bin");
}

/** PULUMI_HOME for the engine tier: plugins and credentials live here, never in ~/.pulumi. */
export function enginePulumiHome(repoRoot: string): string {
  return path.join(path.resolve(repoRoot), ENGINE_DIR, "pulumi-home");
}

export interface EngineEnvOptions {
  /** The repository root (the folder holding .engine/). */
  repoRoot: string;
  /** The folder holding the file:// backend's state (created by the caller). */
  stateDir: string;
  /** The passphrase secrets provider's passphrase for stacks in that state. */
  passphrase: string;
  /** The PATH to extend (the caller's, usually process.env.PATH). */
  basePath?: string;
  /** Defaults to PULUMI_HOME under .engine/. */
  pulumiHome?: string;
}

/**
 * The variables to set on top of the caller's environment:
 * - PATH with .engine/bin first, so `pulumi`, the language host and the bundled scripts are the built ones;
 * - PULUMI_HOME under .engine/ (plugins installed by engine/installPlugin.sh live there);
 * - PULUMI_BACKEND_URL file:// on the state folder, PULUMI_CONFIG_PASSPHRASE for its secrets;
 * - no update check, no plugin downloads (offline: a missing plugin is reported at once, by name and
 *   version), no package name looked up in the Pulumi Registry (`pulumi package add/get-schema NAME`
 *   would ask it before trying NAME as a plugin), and no plugins picked up from PATH, so the engine loads
 *   exactly the installed versions.
 */
export function engineEnv(opts: EngineEnvOptions): Record<string, string> {
  if (!opts.stateDir) {
    throw new Error("engineEnv: stateDir is required (the file:// backend's folder)");
  }
  const bin = engineBinDir(opts.repoRoot);
  const rest = (opts.basePath ?? "").split(path.delimiter).filter((p) => p !== "" && p !== bin);
  return {
    PATH: [bin, ...rest].join(path.delimiter),
    PULUMI_HOME: opts.pulumiHome ?? enginePulumiHome(opts.repoRoot),
    PULUMI_BACKEND_URL: `file://${path.resolve(opts.stateDir)}`,
    PULUMI_CONFIG_PASSPHRASE: opts.passphrase,
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    PULUMI_DISABLE_REGISTRY_RESOLVE: "true",
    PULUMI_IGNORE_AMBIENT_PLUGINS: "true",
    PULUMI_DIY_BACKEND_NO_LEGACY_WARNING: "true",
  };
}
