/**
 * The sweeper: destroys and removes ephemeral test stacks (`e2e-*`) older than an age, so a CI run
 * killed mid-way does not leak VMs. `npm run sweep -- --older-than 6h [--dry-run]`.
 */
import { Command, InvalidArgumentError } from "commander";
import { listProjectStacks } from "./automationDriver";
import { parseAge, stacksInProgress, staleStacks } from "./harness";
import { sweepStack } from "./sweepStack";

async function main(argv: string[]): Promise<number> {
  const program = new Command("sweep")
    .description("destroy and remove ephemeral e2e-* stacks last updated longer ago than --older-than")
    .option(
      "--older-than <age>",
      "age such as 90m, 6h or 2d",
      (text) => {
        try {
          parseAge(text);
          return text;
        } catch (error) {
          throw new InvalidArgumentError((error as Error).message);
        }
      },
      "6h",
    )
    .option("--dry-run", "list what would be swept, change nothing", false)
    .exitOverride();
  try {
    program.parse(argv, { from: "user" });
  } catch (error) {
    return (error as { exitCode?: number }).exitCode === 0 ? 0 : 2;
  }
  const options = program.opts<{ olderThan: string; dryRun: boolean }>();
  const { stacks, open } = await listProjectStacks();
  const stale = staleStacks(stacks, new Date(), parseAge(options.olderThan));
  console.log(`${stale.length} of ${stacks.length} stack(s) are ephemeral and older than ${options.olderThan}`);
  for (const stack of stacksInProgress(stacks)) {
    console.log(
      `leaving ${stack.name}: the backend lists an update in progress and not its age; if no run holds it, \`pulumi cancel --stack ${stack.name}\` and sweep again`,
    );
  }
  let failures = 0;
  for (const stack of stale) {
    console.log(
      `${options.dryRun ? "would sweep" : "sweeping"} ${stack.name} (last update ${stack.lastUpdate ?? "never"})`,
    );
    if (options.dryRun) continue;
    try {
      await sweepStack(await open(stack.name), (line) => console.log(`  ${line}`));
    } catch (error) {
      failures++;
      console.error(`could not sweep ${stack.name}: ${(error as Error).message}`);
    }
  }
  return failures === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    console.error(`sweep failed: ${(error as Error).message}`);
    process.exit(1);
  },
);
