import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { engineBinDir } from "../../local/engineEnv";
import { throwawayProject } from "../engine-tier/support";

/**
 * The pack under the real engine: `pulumi preview --policy-pack <repo>/policy` with the CLI that
 * `npm run engine:build` puts in .engine/bin, on a throwaway project whose NSG opens SSH to the
 * Internet, and on one that keeps the stack's defaults. azure-native is a stand-in that only echoes
 * inputs (fixtures/engine/echoAzureNative.js): a preview needs nothing more, and the analyzer sees
 * what it would see with the real provider, the checked inputs.
 *
 * Skipped when .engine/bin/pulumi does not exist: building the CLI needs Go and the Go module proxy,
 * which `npm test` never requires (engine/README.md). Run with the engine tier: npm run test:engine.
 */
const exec = promisify(execFile);
const root = path.join(__dirname, "..", "..");
const pulumiBin = path.join(engineBinDir(root), "pulumi");
const azureNativeVersion: string = JSON.parse(
  fs.readFileSync(path.join(root, "node_modules", "@pulumi", "azure-native", "package.json"), "utf8"),
).version;

const program = (source: string, extra = "") => `
const network = require("@pulumi/azure-native/network");

new network.NetworkSecurityGroup("web-nsg", {
  resourceGroupName: "rg",
  location: "eastus",
  securityRules: [{
    name: "ssh",
    priority: 100,
    direction: "Inbound",
    access: "Allow",
    protocol: "Tcp",
    sourceAddressPrefix: ${JSON.stringify(source)},
    sourcePortRange: "*",
    destinationAddressPrefix: "*",
    destinationPortRange: "22",
  }],
});
${extra}
`;

const STANDARD_IP = `new network.PublicIPAddress("ip0", {
  resourceGroupName: "rg",
  sku: { name: "Standard", tier: "Regional" },
  publicIPAllocationMethod: "Static",
});`;

describe.skipIf(!fs.existsSync(pulumiBin))(
  "the pack under the real engine (pulumi preview --policy-pack; skipped without .engine/bin/pulumi: npm run engine:build)",
  () => {
    let tmp: string;
    let project: string;
    let env: NodeJS.ProcessEnv;
    let remove: (() => void) | undefined;

    const preview = async (source: string, extra = "") => {
      fs.writeFileSync(path.join(project, "index.js"), program(source, extra));
      try {
        const { stdout } = await exec(
          pulumiBin,
          ["preview", "--non-interactive", "--stack", "policy", "--policy-pack", path.join(root, "policy")],
          { cwd: project, env, maxBuffer: 16 << 20 },
        );
        return { code: 0, stdout };
      } catch (e) {
        const err = e as Error & { code?: number; stdout?: string; stderr?: string };
        return { code: err.code ?? 1, stdout: `${err.stdout ?? ""}\n${err.stderr ?? ""}` };
      }
    };

    beforeAll(async () => {
      ({ tmp, project, env, remove } = throwawayProject("policy-engine", "policy-engine"));
      const wrapper = path.join(tmp, "pulumi-resource-azure-native");
      const provider = path.join(__dirname, "fixtures", "engine", "echoAzureNative.js");
      fs.writeFileSync(wrapper, `#!/bin/sh\nexec node ${JSON.stringify(provider)} "$@"\n`, { mode: 0o755 });
      await exec("bash", [path.join(root, "engine", "installPlugin.sh"), "azure-native", azureNativeVersion, wrapper], {
        env,
      });
      await exec(pulumiBin, ["stack", "init", "policy", "--non-interactive"], { cwd: project, env });
    }, 120_000);

    afterAll(() => {
      remove?.();
    });

    it("rejects an NSG that opens SSH to 0.0.0.0/0, naming the policy", async () => {
      const result = await preview("0.0.0.0/0");
      expect(result.code).not.toBe(0);
      expect(result.stdout).toContain("❌ vm-identity-access-security@v0.1.0");
      expect(result.stdout).toContain(
        "[mandatory]  nsg-no-ssh-from-internet  (azure-native:network:NetworkSecurityGroup: web-nsg)",
      );
      expect(result.stdout).toContain(
        'network security group "web-nsg": securityRules[0] ("ssh") allows inbound SSH (port 22, destinationPortRange "22") from the Internet: sourceAddressPrefix "0.0.0.0/0"',
      );
    }, 180_000);

    it("passes the stack's defaults: SSH from one CIDR, a Standard static public IP", async () => {
      const result = await preview("203.0.113.7/32", STANDARD_IP);
      expect(result.stdout).toContain("✅ vm-identity-access-security@v0.1.0");
      expect(result.stdout).not.toContain("mandatory");
      expect(result.code).toBe(0);
    }, 180_000);
  },
);
