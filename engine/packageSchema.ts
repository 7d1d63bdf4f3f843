/**
 * `npm run -s package:schema [-- --write]` (after `npm run engine:build`): the schema Pulumi derives
 * from the plugin package in components/package, i.e. what `pulumi package get-schema components/package`
 * prints with the engine tier's CLI, compared with the committed components/package/schema.json. Exits 1
 * naming each difference; with --write it replaces the file instead (the component's API changed on
 * purpose). tests/engine-tier/package.test.ts makes the same comparison.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { engineBinDir, engineEnv } from "../local/engineEnv";

/**
 * The plugin package's folder and its committed schema, relative to the repository root. The "./" matters:
 * `pulumi package get-schema components/package` would take it for a package name in the Pulumi Registry.
 */
export const PACKAGE_DIR = "./components/package";
export const SCHEMA_FILE = "components/package/schema.json";

const run = promisify(execFile);

/** The schema text `pulumi package get-schema` prints for the package, with the built CLI and PULUMI_HOME `home`. */
export async function derivedSchema(repoRoot: string, home?: string): Promise<string> {
  const state = mkdtempSync(join(tmpdir(), "package-schema-"));
  try {
    const env = {
      ...process.env,
      ...engineEnv({ repoRoot, stateDir: state, passphrase: "unused", basePath: process.env.PATH, pulumiHome: home }),
    };
    const { stdout } = await run(join(engineBinDir(repoRoot), "pulumi"), ["package", "get-schema", PACKAGE_DIR], {
      cwd: repoRoot,
      env,
      maxBuffer: 16 << 20,
    });
    return stdout;
  } finally {
    rmSync(state, { recursive: true, force: true });
  }
}

/** Every JSON path at which `derived` differs from `committed`, as `path: committed -> derived`. */
export function schemaDifferences(committed: unknown, derived: unknown, at = "$"): string[] {
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null;
  if (isObject(committed) && isObject(derived) && Array.isArray(committed) === Array.isArray(derived)) {
    const keys = [...new Set([...Object.keys(committed), ...Object.keys(derived)])].sort();
    return keys.flatMap((key) => {
      const path = Array.isArray(committed)
        ? `${at}[${key}]`
        : `${at}${/^\w+$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`}`;
      if (!(key in derived)) return [`${path}: removed (was ${JSON.stringify(committed[key])})`];
      if (!(key in committed)) return [`${path}: added (${JSON.stringify(derived[key])})`];
      return schemaDifferences(committed[key], derived[key], path);
    });
  }
  return JSON.stringify(committed) === JSON.stringify(derived)
    ? []
    : [`${at}: ${JSON.stringify(committed)} -> ${JSON.stringify(derived)}`];
}

/** What to run when the difference is on purpose. */
export const UPDATE_COMMAND = "npm run -s package:schema -- --write";

async function main(): Promise<number> {
  const repoRoot = join(__dirname, "..");
  let derived: string;
  try {
    derived = await derivedSchema(repoRoot);
  } catch (e) {
    const error = e as Error & { stderr?: string };
    process.stderr.write(`pulumi package get-schema ${PACKAGE_DIR} failed: ${error.stderr || error.message}\n`);
    return 2;
  }
  const file = join(repoRoot, SCHEMA_FILE);
  if (process.argv.includes("--write")) {
    writeFileSync(file, derived);
    process.stdout.write(`wrote ${SCHEMA_FILE}\n`);
    return 0;
  }
  if (!existsSync(file)) {
    process.stderr.write(`${SCHEMA_FILE} is missing: ${UPDATE_COMMAND}\n`);
    return 1;
  }
  const differences = schemaDifferences(JSON.parse(readFileSync(file, "utf8")), JSON.parse(derived));
  for (const line of differences) process.stderr.write(`${line}\n`);
  if (differences.length > 0) {
    process.stderr.write(
      `${SCHEMA_FILE} differs from what Pulumi derives from the component; if on purpose: ${UPDATE_COMMAND}\n`,
    );
    return 1;
  }
  process.stdout.write(`${SCHEMA_FILE} is what Pulumi derives from the component\n`);
  return 0;
}

if (require.main === module) {
  main().then((code) => {
    process.exitCode = code;
  });
}
