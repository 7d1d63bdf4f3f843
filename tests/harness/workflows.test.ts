import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { validateWorkflow } from "@action-validator/core";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

const read = (name: string) => readFileSync(`.github/workflows/${name}`, "utf8");

/** .ci/run's tiers, in its order (its `tiers=(…)` line). */
function ciTiers(): string[] {
  const line = /^tiers=\(([^)]*)\)$/m.exec(readFileSync(".ci/run", "utf8"))?.[1];
  if (line === undefined) throw new Error(".ci/run has no tiers=(…) line");
  return line.split(/\s+/);
}

/** .ci/run's command of each tier (its `[name]="command"` lines), with $every_test expanded. */
function ciCommands(): Record<string, string> {
  const text = readFileSync(".ci/run", "utf8");
  const everyTest = /^every_test="(.*)"$/m.exec(text)?.[1] ?? "";
  return Object.fromEntries(
    [...text.matchAll(/^ {2}\[([a-z-]+)\]="(.*)"$/gm)].map(([, name, command]) => [
      name,
      command.replace("$every_test", everyTest),
    ]),
  );
}
type Step = {
  name?: string;
  id?: string;
  uses?: string;
  run?: string;
  if?: string;
  env?: Record<string, string>;
  with?: Record<string, string | number>;
};
type Workflow = {
  on: Record<string, unknown>;
  permissions: Record<string, string>;
  concurrency: { group: string };
  jobs: Record<string, { steps: Step[]; strategy?: { matrix: Record<string, string[]> } }>;
};

describe("GitHub workflows", () => {
  it.each(["ci.yml", "e2e-azure.yml"])("%s is valid against the Actions workflow schema", (name) => {
    expect(validateWorkflow(read(name)).errors).toEqual([]);
  });

  it("the schema check catches a broken workflow (so the check above can fail)", () => {
    expect(validateWorkflow("on: push\njobs:\n  a:\n    steps: 3\n").errors.length).toBeGreaterThan(0);
  });

  it("ci runs every tier of .ci/run, each as a job of its own, through .ci/run itself", () => {
    const workflow = parse(read("ci.yml")) as Workflow;
    const tiersOfJob = Object.fromEntries(
      Object.entries(workflow.jobs).map(([job, { steps }]) => {
        const runs = steps.flatMap((step) => (step.run?.includes(".ci/run") ? [step.run] : []));
        expect(runs, `job ${job} runs .ci/run once`).toHaveLength(1);
        return [
          job,
          runs[0]
            .slice(runs[0].indexOf(".ci/run") + ".ci/run".length)
            .trim()
            .split(/\s+/),
        ];
      }),
    );
    expect(tiersOfJob).toEqual({
      checks: ["install", "typecheck", "lint"],
      test: ["install", "test"],
      local: ["install", "local"],
      engine: ["install", "engine-build", "engine"],
      azcli: ["install", "azcli"],
      guest: ["install", "engine-build", "guest-build", "guest"],
    });
    // Nothing .ci/run runs is left out, and no job names a tier it does not have.
    expect(new Set(Object.values(tiersOfJob).flat())).toEqual(new Set(ciTiers()));
  });

  it("ci caches what .ci/run's machine keeps, gives the real guests root on a hosted Ubuntu runner, and reports the check", () => {
    const workflow = parse(read("ci.yml")) as Workflow & { jobs: Record<string, { "runs-on": string }> };
    const uses = (job: string) => workflow.jobs[job].steps.map((step) => step.uses).filter(Boolean);
    for (const [job, { steps }] of Object.entries(workflow.jobs)) {
      expect(steps.find((step) => step.uses === "actions/setup-node@v4")?.with, job).toEqual({
        "node-version": 20,
        cache: "npm",
      });
    }
    for (const job of ["checks", "engine", "guest"]) expect(uses(job)).toContain("actions/setup-go@v5");
    for (const job of ["azcli", "guest"]) {
      expect(workflow.jobs[job].steps.find((step) => step.uses === "actions/cache@v4")?.with?.path).toBe(
        "~/.cache/vm-identity-access/azure-cli-*",
      );
    }
    const guestRun = workflow.jobs.guest.steps.find((step) => step.run?.includes(".ci/run"))?.run ?? "";
    expect(guestRun).toMatch(/^sudo env "PATH=\$PATH" CI=true /);
    expect(workflow.jobs.guest["runs-on"]).toBe("ubuntu-latest");
    const report = workflow.jobs.local.steps.at(-1);
    expect(report).toEqual({
      name: "Access check report",
      if: "always()",
      run: 'npm run --silent verify -- --local --markdown >> "$GITHUB_STEP_SUMMARY"',
    });
    expect(workflow.permissions).toEqual({ contents: "read" });
  });

  it("ci's guest job needs DEBIAN_MIRROR: without it a fork skips the tiers saying why, this repository fails", () => {
    const workflow = parse(read("ci.yml")) as Workflow;
    const steps = workflow.jobs.guest.steps;
    const mirror = steps.findIndex((step) => step.id === "mirror");
    expect(steps[mirror]).toMatchObject({
      run: "bash scripts/ciGuestMirror.sh",
      env: {
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a GitHub expression, not a template
        DEBIAN_MIRROR: "${{ vars.DEBIAN_MIRROR }}",
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a GitHub expression, not a template
        FROM_FORK: "${{ github.event.repository.fork || github.event.pull_request.head.repo.fork || false }}",
      },
    });
    // Only the checkout comes first; every later step waits for the answer.
    expect(steps.slice(0, mirror).map((step) => step.uses)).toEqual(["actions/checkout@v4"]);
    for (const step of steps.slice(mirror + 1))
      expect(step.if, step.name ?? step.uses).toBe("steps.mirror.outputs.run == 'true'");

    const dir = mkdtempSync(join(tmpdir(), "ci-mirror-"));
    try {
      const decide = (env: Record<string, string>) => {
        const output = join(dir, `output-${Object.keys(env).length}-${env.FROM_FORK}`);
        writeFileSync(output, "");
        const run = spawnSync("bash", ["scripts/ciGuestMirror.sh"], {
          encoding: "utf8",
          env: { PATH: process.env.PATH, GITHUB_OUTPUT: output, ...env },
        });
        return { code: run.status, stdout: run.stdout, output: readFileSync(output, "utf8") };
      };
      expect(decide({ DEBIAN_MIRROR: "http://mirror.invalid/debian", FROM_FORK: "false" })).toEqual({
        code: 0,
        stdout: "",
        output: "run=true\n",
      });
      const how = "set the repository variable DEBIAN_MIRROR to a Debian mirror's URL (…/debian), as docs/ci.md says";
      expect(decide({ FROM_FORK: "true" })).toEqual({
        code: 0,
        stdout: `::notice title=guest tier skipped::no DEBIAN_MIRROR in a fork or a pull request from one (GitHub passes no repository variables to those), so the real guests' image cannot be built here; to run the guest tier in a fork, ${how}\n`,
        output: "run=false\n",
      });
      expect(decide({ FROM_FORK: "false" })).toEqual({
        code: 1,
        stdout: `::error title=guest tier cannot run::DEBIAN_MIRROR is not set: ${how}\n`,
        output: "",
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it(".ci/run runs the README's commands, lints with every linter and fails a tier that skips a test", () => {
    const commands = ciCommands();
    const readme = readFileSync("README.md", "utf8");
    const offline = /## Try it offline first[\s\S]*?```bash\n([\s\S]*?)```/.exec(readme)?.[1] ?? "";
    expect(offline).toContain("npm ci && npm run local");
    expect(offline).toContain("npm test");
    expect(commands.install).toMatch(/^npm ci\b/);
    expect(commands.local).toBe("npm run local");
    expect(commands.test).toBe("npm test");
    expect(readme).toContain("npm run guest:build");
    expect(commands["guest-build"]).toBe("npm run guest:build");
    expect(commands.lint).toBe("npm run lint -- --require");
    for (const tier of ["engine", "azcli", "guest"]) {
      expect(commands[tier]).toContain("--reporter=default --reporter=./tests/support/everyTestRan.ts");
    }
  });

  it.runIf(existsSync(".lint/actionlint"))("actionlint finds nothing in the workflows (npm run lint builds it)", () => {
    const lint = spawnSync(".lint/actionlint", [".github/workflows/ci.yml", ".github/workflows/e2e-azure.yml"], {
      encoding: "utf8",
    });
    expect({ status: lint.status, stdout: lint.stdout }).toEqual({ status: 0, stdout: "" });
  });

  it("e2e-azure logs in by OIDC without any client secret, per identity and transport, one run per subscription, and always sweeps", () => {
    const text = read("e2e-azure.yml");
    const workflow = parse(text) as Workflow & { env: Record<string, string> };
    expect(Object.keys(workflow.on).sort()).toEqual(["schedule", "workflow_dispatch"]);
    expect(workflow.permissions).toEqual({ "id-token": "write", contents: "read" });
    expect(workflow.env.ARM_USE_OIDC).toBe("true");
    expect(text).not.toMatch(/CLIENT_SECRET|client-secret|creds:/);
    expect(workflow.concurrency.group).toContain("ARM_SUBSCRIPTION_ID");
    // The check through Run Command per identity (nothing opened, no runner address), and one job over SSH.
    const e2e = workflow.jobs.e2e as unknown as {
      strategy: { matrix: { include: Array<Record<string, string>> } };
      env: Record<string, string>;
    };
    expect(e2e.strategy.matrix.include).toEqual([
      { identity: "user", "check-via": "runCommand" },
      { identity: "system", "check-via": "runCommand" },
      { identity: "user", "check-via": "ssh" },
    ]);
    // GitHub's expressions, as the workflow spells them.
    const expression = (name: string) => `\${{ matrix.${name} }}`;
    expect(e2e.env).toEqual({ E2E_IDENTITY: expression("identity"), E2E_CHECK_VIA: expression("check-via") });
    const uses = workflow.jobs.e2e.steps.map((step) => step.uses).filter(Boolean);
    expect(uses).toEqual(expect.arrayContaining(["azure/login@v2", "pulumi/actions@v6"]));
    const sweep = workflow.jobs.sweep as unknown as { if: string; steps: Step[] };
    expect(sweep.if).toBe("always()");
    expect(sweep.steps.at(-1)).toMatchObject({ if: "always()", run: "npm run sweep -- --older-than 3h" });
  });
});
