import { mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { policyViolationsFromOutput, rejudged, stackConfigText, upError, yamlValue } from "../../engine/localRun";
import { runLocalCli } from "../../local/cli";
import { REPO_ROOT } from "../../local/deploy";
import { engineMissing } from "../../local/engineBridge";
import { enginePassphrase, engineShellEnv } from "../../local/engineStack";

/** The engine runner's pure parts: stack config, error extraction, re-judging; the CLI's refusals. */

describe("npm run local -- --engine: stack config", () => {
  it("types whole numbers and booleans as Pulumi.yaml declares them, and keeps the rest strings", () => {
    expect([yamlValue("3"), yamlValue("true"), yamlValue("false"), yamlValue("127.0.0.1/32"), yamlValue("")]).toEqual([
      3,
      true,
      false,
      "127.0.0.1/32",
      "",
    ]);
  });

  it("writes exactly the run's config, without the passphrase's salt (the checkpoint keeps it)", () => {
    const text = stackConfigText({ "vm-identity-access:sshPort": "2222", "vm-identity-access:identity": "system" });
    expect(text).toBe("config:\n  vm-identity-access:identity: system\n  vm-identity-access:sshPort: 2222\n");
  });
});

describe("npm run local -- --engine: result", () => {
  it("takes the deployment's error from pulumi up's diagnostics: the resource, its error and the output after it", () => {
    const output = [
      "   +  command:remote:Command vmia-check-0-user **creating failed** error: Process exited with status 1",
      "  Diagnostics:",
      "    command:remote:Command (vmia-check-0-user):",
      "      error: Process exited with status 1: running \"ARM_ENDPOINT='https://127.0.0.1:1' bash -s\":",
      "      probe: arm resourceGroup attempt 1: HTTP 403 AuthorizationFailed",
      '      {"probeVersion":1,"ok":false}',
      "  ",
      "    pulumi:pulumi:Stack (vm-identity-access-local):",
      "      error: update failed",
      "  ",
      "  Resources:",
      "      + 17 created",
    ].join("\n");
    expect(upError(output)).toBe(
      [
        "command:remote:Command vmia-check-0-user: Process exited with status 1: running \"ARM_ENDPOINT='https://127.0.0.1:1' bash -s\":",
        "probe: arm resourceGroup attempt 1: HTTP 403 AuthorizationFailed",
        '{"probeVersion":1,"ok":false}',
      ].join("\n"),
    );
  });

  it("reads the policy pack's violations from pulumi up's Policies section, a stack policy's as (stack)", () => {
    const output = [
      "  Policies:",
      "      ❌ vm-identity-access-security@v0.1.0 (local: /repo/policy)",
      "          - [mandatory]  nsg-no-ssh-from-internet  (azure-native:network:NetworkSecurityGroup: web-nsg)",
      "            No network security group rule allows inbound SSH from the Internet.",
      '            network security group "web-nsg": securityRules[0] ("ssh") allows inbound SSH (port 22)',
      "          - [mandatory]  nsg-no-ssh-from-internet  (pulumi:pulumi:Stack: vm-identity-access-local)",
      "            No network security group rule allows inbound SSH from the Internet.",
      '            network security group "vmia-nsg": securityRules[0] allows inbound SSH (port 40022)',
      "          - [advisory]  stack-at-most-10-vms  (pulumi:pulumi:Stack: vm-identity-access-local)",
      "            Advisory: a stack holds at most 10 virtual machines.",
      "            the stack has 11 virtual machines",
      "  ",
      "  Diagnostics:",
    ].join("\n");
    expect(policyViolationsFromOutput(output)).toEqual([
      {
        policy: "nsg-no-ssh-from-internet",
        enforcementLevel: "mandatory",
        resource: "web-nsg",
        message: 'network security group "web-nsg": securityRules[0] ("ssh") allows inbound SSH (port 22)',
      },
      {
        policy: "nsg-no-ssh-from-internet",
        enforcementLevel: "mandatory",
        resource: "(stack)",
        message: 'network security group "vmia-nsg": securityRules[0] allows inbound SSH (port 40022)',
      },
      {
        policy: "stack-at-most-10-vms",
        enforcementLevel: "advisory",
        resource: "(stack)",
        message: "the stack has 11 virtual machines",
      },
    ]);
    expect(policyViolationsFromOutput("  Resources:\n      + 17 created\n")).toEqual([]);
  });

  it("falls back to the error lines when there is no Diagnostics section", () => {
    expect(upError("error: validating stack config: missing\nerror: update failed\n")).toBe(
      "validating stack config: missing",
    );
  });

  it("re-judges accessCheck from its evidence, never trusting the stored verdict", () => {
    const stored = {
      verified: true,
      expectation: "granted",
      results: [
        {
          vm: "vmia-vm0",
          identity: "user",
          expected: {
            principalId: "p",
            tenantId: "t",
            resourceGroupId: "/subscriptions/s/resourceGroups/r",
            resource: "https://x/",
          },
          probe: { probeVersion: 1, ok: false },
          checks: [],
          verified: true,
        },
      ],
    };
    expect(rejudged(stored)?.verified).toBe(false);
    expect(rejudged(undefined)).toBeNull();
  });
});

describe("npm run local -- --engine: refusals", () => {
  it("says to build the engine when the CLI is missing", () => {
    expect(engineMissing("/nonexistent")).toBe(
      "the Pulumi CLI is not built (.engine/bin/pulumi is missing): run npm run engine:build first",
    );
  });

  it("exits 2 for --engine without a built CLI, before starting anything", async () => {
    const err: string[] = [];
    let deployed = 0;
    const code = await runLocalCli(["--engine"], {
      stdout: () => undefined,
      stderr: (text) => void err.push(text),
      engineMissing: () => engineMissing("/nonexistent"),
      deploy: async () => {
        deployed++;
        throw new Error("must not deploy");
      },
    });
    expect(code).toBe(2);
    expect(err.join("")).toBe(
      "error: the Pulumi CLI is not built (.engine/bin/pulumi is missing): run npm run engine:build first\n",
    );
    expect(deployed).toBe(0);
  });
});

describe("npm run -s local -- env: the real CLI's lines", () => {
  it("names the backend, passphrase, PATH and kept Local Azure of the state folder, or says why not", () => {
    const stateDir = mkdtempSync(join(tmpdir(), "engine-env-"));
    const before = engineShellEnv.variables(stateDir);
    expect(before).toEqual({
      none:
        engineMissing() === null
          ? "no engine stack yet (npm run local -- --engine makes one)"
          : "the Pulumi CLI is not built (npm run engine:build)",
    });
    if (engineMissing() !== null) return;
    const passphrase = enginePassphrase(stateDir);
    const answer = engineShellEnv.variables(stateDir);
    const variables = Object.fromEntries("variables" in answer ? answer.variables : []);
    expect(variables).toMatchObject({
      PULUMI_BACKEND_URL: `file://${join(stateDir, "pulumi")}`,
      PULUMI_CONFIG_PASSPHRASE: passphrase,
      PULUMI_NODEJS_TRANSPILE_ONLY: "true",
      // The stack --engine made in this backend, whatever stack the project has selected in PULUMI_HOME.
      PULUMI_STACK: "local",
      LOCAL_AZURE_KEPT: join(stateDir, "kept.json"),
    });
    // Only .engine/bin, in front of the evaluating shell's PATH: npm's script folders stay out of it.
    expect(variables.PATH).toEqual({ prepend: join(REPO_ROOT, ".engine", "bin") });
    // The passphrase is made once per state folder and kept owner-only.
    expect(enginePassphrase(stateDir)).toBe(passphrase);
    expect(statSync(join(stateDir, "pulumi", "passphrase")).mode & 0o777).toBe(0o600);
  });
});
