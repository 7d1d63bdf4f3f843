import { createRequire } from "node:module";
import { join } from "node:path";
import { cruise, type ICruiseResult, type IFlattenedRuleSet } from "dependency-cruiser";
import { describe, expect, it } from "vitest";

const root = join(__dirname, "..");
const { forbidden } = createRequire(__filename)(join(root, ".dependency-cruiser.cjs")) as IFlattenedRuleSet;

/** The cruise of `entries` under `baseDir`, validated against the project's layer rules. */
async function cruiseLayers(baseDir: string, entries: string[]): Promise<ICruiseResult> {
  const { output } = await cruise(entries, {
    baseDir,
    validate: true,
    ruleSet: { forbidden },
    tsPreCompilationDeps: true,
    doNotFollow: { path: "node_modules" },
    exclude: { path: "(^|/)node_modules/" },
  });
  return output as ICruiseResult;
}

const violations = (result: ICruiseResult) =>
  result.summary.violations.map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`).sort();

describe("layers: product <- runner <- emulator, one way only", () => {
  it("the repository has no import against the layers", async () => {
    const result = await cruiseLayers(root, ["index.ts", "components", "verify", "policy", "local", "local-azure"]);
    // The cruise really resolved the TypeScript imports (else "no violations" would prove nothing).
    const vm = result.modules.find((m) => m.source === "components/vm.ts");
    expect(vm?.dependencies.map((d) => d.resolved)).toContain("components/cloudInit.ts");
    expect(violations(result)).toEqual([]);
  });

  it("names each kind of wrong import (a fixture tree with one of each)", async () => {
    const result = await cruiseLayers(join(root, "tests/fixtures/layers"), ["components", "local-azure", "local"]);
    expect(violations(result)).toEqual([
      "emulator-imports-upper-layer: local-azure/cloudInit.ts -> local/flags.ts",
      "product-imports-runner-or-emulator: components/vm.ts -> local-azure/cloudInit.ts",
      "runner-imports-tests: local/flags.ts -> tests/helper.ts",
    ]);
  });
});
