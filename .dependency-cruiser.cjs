/**
 * The layers, one way only (DESIGN.md "Layers"):
 *   product   index.ts, components/, verify/, policy/  what users deploy to Azure
 *   runner    local/                                   runs the product offline; uses product and emulator
 *   emulator  local-azure/                             Local Azure; parses what it is given, imports neither
 * Tests, benchmarks and the engine tier sit on top and may import anything.
 * Type-only imports count too: a type from the emulator still ties the program to it.
 */
const ABOVE_PRODUCT = "^(local|local-azure|tests|bench|engine)/";

module.exports = {
  forbidden: [
    {
      name: "product-imports-runner-or-emulator",
      comment: "The program users deploy must not depend on the offline runner, the emulator or the tests.",
      severity: "error",
      from: { path: "^(index\\.ts$|components/|verify/|policy/)" },
      to: { path: ABOVE_PRODUCT },
    },
    {
      name: "emulator-imports-upper-layer",
      comment: "Local Azure stands for Azure: it parses the requests and cloud-init it is given and imports neither the product nor the runner.",
      severity: "error",
      from: { path: "^local-azure/" },
      to: { path: "^(index\\.ts$|components/|verify/|policy/|local/|tests/|bench/|engine/)" },
    },
    {
      name: "runner-imports-tests",
      comment: "The runner is shipped tooling: tests and benchmarks build on it, never the reverse.",
      severity: "error",
      from: { path: "^local/" },
      to: { path: "^(tests|bench|engine)/" },
    },
  ],
  options: {
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    doNotFollow: { path: "node_modules" },
    exclude: { path: "(^|/)node_modules/" },
  },
};
