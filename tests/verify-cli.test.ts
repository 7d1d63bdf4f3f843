import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { runVerifyCli, type VerifyIo } from "../verify/cli";
import type { AccessCheck, Expected, ProbeResultV1 } from "../verify/contract";

const RG_ID = "/subscriptions/s-1/resourceGroups/rg-1";
const EXPECTED: Expected = {
  principalId: "p-1",
  clientId: "c-1",
  tenantId: "t-1",
  resourceGroupId: RG_ID,
  resource: "https://management.azure.com/",
};
const PROBE: ProbeResultV1 = {
  probeVersion: 1,
  ok: true,
  identity: { selector: "client_id", value: "c-1" },
  target: {
    subscriptionId: "s-1",
    resourceGroup: "rg-1",
    armEndpoint: "https://management.azure.com",
    resource: "https://management.azure.com/",
  },
  token: {
    status: 200,
    attempts: 1,
    expiresOn: "1",
    claims: { aud: "https://management.azure.com/", oid: "p-1", tid: "t-1", appid: "c-1" },
  },
  resourceGroup: { status: 200, attempts: 1, body: { id: RG_ID, properties: { provisioningState: "Succeeded" } } },
  permissions: { status: 200, body: { value: [{ actions: ["*/read"], notActions: [] }] } },
  elapsedSeconds: 1,
  error: null,
};

function outputs(probe: unknown, storedVerified = true): string {
  const accessCheck: AccessCheck = {
    verified: storedVerified,
    expectation: "granted",
    results: [{ vm: "vm0", identity: "user", expected: EXPECTED, probe, checks: [], verified: storedVerified }],
  };
  return JSON.stringify({ accessCheck, resourceGroupName: "rg-1", sshPrivateKey: "[secret]" });
}

async function run(argv: string[], extra: Partial<VerifyIo> = {}) {
  let stdout = "";
  let stderr = "";
  const code = await runVerifyCli(argv, {
    stdout: (text) => {
      stdout += text;
    },
    stderr: (text) => {
      stderr += text;
    },
    ...extra,
  });
  return { code, stdout, stderr };
}

describe("npm run verify", () => {
  it("exits 0 on good evidence read from stdin, with a readable report", async () => {
    const result = await run(["--outputs", "-"], { stdin: outputs(PROBE) });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("vm0 (user): verified");
    expect(result.stdout).toContain("✓ token-principal");
    expect(result.stdout.trim().split("\n").at(-1)).toBe("VERIFIED: 1 of 1 result(s) proved the expected access");
  });

  it("re-judges tampered outputs (verified: true over failing evidence): exit 1, mismatch called out", async () => {
    const tampered = { ...PROBE, token: { ...PROBE.token, claims: { ...PROBE.token?.claims, oid: "p-evil" } } };
    const result = await run(["--outputs", "-"], { stdin: outputs(tampered, true) });
    expect(result.code).toBe(1);
    expect(result.stdout).toContain("The stored verdict said verified; the evidence says not verified.");
    expect(result.stdout).toContain('✗ token-principal: the token principal (oid) should be "p-1", was "p-evil"');
  });

  it("prints the re-judged accessCheck as JSON with --json", async () => {
    const result = await run(["--outputs", "-", "--json"], { stdin: outputs(PROBE, false) });
    const parsed = JSON.parse(result.stdout);
    expect(parsed).toMatchObject({ verified: true, expectation: "granted", storedVerdictMismatch: true });
    expect(parsed.results[0].checks.length).toBeGreaterThan(5);
  });

  it("prints a Markdown table with --markdown, escaping pipes and control characters from the evidence", async () => {
    const hostile = { ...PROBE, token: { ...PROBE.token, claims: { ...PROBE.token?.claims, oid: "a|b\u001b[31m" } } };
    const result = await run(["--outputs", "-", "--markdown"], { stdin: outputs(hostile) });
    expect(result.code).toBe(1);
    expect(result.stdout).toContain("| VM | identity | check | result | detail |");
    expect(result.stdout).toContain(String.raw`was "a\|b\u001b[31m"`);
    expect(result.stdout).not.toContain("\u001b");
  });

  it("accepts a bare accessCheck object from a file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "verify-"));
    writeFileSync(join(dir, "ac.json"), JSON.stringify(JSON.parse(outputs(PROBE)).accessCheck));
    expect((await run(["--outputs", join(dir, "ac.json")])).code).toBe(0);
  });

  it("reads the local stack's outputs.json with --local", async () => {
    const dir = mkdtempSync(join(tmpdir(), "verify-local-"));
    expect(await run(["--local"], { localStateDir: dir })).toMatchObject({
      code: 2,
      stderr: "verify: no local stack yet: run npm run local first\n",
    });
    writeFileSync(join(dir, "outputs.json"), outputs(PROBE));
    expect((await run(["--local"], { localStateDir: dir })).code).toBe(0);
  });

  it("reads a real stack through pulumi stack output --json, and says so when the CLI is missing", async () => {
    const calls: string[][] = [];
    const ok = await run(["--stack", "dev"], {
      runCommand: async (file, args) => {
        calls.push([file, ...args]);
        return outputs(PROBE);
      },
    });
    expect(ok.code).toBe(0);
    expect(calls).toEqual([["pulumi", "stack", "output", "--json", "--stack", "dev"]]);
    const missing = await run(["--stack", "dev"], {
      runCommand: async () => {
        throw Object.assign(new Error("spawn pulumi ENOENT"), { code: "ENOENT" });
      },
    });
    expect(missing).toMatchObject({
      code: 2,
      stderr: "verify: the pulumi CLI is not installed (or not on PATH): install it, or use --outputs FILE\n",
    });
  });

  it.each([
    [["--outputs", "-"], "not json", "verify: stdin is not JSON"],
    [["--outputs", "-"], '{"accessCheck": {"expectation": "maybe", "results": []}}', "accessCheck.expectation"],
    [["--outputs", "-"], '{"accessCheck": "[secret]"}', "accessCheck is a secret here"],
    [["--outputs", "/nonexistent/outputs.json"], "", "verify: cannot read /nonexistent/outputs.json: ENOENT"],
    [[], "", "give exactly one source: --stack NAME, --local, or --outputs FILE"],
    [["--local", "--outputs", "x"], "", "give exactly one source"],
  ])("exits 2 with a clear message on bad input %j", async (argv, stdin, message) => {
    const result = await run(argv, { stdin });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it("reads a real local run's outputs.json from a file (tests/fixtures/verify/local-outputs.json): exit 0", async () => {
    const result = await run(["--outputs", "tests/fixtures/verify/local-outputs.json"]);
    expect(result).toMatchObject({ code: 0, stderr: "" });
    expect(result.stdout).toContain("✓ token-resource-id");
    expect(result.stdout).not.toContain("stored verdict");
  });

  it("calls out a tampered per-result verdict even when the overall verdict agrees with the evidence", async () => {
    const bad = { ...PROBE, token: { ...PROBE.token, claims: { ...PROBE.token?.claims, tid: "t-evil" } } };
    const stored = JSON.parse(outputs(PROBE, false));
    stored.accessCheck.results.push({ ...stored.accessCheck.results[0], vm: "vm1", probe: bad, verified: true });
    const result = await run(["--outputs", "-", "--json"], { stdin: JSON.stringify(stored) });
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout)).toMatchObject({
      verified: false,
      storedVerdictMismatch: true,
      results: [
        { vm: "vm0", verified: true },
        { vm: "vm1", verified: false },
      ],
    });
    const text = await run(["--outputs", "-"], { stdin: JSON.stringify(stored) });
    expect(text.stdout).toContain("Stored per-result verdicts disagree with the evidence for: vm0 (user), vm1 (user).");
    expect(text.stdout).not.toContain("The stored verdict said");
  });

  it("verifies the negative control (expectation denied) from a 403 AuthorizationFailed", async () => {
    const deniedProbe = {
      ...PROBE,
      ok: false,
      resourceGroup: { status: 403, attempts: 4, body: { error: { code: "AuthorizationFailed", message: "no" } } },
      permissions: null,
      error: { stage: "arm", status: 403, code: "AuthorizationFailed", message: "no" },
    };
    const stored = JSON.parse(outputs(deniedProbe));
    stored.accessCheck.expectation = "denied";
    const result = await run(["--outputs", "-", "--markdown"], { stdin: JSON.stringify(stored) });
    expect(result.code).toBe(0);
    expect(result.stdout.split("\n")[0]).toBe(
      "### Access check: VERIFIED: 1 of 1 result(s) proved the expected denial",
    );
    expect(result.stdout).toContain(
      "| vm0 | user | access-denied | ✅ | ARM denied the read: 403 AuthorizationFailed |",
    );
  });

  it("says when a stack's accessCheck is a secret, with the command that fetches it", async () => {
    const result = await run(["--stack", "dev"], {
      runCommand: async () => JSON.stringify({ accessCheck: "[secret]", resourceGroupName: "rg-1" }),
    });
    expect(result).toMatchObject({
      code: 2,
      stderr:
        "verify: stack dev: accessCheck is a secret here; save it with `pulumi stack output accessCheck --json --show-secrets --stack dev > access-check.json` and run npm run verify -- --outputs access-check.json\n",
    });
  });

  it("reports the first line of pulumi's own error when the stack cannot be read", async () => {
    const result = await run(["--stack", "nope"], {
      runCommand: async () => {
        throw Object.assign(new Error("Command failed"), {
          code: 255,
          stderr: "error: no stack named 'nope' found\nmore detail\n",
        });
      },
    });
    expect(result).toMatchObject({
      code: 2,
      stderr: "verify: pulumi stack output --json --stack nope failed: error: no stack named 'nope' found\n",
    });
  });

  it.each([
    [["--outputs", "-"], "  \n", "verify: stdin is empty: expected the JSON that pulumi stack output --json prints\n"],
    [
      ["--outputs", "-"],
      '{"resourceGroupName": "rg-1", "vms": []}',
      "verify: stdin holds stack outputs but no accessCheck: the deployment did not record an access check (deploy again, then verify)\n",
    ],
    [
      ["--outputs", "-"],
      '{"accessCheck": {"expectation": "granted", "results": [{"vm": 7, "identity": "user", "expected": {}}]}}',
      "verify: stdin does not hold an accessCheck output of the expected shape: accessCheck.results.0.vm: Expected string, received number; accessCheck.results.0.expected.principalId: Required; accessCheck.results.0.expected.tenantId: Required; accessCheck.results.0.expected.resourceGroupId: Required; accessCheck.results.0.expected.resource: Required\n",
    ],
    [
      ["--outputs", "-"],
      '{"accessCheck": {"expectation": "granted", "results": []}, "vms": "vm0"}',
      "verify: stdin does not hold an accessCheck output of the expected shape: vms: Expected array, received string\n",
    ],
    [
      ["--outputs", "-"],
      '{"accessCheck": {"expectation": "granted", "results": []}, "vms": [{"name": "vm0", "publicIp": "203.0.113.7"}]}',
      "verify: stdin does not hold an accessCheck output of the expected shape: vms.0: publicIp and sshCommand come together (a check over SSH) or not at all (through Run Command)\n",
    ],
    [
      ["--outputs", "-"],
      '{"accessCheck": {"expectation": "granted", "results": []}, "vms": [{"name": "vm0", "publicIp": "203.0.113.7", "sshCommand": "ssh azureuser@203.0.113.7"}, {"name": "vm1"}]}',
      "verify: stdin does not hold an accessCheck output of the expected shape: vms: every VM has publicIp and sshCommand (a check over SSH), or none has (through Run Command)\n",
    ],
    [["--stack", ""], "", "verify: --stack needs a stack name, such as --stack dev\n"],
    [["--outputs", "-", "--json", "--markdown"], "{}", "verify: choose one format: --json or --markdown\n"],
  ])("exits 2 with exactly this message for %j", async (argv, stdin, message) => {
    expect(await run(argv, { stdin })).toMatchObject({ code: 2, stdout: "", stderr: message });
  });

  it("exits 2 on an unknown flag, naming it", async () => {
    const result = await run(["--outputs", "-", "--yaml"], { stdin: "{}" });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("unknown option '--yaml'");
  });

  it("runs as a command: npx tsx verify/cli.ts exits 1 and prints the verdict", async () => {
    const dir = mkdtempSync(join(tmpdir(), "verify-cmd-"));
    const file = join(dir, "outputs.json");
    writeFileSync(file, outputs({ ...PROBE, ok: false, resourceGroup: { status: 403, attempts: 3, body: {} } }));
    const result = await promisify(execFile)("node", ["--import", "tsx", "verify/cli.ts", "--outputs", file]).catch(
      (error) => error,
    );
    expect(result.code).toBe(1);
    expect(String(result.stdout)).toContain("NOT VERIFIED: 0 of 1 result(s) proved the expected access");
  });
});
