/**
 * `npm run local`'s entry: when the command deploys, it forks the runner's worker first, so that the
 * worker's load (Pulumi and the SDKs, the longest part of a run's start-up) overlaps the runner's own
 * instead of following it, then loads and runs the CLI (local/cli.ts). A worker no deployment claimed
 * is stopped at the end.
 */
import { dropUnclaimedWorker, prestartWorker, wouldDeploy } from "./workerProcess";

const argv = process.argv.slice(2);
if (wouldDeploy(argv)) prestartWorker();

import("./cli")
  .then(({ runLocalCli }) =>
    runLocalCli(argv, {
      stdout: (text) => process.stdout.write(text),
      stderr: (text) => process.stderr.write(text),
    }),
  )
  .then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    },
  )
  .finally(dropUnclaimedWorker);
