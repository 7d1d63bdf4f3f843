import { Command, InvalidArgumentError } from "commander";
import { type Figure, renderTable } from "./figures";
import { renderMatrix, runMatrix } from "./sections/matrixSummary";

/**
 * `npm run bench`: the project's claims as reproducible figures (issue 5). A benchmark, not a test:
 * it prints a table (or, with --json, one JSON object) in which every figure says how it was obtained.
 * `--matrix` instead runs the reliability and security matrix (the rows in tests/matrix/cases.ts)
 * and prints what was tried and what held.
 */

const SECTIONS = ["main", "notice", "critical", "fleet", "cost"] as const;
type Section = (typeof SECTIONS)[number];

export interface BenchOptions {
  json: boolean;
  matrix: boolean;
  quick: boolean;
  runs: number;
  only: Section[];
}

/** The RBAC delays D of the time-to-notice figure; --quick scales them down for a fast pass. */
export function noticeDelays(quick: boolean): number[] {
  return quick ? [1, 2, 4] : [5, 20, 60];
}

function positiveInteger(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 100) {
    throw new InvalidArgumentError(`must be a whole number from 1 to 100; got ${JSON.stringify(value)}`);
  }
  return Number(value);
}

function sectionList(value: string): Section[] {
  const names = value.split(",").map((s) => s.trim());
  const unknown = names.filter((n) => !(SECTIONS as readonly string[]).includes(n));
  if (unknown.length > 0) {
    throw new InvalidArgumentError(`unknown section ${unknown.join(", ")}: use any of ${SECTIONS.join(", ")}`);
  }
  return names as Section[];
}

export function parseBenchArgs(argv: string[]): BenchOptions {
  const program = new Command("bench")
    .description("Speed figures and the reliability and security matrix of vm-identity-access, on Local Azure")
    .option("--json", "print one JSON object instead of the table", false)
    .option("--matrix", "run the reliability and security matrix and print its summary", false)
    .option("--quick", "a fast pass: 2 deploy runs, RBAC delays 1, 2, 4 s, fleet 1 and 3", false)
    .option("--runs <n>", "deployLocal() runs for the main-job figure (default 5, --quick 2)", positiveInteger)
    .option("--only <sections>", `comma-separated subset of ${SECTIONS.join(",")}`, sectionList)
    .exitOverride()
    .configureOutput({ writeErr: (text) => process.stderr.write(text) });
  program.parse(argv, { from: "user" });
  const o = program.opts<{ json: boolean; matrix: boolean; quick: boolean; runs?: number; only?: Section[] }>();
  return {
    json: o.json,
    matrix: o.matrix,
    quick: o.quick,
    runs: o.runs ?? (o.quick ? 2 : 5),
    only: o.only ?? [...SECTIONS],
  };
}

async function runFigures(options: BenchOptions, progress: (line: string) => void): Promise<Figure[]> {
  // Loaded lazily so that `--matrix` and `--help` do not pay for what they do not run.
  const { mainJobFigures, criticalPathFigures, fleetFigures } = await import("./sections/deployRuns");
  const { measureNotice, noticeFigures } = await import("./sections/noticeTime");
  const { probeCostFigures, runProbeRows } = await import("./sections/probeCost");
  const figures: Figure[] = [];
  const wants = (s: Section) => options.only.includes(s);

  // The notice runs mostly wait on the injected delay: start them first and let them overlap the rest.
  const notice = wants("notice")
    ? Promise.all(noticeDelays(options.quick).map((d) => measureNotice(d)))
    : Promise.resolve([]);

  if (wants("main") || wants("critical")) {
    progress(`local main job: ${options.runs} deployLocal() runs...`);
    const main = await mainJobFigures(wants("main") ? options.runs : 1, wants("main") ? (options.quick ? 1 : 3) : 0);
    if (wants("main")) figures.push(...main.figures);
    if (wants("critical")) figures.push(...criticalPathFigures(main.first));
  }
  if (wants("fleet")) {
    progress("fleet: vmCount runs...");
    figures.push(...(await fleetFigures(options.quick ? [1, 3] : [1, 3, 10])));
  }
  if (wants("cost")) {
    progress("probe cost: one probe run per matrix row...");
    figures.push(...probeCostFigures(await runProbeRows()));
  }
  if (wants("notice")) {
    progress(`time to notice access: D = ${noticeDelays(options.quick).join(", ")} s...`);
    figures.push(...noticeFigures(await notice));
  }
  return figures;
}

export async function main(argv: string[]): Promise<number> {
  let options: BenchOptions;
  try {
    options = parseBenchArgs(argv);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === "commander.helpDisplayed" || code === "commander.version") return 0;
    // commander has already printed its message naming the option and what it allows.
    return 2;
  }
  const progress = (line: string) => process.stderr.write(`${line}\n`);
  const started = performance.now();
  if (options.matrix) {
    const rows = await runMatrix({ quick: options.quick, progress });
    const failed = rows.filter((r) => !r.held).length;
    process.stdout.write(
      options.json
        ? `${JSON.stringify({ command: `npm run bench -- ${argv.join(" ")}`.trim(), rows, failed }, null, 2)}\n`
        : `${renderMatrix(rows)}\n`,
    );
    return failed === 0 ? 0 : 1;
  }
  const figures = await runFigures(options, progress);
  const totalSeconds = (performance.now() - started) / 1000;
  if (options.json) {
    const report = {
      command: `npm run bench -- ${argv.join(" ")}`.trim(),
      machine: { cpus: (await import("node:os")).cpus().length, node: process.version },
      totalSeconds,
      figures,
    };
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } else {
    process.stdout.write(`${renderTable(figures)}\n\nbench finished in ${totalSeconds.toFixed(1)} s\n`);
  }
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`bench failed: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
