import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runLocalCli } from "../../local/cli";
import { deployLocal } from "../../local/deploy";
import { programWithSshOpenToAll } from "../support/editedProgram";

const OPEN_SSH = join(__dirname, "fixtures", "openSsh", "index.ts");
const WIDE_ROLE = join(__dirname, "fixtures", "wideRole", "index.ts");
const MESSAGE =
  'network security group "open-nsg": securityRules[0] ("ssh-from-anywhere") allows inbound SSH (port 22, destinationPortRange "22") from the Internet: sourceAddressPrefix "0.0.0.0/0"; allowed: a specific network such as "203.0.113.7/32", never *, Internet, Any or a /0 prefix';

/** npm run local's policy pass on a program that opens SSH to 0.0.0.0/0: rejected before anything exists. */
describe("npm run local rejects a program that opens SSH to the Internet", () => {
  const stateDir = mkdtempSync(join(tmpdir(), "policy-runner-"));
  afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

  it("deployLocal: the preview's mandatory violation names the policy, and nothing is created", async () => {
    const result = await deployLocal({ programPath: OPEN_SSH, stateDir });
    expect(result.ok).toBe(false);
    expect(result.policyViolations).toEqual([
      { policy: "nsg-no-ssh-from-internet", enforcementLevel: "mandatory", resource: "open-nsg", message: MESSAGE },
    ]);
    expect(result.error).toBe(`policy violation: nsg-no-ssh-from-internet (mandatory) open-nsg: ${MESSAGE}`);
    expect(result.verdict).toBe("REJECTED BY POLICY: 1 mandatory violation (nsg-no-ssh-from-internet)");
    // Not even the resource group: the policy ran before the first resource was created.
    expect(result.timeline).toEqual([]);
    expect(result.outputs).toEqual({});
  });

  it("the CLI prints one line per violation and exits 1 without a VERIFIED line", async () => {
    let stdout = "";
    let stderr = "";
    const code = await runLocalCli(["--state-dir", stateDir], {
      stdout: (text) => {
        stdout += text;
      },
      stderr: (text) => {
        stderr += text;
      },
      deploy: (opts) => deployLocal({ ...opts, programPath: OPEN_SSH }),
    });
    expect(code).toBe(1);
    expect(stdout).toContain(
      `\nPolicy violations (policy/):\n  nsg-no-ssh-from-internet (mandatory) open-nsg: ${MESSAGE}\n`,
    );
    expect(stdout).toContain("\nREJECTED BY POLICY: 1 mandatory violation (nsg-no-ssh-from-internet)\n");
    expect(stdout).not.toMatch(/^VERIFIED/m);
    expect(stderr).toBe(`error: policy violation: nsg-no-ssh-from-internet (mandatory) open-nsg: ${MESSAGE}\n`);
  });
});

/** A violation the preview cannot see (an unknown scope) is caught as the resource registers. */
describe("npm run local rejects a violation that only shows once values are known", () => {
  const stateDir = mkdtempSync(join(tmpdir(), "policy-runner-"));
  afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

  it("the role assignment at subscription scope is refused before ARM sees it; what came before exists", async () => {
    const result = await deployLocal({ programPath: WIDE_ROLE, stateDir });
    expect(result.ok).toBe(false);
    const subscription = (result.policyViolations ?? [])[0]?.message.match(/scope is "(\/subscriptions\/[^"]+)"/)?.[1];
    expect(subscription).toMatch(/^\/subscriptions\/[0-9a-f-]{36}$/);
    const message = `role assignment "wide-reader": scope is "${subscription}"; allowed: a resource group, /subscriptions/{subscriptionId}/resourceGroups/{name}`;
    expect(result.policyViolations).toEqual([
      {
        policy: "role-assignment-reader-at-resource-group",
        enforcementLevel: "mandatory",
        resource: "wide-reader",
        message,
      },
    ]);
    expect(result.verdict).toBe("REJECTED BY POLICY: 1 mandatory violation (role-assignment-reader-at-resource-group)");
    expect(result.error).toBe(
      `policy violation: role-assignment-reader-at-resource-group (mandatory) wide-reader: ${message}`,
    );
    expect(result.timeline.map((event) => [event.type, event.name, event.ok])).toEqual([
      ["azure-native:resources:ResourceGroup", "wide-rg", true],
    ]);
  });
});

/**
 * The edit a new user might try: the SSH rule of components/network.ts opened to "*". The portable
 * guest's SSH is on a random port, not 22: the policy knows it is SSH by the port the check connects
 * to, which is known only once the command's connection is, so the stack validation rejects the run at
 * its end (on port 22, as with real guests, the rule is refused before it exists).
 */
describe("npm run local rejects the stack's own SSH rule opened to *", () => {
  const stateDir = mkdtempSync(join(tmpdir(), "policy-runner-"));
  const program = programWithSshOpenToAll();
  afterAll(() => {
    program.remove();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it("naming the rule, its port and the check that connects there", async () => {
    const result = await deployLocal({ programPath: program.programPath, stateDir });
    const port = /port (\d+),/.exec(result.policyViolations?.[0]?.message ?? "")?.[1];
    expect(Number(port)).toBeGreaterThan(1024);
    const message = `network security group "vmia-nsg": securityRules[0] ("allow-ssh-from-allowed-cidr") allows inbound SSH (port ${port}, where remote command "vmia-check-0-user" connects over SSH, destinationPortRange "${port}") from the Internet: sourceAddressPrefix "*"; allowed: a specific network such as "203.0.113.7/32", never *, Internet, Any or a /0 prefix`;
    expect(result.policyViolations).toEqual([
      { policy: "nsg-no-ssh-from-internet", enforcementLevel: "mandatory", resource: "(stack)", message },
    ]);
    expect(result.ok).toBe(false);
    expect(result.verdict).toBe("REJECTED BY POLICY: 1 mandatory violation (nsg-no-ssh-from-internet)");
    expect(result.error).toBe(`policy violation: nsg-no-ssh-from-internet (mandatory) (stack): ${message}`);
  });
});
