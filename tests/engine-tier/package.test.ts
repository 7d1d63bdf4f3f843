/**
 * Engine tier: the schema Pulumi derives from the plugin package in components/package (`pulumi package
 * get-schema ./components/package` with the built CLI, the Node.js language host running Pulumi's
 * component provider host on the TypeScript source) is the committed components/package/schema.json.
 * A change to VmAccessCheck's args or outputs fails here until the file is updated on purpose
 * (`npm run -s package:schema -- --write`), so what other languages see never changes unnoticed.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { derivedSchema, SCHEMA_FILE, schemaDifferences, UPDATE_COMMAND } from "../../engine/packageSchema";
import { ENGINE_DIR, engineBinDir } from "../../local/engineEnv";
import { REPO_ROOT } from "./support";

describe("the plugin package's schema", () => {
  let home: string;
  let derived: Record<string, unknown>;

  beforeAll(async () => {
    const pulumi = join(engineBinDir(REPO_ROOT), "pulumi");
    if (!existsSync(pulumi)) throw new Error(`${pulumi} is missing: run npm run engine:build first`);
    // An empty PULUMI_HOME: the package needs no plugin installed to describe itself.
    mkdirSync(join(REPO_ROOT, ENGINE_DIR, "test-homes"), { recursive: true });
    home = mkdtempSync(join(REPO_ROOT, ENGINE_DIR, "test-homes", "package-schema-"));
    derived = JSON.parse(await derivedSchema(REPO_ROOT, home));
  });

  afterAll(() => rmSync(home, { recursive: true, force: true }));

  it("is the committed components/package/schema.json", () => {
    const committed = JSON.parse(readFileSync(join(REPO_ROOT, SCHEMA_FILE), "utf8"));
    const differences = schemaDifferences(committed, derived);
    expect(differences, `${SCHEMA_FILE} differs; if the API changed on purpose: ${UPDATE_COMMAND}`).toEqual([]);
  });

  it("names the package after package.json and serves VmAccessCheck as a component", () => {
    expect(derived.name).toBe("vm-identity-access");
    const resources = derived.resources as Record<string, { isComponent?: boolean }>;
    expect(Object.keys(resources)).toEqual(["vm-identity-access:index:VmAccessCheck"]);
    expect(resources["vm-identity-access:index:VmAccessCheck"].isComponent).toBe(true);
  });
});
