import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { resolve } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { AnalyzerClient } from "@pulumi/pulumi/proto/analyzer_grpc_pb";
import {
  AnalyzeRequest,
  type AnalyzeResponse,
  type AnalyzerInfo,
  AnalyzerResource,
  AnalyzerResourceOptions,
  AnalyzeStackRequest,
  EnforcementLevel,
} from "@pulumi/pulumi/proto/analyzer_pb";
import { Empty } from "google-protobuf/google/protobuf/empty_pb";
import { Struct } from "google-protobuf/google/protobuf/struct_pb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { securityPolicies } from "../../policy/policies";

/**
 * The pack as Pulumi's engine boots a nodejs policy pack (NewPolicyAnalyzer in
 * pkg/resource/plugin/analyzer_plugin.go, and the pulumi-analyzer-policy script): in the pack's
 * folder, `node -e "require.resolve('@pulumi/pulumi/cmd/run-policy-pack')"` (found in the
 * repository root's node_modules), then `node <run-policy-pack> <engine address> .`, which
 * type-checks and loads policy/index.ts with ts-node, serves the Analyzer gRPC service and prints
 * its port. The engine's calls are made here over gRPC: what `pulumi preview --policy-pack policy`
 * would send, without the CLI.
 */
const POLICY_DIR = resolve(__dirname, "..", "..", "policy");

let analyzer: ChildProcess | undefined;
let client: AnalyzerClient;
let stderr = "";
// The generated enum is a plain object (no reverse mapping): level number -> name.
const LEVEL_NAMES = Object.fromEntries(Object.entries(EnforcementLevel).map(([name, level]) => [level, name]));

function bootAnalyzer(): Promise<number> {
  const runPolicyPack = execFileSync(
    process.execPath,
    ["-e", "console.log(require.resolve('@pulumi/pulumi/cmd/run-policy-pack'))"],
    { cwd: POLICY_DIR, encoding: "utf8" },
  ).trim();
  const child = spawn(process.execPath, [runPolicyPack, "127.0.0.1:1", "."], {
    cwd: POLICY_DIR,
    stdio: ["ignore", "pipe", "pipe"],
  });
  analyzer = child;
  return new Promise((resolvePort, reject) => {
    let stdout = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      const line = /^(\d+)\s*$/m.exec(stdout);
      if (line) resolvePort(Number(line[1]));
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on("exit", (code) => reject(new Error(`the analyzer exited (${code}) before serving: ${stderr}${stdout}`)));
  });
}

/** One unary call (the generated client's methods are overloaded, so the response type is named here). */
function call<Res>(method: unknown, request: unknown): Promise<Res> {
  const unary = method as (req: unknown, cb: (error: grpc.ServiceError | null, res: Res) => void) => unknown;
  return new Promise<Res>((resolveCall, reject) =>
    unary.call(client, request, (error, response) => (error ? reject(error) : resolveCall(response))),
  );
}

function analyze(type: string, name: string, properties: Record<string, unknown>): Promise<AnalyzeResponse> {
  const request = new AnalyzeRequest();
  request.setType(type);
  request.setName(name);
  request.setUrn(`urn:pulumi:dev::vm-identity-access::${type}::${name}`);
  request.setProperties(Struct.fromJavaScript(properties as Parameters<typeof Struct.fromJavaScript>[0]));
  request.setOptions(new AnalyzerResourceOptions());
  return call<AnalyzeResponse>(client.analyze, request);
}

/** What the engine shows: the analyzer puts the policy's description before each violation's message. */
function shown(policyName: string, message: string): string {
  const policy = securityPolicies.find((candidate) => candidate.name === policyName);
  return `${policy?.description}\n${message}`;
}

function diagnostics(response: AnalyzeResponse): Array<[string, string, string]> {
  return response
    .getDiagnosticsList()
    .map((d) => [d.getPolicyname(), LEVEL_NAMES[d.getEnforcementlevel()], d.getMessage()]);
}

describe("the pack under Pulumi's analyzer host (policy/ with the root node_modules)", () => {
  beforeAll(async () => {
    const port = await bootAnalyzer();
    client = new AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  });

  afterAll(() => {
    client?.close();
    analyzer?.kill();
  });

  it("loads from the folder: PulumiPolicy.yaml, package.json (main index.ts, version), every policy", async () => {
    const info = await call<AnalyzerInfo>(client.getAnalyzerInfo, new Empty());
    expect(info.getName()).toBe("vm-identity-access-security");
    expect(info.getVersion()).toBe("0.1.0");
    expect(info.getPoliciesList().map((p) => [p.getName(), LEVEL_NAMES[p.getEnforcementlevel()]])).toEqual([
      ["nsg-no-ssh-from-internet", "MANDATORY"],
      ["vm-linux-ssh-keys-only", "MANDATORY"],
      ["vm-trusted-launch", "MANDATORY"],
      ["public-ip-standard-static", "MANDATORY"],
      ["role-assignment-reader-at-resource-group", "MANDATORY"],
      ["remote-command-pinned-host-key", "MANDATORY"],
      ["run-command-no-inbound-path", "MANDATORY"],
      ["stack-at-most-10-vms", "ADVISORY"],
    ]);
  });

  it("rejects an NSG that opens SSH to 0.0.0.0/0, naming the policy", async () => {
    const rule = {
      name: "ssh",
      access: "Allow",
      direction: "Inbound",
      protocol: "Tcp",
      priority: 100,
      sourceAddressPrefix: "0.0.0.0/0",
      destinationPortRange: "22",
    };
    const response = await analyze("azure-native:network:NetworkSecurityGroup", "open-nsg", {
      resourceGroupName: "rg",
      securityRules: [rule],
    });
    expect(diagnostics(response)).toEqual([
      [
        "nsg-no-ssh-from-internet",
        "MANDATORY",
        shown(
          "nsg-no-ssh-from-internet",
          'network security group "open-nsg": securityRules[0] ("ssh") allows inbound SSH (port 22, destinationPortRange "22") from the Internet: sourceAddressPrefix "0.0.0.0/0"; allowed: a specific network such as "203.0.113.7/32", never *, Internet, Any or a /0 prefix',
        ),
      ],
    ]);
    const narrow = await analyze("azure-native:network:NetworkSecurityGroup", "nsg", {
      resourceGroupName: "rg",
      securityRules: [{ ...rule, sourceAddressPrefix: "203.0.113.7/32" }],
    });
    expect(diagnostics(narrow)).toEqual([]);
  });

  it("skips values unknown during preview and judges the known ones", async () => {
    const unknown = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
    const response = await analyze("azure-native:authorization:RoleAssignment", "vmia-user-reader", {
      scope: unknown,
      principalId: unknown,
      roleDefinitionId: unknown,
      principalType: "User",
    });
    expect(diagnostics(response)).toEqual([
      [
        "role-assignment-reader-at-resource-group",
        "MANDATORY",
        shown(
          "role-assignment-reader-at-resource-group",
          'role assignment "vmia-user-reader": principalType is "User"; allowed: "ServicePrincipal"',
        ),
      ],
    ]);
  });

  it("reports more than 10 VMs as advisory at the end of the stack", async () => {
    const request = new AnalyzeStackRequest();
    request.setResourcesList(
      Array.from({ length: 11 }, (_, index) => {
        const resource = new AnalyzerResource();
        resource.setType("azure-native:compute:VirtualMachine");
        resource.setName(`vm${index}`);
        resource.setUrn(`urn:pulumi:dev::vm-identity-access::azure-native:compute:VirtualMachine::vm${index}`);
        resource.setProperties(Struct.fromJavaScript({}));
        resource.setOptions(new AnalyzerResourceOptions());
        return resource;
      }),
    );
    const response = await call<AnalyzeResponse>(client.analyzeStack, request);
    expect(diagnostics(response)).toEqual([
      [
        "stack-at-most-10-vms",
        "ADVISORY",
        shown(
          "stack-at-most-10-vms",
          "the stack has 11 virtual machines (azure-native:compute:VirtualMachine); allowed: at most 10",
        ),
      ],
    ]);
  });
});
