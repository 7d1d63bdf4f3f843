/**
 * `npm run verify`: reads a stack's outputs, re-judges every result from `expected` and `probe`
 * (never trusting a stored `verified`), prints a report. Exit 0 verified, 1 not verified, 2 bad input.
 */
import { resolve } from "node:path";
import { Command, CommanderError } from "commander";
import { judgeAccessCheck } from "./judge";
import { defaultReadIo, InputError, type ReadIo, readAccessCheck, type Source } from "./readOutputs";
import { jsonReport, markdownReport, printable, type Rejudged, textReport } from "./report";

export interface VerifyIo {
  stdout(text: string): void;
  stderr(text: string): void;
  /** stdin's text, for `--outputs -`. */
  stdin?: string;
  runCommand?: ReadIo["runCommand"];
  /** The local stack's folder; default .local-azure in the current directory. */
  localStateDir?: string;
}

function sourceOf(options: { stack?: string; local?: boolean; outputs?: string }, io: VerifyIo): Source {
  const given = [options.stack !== undefined, options.local === true, options.outputs !== undefined].filter(
    Boolean,
  ).length;
  if (given !== 1)
    throw new InputError("give exactly one source: --stack NAME, --local, or --outputs FILE (--outputs - for stdin)");
  if (options.stack !== undefined) {
    if (options.stack.trim() === "") throw new InputError("--stack needs a stack name, such as --stack dev");
    return { kind: "stack", name: options.stack };
  }
  if (options.local) return { kind: "local", stateDir: io.localStateDir ?? resolve(".local-azure") };
  return options.outputs === "-" ? { kind: "stdin" } : { kind: "file", path: String(options.outputs) };
}

export async function runVerifyCli(argv: string[], io: VerifyIo): Promise<number> {
  const program = new Command("verify")
    .description("re-judge a stack's accessCheck evidence")
    .option("--stack <name>", "a real stack: reads `pulumi stack output --json --stack NAME`")
    .option("--local", "the local stack written by npm run local")
    .option("--outputs <file>", "a file holding `pulumi stack output --json` (or - for stdin)")
    .option("--json", "print the re-judged accessCheck as JSON")
    .option("--markdown", "print a Markdown report (for a CI job summary)")
    .addHelpText("after", "\nExit status: 0 verified, 1 not verified, 2 bad input (the message names the problem).")
    .exitOverride()
    .configureOutput({ writeOut: (text) => io.stdout(text), writeErr: (text) => io.stderr(text) });
  try {
    program.parse(argv, { from: "user" });
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    throw error;
  }
  const options = program.opts<{
    stack?: string;
    local?: boolean;
    outputs?: string;
    json?: boolean;
    markdown?: boolean;
  }>();
  try {
    if (options.json && options.markdown) throw new InputError("choose one format: --json or --markdown");
    const readIo: ReadIo = {
      readStdin: io.stdin !== undefined ? async () => io.stdin as string : defaultReadIo.readStdin,
      runCommand: io.runCommand ?? defaultReadIo.runCommand,
    };
    const stored = await readAccessCheck(sourceOf(options, io), readIo);
    const accessCheck = judgeAccessCheck(
      stored.expectation,
      stored.results.map((r) => ({ vm: r.vm, identity: r.identity, expected: r.expected, probe: r.probe })),
    );
    // A stored verdict is only a claim: compare it with the evidence, overall and per result.
    const overallMismatch = stored.verified !== undefined && stored.verified !== accessCheck.verified;
    const mismatchedResults = accessCheck.results
      .filter(
        (r, index) => stored.results[index].verified !== undefined && stored.results[index].verified !== r.verified,
      )
      .map((r) => `${r.vm} (${r.identity})`);
    const result: Rejudged = {
      accessCheck,
      storedVerified: stored.verified,
      storedVerdictMismatch: overallMismatch || mismatchedResults.length > 0,
      mismatchedResults,
    };
    io.stdout(options.json ? jsonReport(result) : options.markdown ? markdownReport(result) : textReport(result));
    return accessCheck.verified ? 0 : 1;
  } catch (error) {
    if (error instanceof InputError) {
      io.stderr(`verify: ${printable(error.message)}\n`);
      return 2;
    }
    throw error;
  }
}

if (require.main === module) {
  runVerifyCli(process.argv.slice(2), {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
  }).then(
    (code) => {
      process.exitCode = code;
    },
    (error) => {
      process.stderr.write(`verify failed: ${(error as Error).message}\n`);
      process.exitCode = 2;
    },
  );
}
