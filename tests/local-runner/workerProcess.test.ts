import type { ChildProcess } from "node:child_process";
import { afterEach, describe, expect, it } from "vitest";
import { buildProgram } from "../../local/cli";
import { claimWorker, dropUnclaimedWorker, prestartWorker, SUBCOMMANDS, wouldDeploy } from "../../local/workerProcess";
import type { WorkerMessage } from "../../local/workerProtocol";

/** npm run local forks the runner's worker before it loads the runner (local/main.ts). */

describe("whether npm run local is about to deploy", () => {
  it("deploys for a plain run and its flags, not for a subcommand, --help, --version or --engine", () => {
    expect(wouldDeploy([])).toBe(true);
    expect(wouldDeploy(["--identity", "both", "--vm-count", "3", "--timings"])).toBe(true);
    for (const argv of [["output", "accessCheck"], ["env"], ["start"], ["status"], ["stop"], ["destroy"]]) {
      expect(wouldDeploy(argv)).toBe(false);
    }
    // Every subcommand the CLI has is one of them: a new one must be named there too.
    const cli = buildProgram({ stdout: () => {}, stderr: () => {} }, () => {});
    expect(cli.commands.map((command) => command.name()).sort()).toEqual([...SUBCOMMANDS].sort());
    for (const flag of ["--help", "-h", "--version", "-V", "--engine"]) expect(wouldDeploy([flag])).toBe(false);
  });
});

describe("a worker forked early", () => {
  const forked: ChildProcess[] = [];
  afterEach(() => {
    dropUnclaimedWorker();
    // A test that fails halfway leaves no worker behind.
    for (const child of forked.splice(0))
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });

  it("is the one a deployment claims, and what it said before it was claimed is handed over in order", async () => {
    prestartWorker();
    const worker = claimWorker();
    forked.push(worker.child);
    // Its first message arrives before anyone listens through listen() (a worker that fails to load fails the test).
    await new Promise((resolve, reject) => {
      worker.child.once("message", resolve);
      worker.child.once("exit", (code) => reject(new Error(`the worker exited (${code}) before it said anything`)));
    });
    const heard: WorkerMessage[] = [];
    worker.listen({ message: (message) => heard.push(message), exit: () => {}, error: () => {}, stderr: () => {} });
    expect(heard).toEqual([{ kind: "ready" }]);
    const exited = new Promise((resolve) => worker.child.once("exit", resolve));
    worker.child.disconnect();
    // A worker whose parent goes away goes too.
    expect(await exited).toBe(0);
  });

  it("is stopped when no deployment claims it, and a later claim forks a new one", async () => {
    const early = prestartWorker();
    forked.push(early.child);
    expect(prestartWorker()).toBe(early);
    const gone = new Promise((resolve) => early.child.once("exit", (_code, signal) => resolve(signal)));
    dropUnclaimedWorker();
    expect(await gone).toBe("SIGKILL");
    const fresh = claimWorker();
    forked.push(fresh.child);
    expect(fresh.child.pid).not.toBe(early.child.pid);
    const freshGone = new Promise((resolve) => fresh.child.once("exit", resolve));
    fresh.child.kill("SIGKILL");
    await freshGone;
  });
});
