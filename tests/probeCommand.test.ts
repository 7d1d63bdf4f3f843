import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { probeCommandLine, shellQuote } from "../components/probeCommand";

const SETTINGS = {
  armEndpoint: "https://management.azure.com",
  clientId: "c1000000-0000-4000-8000-000000000001",
  subscriptionId: "11111111-1111-4111-8111-111111111111",
  resourceGroup: "vmia-rg0001",
  deadlineSeconds: 600,
};

describe("probeCommandLine", () => {
  it("puts every setting inline before bash -s, the client ID included for a user-assigned identity", () => {
    expect(probeCommandLine(SETTINGS, "granted")).toBe(
      "ARM_ENDPOINT='https://management.azure.com' MI_CLIENT_ID='c1000000-0000-4000-8000-000000000001' " +
        "SUBSCRIPTION_ID='11111111-1111-4111-8111-111111111111' RESOURCE_GROUP='vmia-rg0001' PROBE_DEADLINE_SECONDS='600' " +
        "bash -s",
    );
  });

  it("selects no identity for the system-assigned one, and passes an IMDS base only when configured", () => {
    const line = probeCommandLine({ ...SETTINGS, clientId: undefined, imdsEndpoint: "http://127.0.0.9:80" }, "granted");
    expect(line).not.toContain("MI_CLIENT_ID");
    expect(line.startsWith("AZURE_POD_IDENTITY_AUTHORITY_HOST='http://127.0.0.9:80' ARM_ENDPOINT=")).toBe(true);
  });

  it.each([
    ["granted", 0, 0],
    // Not verified when access is expected: the command fails, so the next `pulumi up` probes again.
    ["granted", 1, 1],
    ["granted", 2, 2],
    ["denied", 0, 0],
    // Denial proven: the evidence must reach the judge, so the command succeeds.
    ["denied", 1, 0],
    ["denied", 2, 2],
    ["denied", 7, 7],
  ] as const)(
    "expecting %s, turns the probe's exit %i into the command's exit %i",
    (expectation, probeExit, commandExit) => {
      const line = probeCommandLine(SETTINGS, expectation);
      let status = 0;
      try {
        execFileSync("bash", ["-c", line], { input: `exit ${probeExit}\n`, stdio: ["pipe", "ignore", "ignore"] });
      } catch (error) {
        status = (error as { status: number }).status;
      }
      expect(status).toBe(commandExit);
    },
  );

  it("hands the probe its settings through a real shell, quotes and all", () => {
    const line = probeCommandLine({ ...SETTINGS, resourceGroup: "it's; $(rm -rf /)" }, "granted");
    const seen = execFileSync("bash", ["-c", line], {
      input: 'printf "%s|%s" "$RESOURCE_GROUP" "$MI_CLIENT_ID"\n',
    }).toString();
    expect(seen).toBe("it's; $(rm -rf /)|c1000000-0000-4000-8000-000000000001");
  });
});

describe("shellQuote", () => {
  it("closes, escapes and reopens embedded single quotes", () => {
    expect(shellQuote("a'b")).toBe(`'a'\\''b'`);
  });
});
