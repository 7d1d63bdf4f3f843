/**
 * The environment for running the engine tier's Pulumi CLI (built by `npm run engine:build` into
 * .engine/bin). Pure: callers pass the repository root, the state folder and the passphrase, and
 * get back the variables to add; nothing here reads or writes the process environment.
 */
export {
  ENGINE_DIR,
  type EngineEnvOptions,
  engineBinDir,
  engineEnv,
  enginePulumiHome,
} from "../local/engineEnv";

/** Single-quotes a value for POSIX shells. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** `export NAME='value'` lines for `eval "$(npm run -s local -- env)"`, in a stable order. */
export function exportLines(env: Record<string, string>): string[] {
  return Object.keys(env)
    .sort()
    .map((k) => {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) {
        throw new Error(`not an environment variable name: ${JSON.stringify(k)}`);
      }
      return `export ${k}=${shellQuote(env[k] as string)}`;
    });
}
