import { readFileSync } from "node:fs";
import { validateWorkflow } from "@action-validator/core";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

const read = (name: string) => readFileSync(`.github/workflows/${name}`, "utf8");
type Step = { uses?: string; run?: string; if?: string; with?: Record<string, string> };
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

  it("ci installs from the lock file, checks everything and reports the access check to the job summary", () => {
    const workflow = parse(read("ci.yml")) as Workflow;
    const runs = workflow.jobs.test.steps.map((step) => step.run).filter(Boolean);
    expect(runs).toEqual([
      "npm ci",
      "npm run typecheck",
      "npm run lint",
      "npm test",
      "npm run local",
      'npm run --silent verify -- --local --markdown >> "$GITHUB_STEP_SUMMARY"',
    ]);
    expect(workflow.jobs.test.steps.at(-1)?.if).toBe("always()");
    expect(workflow.permissions).toEqual({ contents: "read" });
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
