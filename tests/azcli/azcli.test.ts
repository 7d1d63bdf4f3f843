import { execFile, execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runLocalCli } from "../../local/cli";
import { cloudDir } from "../../local/engineStack";
import { type RunningService, runningService } from "../../local/service";

/**
 * The Azure CLI tier (`npm run test:azcli`; Python needed, never part of npm test): Microsoft's own
 * azure-cli, the version tests/azcli/requirements.txt pins, installed by tests/azcli/install.sh into a
 * cached venv, against Local Azure run as the service, through the environment `npm run -s local --
 * env` prints. What a learner of the tutorial types (../shared/seeds: "Use a Linux VM user-assigned
 * managed identity to access Azure Resource Manager"): az cloud register by discovery, the deployer's
 * az login --service-principal, az identity create, az vm identity assign, az role assignment create
 * --assignee <principalId> --role Reader --scope <resource group>, then on the VM's behalf az login
 * --identity through that VM's IMDS: its reads allowed, a write refused with AuthorizationFailed.
 * Every address az connects to is checked to be on loopback.
 */

const REPO = resolve(__dirname, "../..");
const stateDir = mkdtempSync(join(tmpdir(), "azcli-tier-"));
const NET_AUDIT_LOG = join(stateDir, "net-audit.log");
const READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
/** The subscription's display name, as Local Azure's GET /subscriptions gives it. */
const SUBSCRIPTION_NAME = "Local Azure";

let azPath = "";
let service: RunningService;
/** The environment of a shell that ran eval "$(npm run -s local -- env)", plus the tier's network audit. */
let shellEnv: NodeJS.ProcessEnv;
let resourceGroup = "";
let vmName = "";
let imdsEndpoint = "";
const uamiName = "uami-tutorial";
let uami: { id: string; clientId: string; principalId: string; tenantId: string };

interface AzRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** One az command in `env`, as a shell would run it. */
function az(env: NodeJS.ProcessEnv, ...args: string[]): Promise<AzRun> {
  return new Promise((done) =>
    execFile(azPath, args, { env, timeout: 120_000 }, (error, stdout, stderr) =>
      done({ code: error ? Number((error as { code?: number }).code ?? -1) : 0, stdout, stderr }),
    ),
  );
}

/** az's JSON answer, or the whole run when az failed (so a failure shows what az said). */
async function azJson<T>(env: NodeJS.ProcessEnv, ...args: string[]): Promise<T> {
  const run = await az(env, ...args, "--output", "json");
  if (run.code !== 0) throw new Error(`az ${args.join(" ")} exited ${run.code}:\n${run.stderr}`);
  return JSON.parse(run.stdout) as T;
}

/** The variables `eval "$(npm run -s local -- env)"` leaves in a shell that had none of Azure's or Pulumi's. */
function evaluatedEnv(): NodeJS.ProcessEnv {
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(
      ([name]) => !/^(AZURE_|PULUMI_|LOCAL_AZURE_|REQUESTS_CA|SSL_CERT|NODE_EXTRA)/.test(name),
    ),
  );
  const dump = execFileSync("bash", ["-c", 'eval "$(npm run -s local -- --state-dir "$STATE" env)" && env -0'], {
    cwd: REPO,
    env: { ...clean, STATE: stateDir },
  }).toString();
  return Object.fromEntries(
    dump
      .split("\0")
      .filter((line) => line.includes("="))
      .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
  );
}

/**
 * On its first run in a config folder az asks Microsoft's storage account for its newest version
 * (azure/cli/core/util.py handle_version_update -> check_connectivity, no setting turns it off). The
 * tier sends that one request to a closed loopback port as its proxy, so it fails at once and nothing
 * leaves loopback; Local Azure (127.0.0.0/8) is reached directly.
 */
const NO_EGRESS = { HTTPS_PROXY: "http://127.0.0.1:9", HTTP_PROXY: "http://127.0.0.1:9", NO_PROXY: "127.0.0.0/8" };

async function cli(...argv: string[]): Promise<string> {
  let out = "";
  const code = await runLocalCli(["--state-dir", stateDir, ...argv], {
    stdout: (text) => {
      out += text;
    },
    stderr: (text) => {
      out += text;
    },
  });
  if (code !== 0) throw new Error(`npm run local -- ${argv.join(" ")} exited ${code}:\n${out}`);
  return out;
}

beforeAll(async () => {
  // Cached after the first run on a machine (stamped by version): then it only prints the path.
  azPath = execFileSync("bash", [join(__dirname, "install.sh")], { encoding: "utf8" }).trim();
  // No propagation delays: this tier checks what az sends and reads, not RBAC's timing.
  await cli("start", "--rbac-delay", "0", "--identity-attach-delay", "0");
  service = runningService(stateDir) as RunningService;
  // The VM the tutorial starts from: the program's, with only a system-assigned identity.
  await cli("--identity", "system");
  const outputs = JSON.parse(readFileSync(join(stateDir, "outputs.json"), "utf8")) as {
    resourceGroupName: string;
    vms: Array<{ name: string }>;
  };
  resourceGroup = outputs.resourceGroupName;
  vmName = outputs.vms[0].name;
  imdsEndpoint = (runningService(stateDir) as RunningService).kept.vms[0].imdsEndpoint;
  shellEnv = {
    ...evaluatedEnv(),
    ...NO_EGRESS,
    PYTHONPATH: join(__dirname, "netaudit"),
    NET_AUDIT_LOG,
  };
}, 1_800_000);

afterAll(async () => {
  await cli("stop").catch(() => undefined);
  rmSync(stateDir, { recursive: true, force: true });
}, 60_000);

/** The VM's own az: its own config folder, and IMDS where the VM's is (the documented override). */
const onTheVm = () => ({
  ...shellEnv,
  AZURE_CONFIG_DIR: join(stateDir, "azure-cli-on-the-vm"),
  AZURE_POD_IDENTITY_AUTHORITY_HOST: imdsEndpoint,
});

const registerCloud = (env: NodeJS.ProcessEnv) =>
  az(env, "cloud", "register", "--name", "LocalAzure", "--endpoint-resource-manager", service.kept.armEndpoint);

describe("Microsoft's Azure CLI against Local Azure", () => {
  it("az cloud register learns every endpoint from ARM's /metadata/endpoints", async () => {
    const registered = await registerCloud(shellEnv);
    expect(registered).toEqual({ code: 0, stdout: "", stderr: "" });
    await az(shellEnv, "cloud", "set", "--name", "LocalAzure");
    const cloud = await azJson<{ name: string; isActive: boolean; endpoints: Record<string, string> }>(
      shellEnv,
      "cloud",
      "show",
    );
    expect(cloud.name).toBe("LocalAzure");
    expect(cloud.isActive).toBe(true);
    // Given on the command line: ARM's endpoint. Everything else az learnt from
    // {arm}/metadata/endpoints?api-version=2022-09-01 (azure/cli/command_modules/cloud/custom.py):
    // authentication.loginEndpoint is the authority it signs in at, audiences[0] the resource it asks
    // tokens for, microsoftGraphResourceId Graph's URL and audience at once.
    expect(cloud.endpoints.resourceManager).toBe(service.kept.armEndpoint);
    expect(cloud.endpoints.activeDirectory).toBe(service.kept.authorityHost);
    expect(cloud.endpoints.activeDirectoryResourceId).toBe(`${service.kept.armEndpoint}/`);
    expect(cloud.endpoints.management).toBe(`${service.kept.armEndpoint}/`);
    expect(cloud.endpoints.microsoftGraphResourceId).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/$/);
  });

  it("the deployer signs in with its client secret and finds its subscription", async () => {
    const accounts = await azJson<Array<Record<string, unknown>>>(
      shellEnv,
      "login",
      "--service-principal",
      "--username",
      String(shellEnv.AZURE_CLIENT_ID),
      // One argument: a client secret may start with "-" (az's help: "Use --password=secret if the
      // first character of the password is '-'").
      `--password=${shellEnv.AZURE_CLIENT_SECRET}`,
      "--tenant",
      String(shellEnv.AZURE_TENANT_ID),
    );
    expect(accounts).toEqual([
      {
        cloudName: "LocalAzure",
        homeTenantId: service.kept.tenantId,
        id: service.kept.subscriptionId,
        isDefault: true,
        managedByTenants: [],
        name: SUBSCRIPTION_NAME,
        state: "Enabled",
        tenantId: service.kept.tenantId,
        user: { name: service.kept.deployer.clientId, type: "servicePrincipal" },
      },
    ]);
  });

  it("az identity create, as the tutorial prints it", async () => {
    const created = await azJson<Record<string, string>>(
      shellEnv,
      "identity",
      "create",
      "-g",
      resourceGroup,
      "-n",
      uamiName,
    );
    uami = { id: created.id, clientId: created.clientId, principalId: created.principalId, tenantId: created.tenantId };
    expect(created).toMatchObject({
      id: `/subscriptions/${service.kept.subscriptionId}/resourcegroups/${resourceGroup}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${uamiName}`,
      name: uamiName,
      resourceGroup,
      tenantId: service.kept.tenantId,
      type: "Microsoft.ManagedIdentity/userAssignedIdentities",
    });
    expect(created.clientId).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.principalId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("az vm identity assign attaches it beside the VM's system-assigned identity", async () => {
    const assigned = await azJson<{ systemAssignedIdentity: string; userAssignedIdentities: Record<string, unknown> }>(
      shellEnv,
      "vm",
      "identity",
      "assign",
      "-g",
      resourceGroup,
      "-n",
      vmName,
      "--identities",
      uami.id,
    );
    expect(assigned.systemAssignedIdentity).toMatch(/^[0-9a-f-]{36}$/);
    expect(assigned.userAssignedIdentities).toEqual({
      [uami.id]: { clientId: uami.clientId, principalId: uami.principalId },
    });
  });

  it("az role assignment create --assignee <principalId> finds the principal in Graph and grants Reader", async () => {
    // A new identity reaches the directory after a replication delay, on Azure as here (Learn, "Assign
    // Azure roles using Azure CLI": use --assignee-object-id with --assignee-principal-type, or wait).
    // Wait as a user would: until az itself finds its service principal in Graph.
    for (let tries = 1; (await az(shellEnv, "ad", "sp", "show", "--id", uami.principalId)).code !== 0; tries++) {
      if (tries === 60) throw new Error(`the service principal ${uami.principalId} never showed in Graph`);
    }
    const scope = `/subscriptions/${service.kept.subscriptionId}/resourcegroups/${resourceGroup}`;
    const assignment = await azJson<Record<string, string>>(
      shellEnv,
      "role",
      "assignment",
      "create",
      "--assignee",
      uami.principalId,
      "--role",
      "Reader",
      "--scope",
      scope,
    );
    expect(assignment).toMatchObject({
      principalId: uami.principalId,
      // az takes the type from Graph's @odata.type (directoryObjects/getByIds).
      principalType: "ServicePrincipal",
      roleDefinitionId: `/subscriptions/${service.kept.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${READER}`,
      scope,
      type: "Microsoft.Authorization/roleAssignments",
    });
  });

  it("on the VM's behalf, az login --identity gets its token from that VM's IMDS", async () => {
    const vm = onTheVm();
    expect((await registerCloud(vm)).code).toBe(0);
    await az(vm, "cloud", "set", "--name", "LocalAzure");
    const accounts = await azJson<Array<Record<string, unknown>>>(
      vm,
      "login",
      "--identity",
      "--client-id",
      uami.clientId,
    );
    // GET /subscriptions lists the subscription: the identity holds Reader on a resource group in it.
    expect(accounts).toEqual([
      {
        environmentName: "LocalAzure",
        homeTenantId: service.kept.tenantId,
        id: service.kept.subscriptionId,
        isDefault: true,
        managedByTenants: [],
        name: SUBSCRIPTION_NAME,
        state: "Enabled",
        tenantId: service.kept.tenantId,
        user: {
          assignedIdentityInfo: `MSIClient-${uami.clientId}`,
          name: "userAssignedIdentity",
          type: "servicePrincipal",
        },
      },
    ]);
  });

  it("the identity reads its resource group", async () => {
    const group = await azJson<Record<string, unknown>>(onTheVm(), "group", "show", "--name", resourceGroup);
    expect(group).toMatchObject({
      id: `/subscriptions/${service.kept.subscriptionId}/resourceGroups/${resourceGroup}`,
      name: resourceGroup,
      properties: { provisioningState: "Succeeded" },
    });
  });

  it("a write is refused with AuthorizationFailed, as ARM words it", async () => {
    const write = await az(onTheVm(), "group", "update", "--name", resourceGroup, "--set", "tags.probe=write");
    expect(write.code).toBe(1);
    expect(write.stderr).toContain(
      `(AuthorizationFailed) The client '${uami.clientId}' with object id '${uami.principalId}' does not have authorization to perform action 'Microsoft.Resources/subscriptions/resourceGroups/write' over scope '/subscriptions/${service.kept.subscriptionId}/resourcegroups/${resourceGroup}' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
    );
  });
});

/**
 * az vm run-command against Local Azure, as the deployer: the action (invoke) and managed run
 * commands (create, show --instance-view, list, delete), on the program's VM (a portable guest).
 */
describe("az vm run-command against Local Azure", () => {
  /** The VM's disk in the service's kept cloud: HOME of its scripts. */
  const vmHome = () => join(cloudDir(stateDir), "vms", vmName);

  it("az vm run-command invoke --command-id RunShellScript: the result message with stdout and stderr, no exit code", async () => {
    const result = await azJson<{ value: Array<Record<string, unknown>> }>(
      shellEnv,
      "vm",
      "run-command",
      "invoke",
      "-g",
      resourceGroup,
      "-n",
      vmName,
      "--command-id",
      "RunShellScript",
      "--scripts",
      'echo "hello $1"',
      "echo oops >&2; exit 3",
      "--parameters",
      "world",
    );
    expect(result.value).toHaveLength(1);
    expect(result.value[0]).toMatchObject({
      code: "ProvisioningState/succeeded",
      displayStatus: "Provisioning succeeded",
      level: "Info",
      message: "Enable succeeded: \n[stdout]\nhello world\n\n[stderr]\noops\n",
    });
  });

  it("a second invoke while one runs fails with ARM's 409 Conflict, as az prints it", async () => {
    const gate = join(vmHome(), "az-go");
    const first = az(
      shellEnv,
      "vm",
      "run-command",
      "invoke",
      "-g",
      resourceGroup,
      "-n",
      vmName,
      "--command-id",
      "RunShellScript",
      "--scripts",
      `touch "$HOME/az-up"; while [ ! -e "$HOME/az-go" ]; do sleep 0.1; done; echo first`,
    );
    while (!existsSync(join(vmHome(), "az-up"))) await new Promise((resolve) => setTimeout(resolve, 50));
    const second = await az(
      shellEnv,
      "vm",
      "run-command",
      "invoke",
      "-g",
      resourceGroup,
      "-n",
      vmName,
      "--command-id",
      "RunShellScript",
      "--scripts",
      "echo second",
    );
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(
      "(Conflict) Run command extension execution is in progress. Please wait for completion before invoking a run command.",
    );
    writeFileSync(gate, "");
    const done = await first;
    expect(done.code).toBe(0);
    expect(JSON.parse(done.stdout).value[0].message).toBe("Enable succeeded: \n[stdout]\nfirst\n\n[stderr]\n");
  });

  it("az vm run-command create, show --instance-view, list and delete a managed run command", async () => {
    const created = await azJson<Record<string, unknown>>(
      shellEnv,
      "vm",
      "run-command",
      "create",
      "-g",
      resourceGroup,
      "--vm-name",
      vmName,
      "--name",
      "az-rc",
      "--script",
      'echo "created $GREETING $(printf %s "$SECRET" | wc -c)"; exit 4',
      "--parameters",
      "GREETING=hi",
      "--protected-parameters",
      "SECRET=never-shown",
    );
    expect(created).toMatchObject({
      name: "az-rc",
      provisioningState: "Succeeded",
      asyncExecution: false,
      timeoutInSeconds: 0,
      parameters: [{ name: "GREETING", value: "hi" }],
    });
    expect(JSON.stringify(created)).not.toContain("never-shown");
    const shown = await azJson<{ instanceView: Record<string, unknown> }>(
      shellEnv,
      "vm",
      "run-command",
      "show",
      "-g",
      resourceGroup,
      "--vm-name",
      vmName,
      "--name",
      "az-rc",
      "--instance-view",
    );
    expect(shown.instanceView).toMatchObject({
      executionState: "Failed",
      executionMessage: "Execution failed: failed to execute command: command terminated with exit status=4",
      exitCode: 4,
      output: "created hi 11\n",
      error: "",
    });
    const plain = await azJson<Record<string, unknown>>(
      shellEnv,
      "vm",
      "run-command",
      "show",
      "-g",
      resourceGroup,
      "--vm-name",
      vmName,
      "--name",
      "az-rc",
    );
    expect(plain.instanceView ?? null).toBeNull();
    const listed = await azJson<Array<{ name: string }>>(
      shellEnv,
      "vm",
      "run-command",
      "list",
      "-g",
      resourceGroup,
      "--vm-name",
      vmName,
    );
    expect(listed.map((item) => item.name)).toContain("az-rc");
    const deleted = await az(
      shellEnv,
      "vm",
      "run-command",
      "delete",
      "-g",
      resourceGroup,
      "--vm-name",
      vmName,
      "--name",
      "az-rc",
      "--yes",
    );
    expect(deleted.code).toBe(0);
    const after = await azJson<Array<{ name: string }>>(
      shellEnv,
      "vm",
      "run-command",
      "list",
      "-g",
      resourceGroup,
      "--vm-name",
      vmName,
    );
    expect(after.map((item) => item.name)).not.toContain("az-rc");
  });
});

describe("what az touched", () => {
  it("every address az resolved or connected to is on loopback, and Local Azure logged what it called", () => {
    const audit = readFileSync(NET_AUDIT_LOG, "utf8").trim().split("\n");
    expect(audit.length).toBeGreaterThan(0);
    const offLoopback = audit.filter(
      (line) => !/^socket\.(connect|getaddrinfo) \('127\.\d+\.\d+\.\d+', \d+\)$/.test(line),
    );
    expect(offLoopback).toEqual([]);
    const log = readFileSync(service.logFile, "utf8");
    for (const call of [
      / arm GET \/metadata\/endpoints\?api-version=2022-09-01 200\n/,
      / entra POST \/[0-9a-f-]{36}\/oauth2\/v2\.0\/token 200\n/,
      / arm GET \/subscriptions\?api-version=[0-9-]+ 200\n/,
      / graph POST \/v1\.0\/directoryObjects\/getByIds 200\n/,
      / imds GET \/metadata\/identity\/oauth2\/token\?api-version=2018-02-01&resource=[^ ]+&client_id=[0-9a-f-]{36} 200\n/,
      / arm PUT \/subscriptions\/[^ ]+\/providers\/Microsoft\.Authorization\/roleAssignments\/[0-9a-f-]{36}\?api-version=[0-9-]+ 201\n/,
    ]) {
      expect(log).toMatch(call);
    }
  });
});

/**
 * What Local Azure refuses and derives, as the Azure CLI surfaces it (local-azure/arm/apiVersions.ts,
 * providers/network.ts): the VM's addresses found through the read-only back-references (a NIC's
 * virtualMachine, its ipConfigurations' privateIPAddress) as `az vm list-ip-addresses` finds them;
 * ARM's NoRegisteredProviderFound for an api-version a type does not have; a NAT gateway made, attached
 * and refused deletion with the CLI's own api-versions.
 */
describe("Local Azure refuses what ARM refuses and derives what ARM derives, through the Azure CLI", () => {
  let nicId = "";

  it("az vm list-ip-addresses finds the VM's private and public address through its NIC's virtualMachine", async () => {
    const listed = await azJson<
      Array<{
        virtualMachine: {
          name: string;
          resourceGroup: string;
          network: {
            privateIpAddresses: string[];
            publicIpAddresses: Array<{ ipAddress: string; ipAllocationMethod: string; name: string; id: string }>;
          };
        };
      }>
    >(shellEnv, "vm", "list-ip-addresses", "-g", resourceGroup, "-n", vmName);
    expect(listed).toHaveLength(1);
    const { virtualMachine } = listed[0];
    expect(virtualMachine.name).toBe(vmName);
    expect(virtualMachine.resourceGroup.toLowerCase()).toBe(resourceGroup.toLowerCase());
    expect(virtualMachine.network.privateIpAddresses).toEqual([expect.stringMatching(/^10\.\d+\.\d+\.4$/)]);
    expect(virtualMachine.network.publicIpAddresses).toEqual([
      expect.objectContaining({ ipAllocationMethod: "Static", ipAddress: expect.stringMatching(/^127\./) }),
    ]);
    const nic = await azJson<Array<{ id: string; virtualMachine: { id: string } }>>(
      shellEnv,
      "network",
      "nic",
      "list",
      "-g",
      resourceGroup,
    );
    nicId = nic[0].id;
    expect(nic[0].virtualMachine.id.toLowerCase()).toContain(`/virtualmachines/${vmName.toLowerCase()}`);
  });

  it("az resource show at an api-version networkInterfaces lacks: ARM's NoRegisteredProviderFound, in az's words", async () => {
    const shown = await az(shellEnv, "resource", "show", "--ids", nicId, "--api-version", "2015-06-15");
    expect(shown.code).toBe(1);
    expect(shown.stderr).toContain(
      `(NoRegisteredProviderFound) No registered resource provider found for location '${service.location}' and API version '2015-06-15' for type 'networkInterfaces'. The supported api-versions are '2022-01-01, 2023-11-01, 2024-05-01, 2025-05-01, 2026-01-01'.`,
    );
  });

  it("az network nat gateway create with a Standard static IP, attached to the VM's subnet: each names the other; delete is refused", async () => {
    const subnet = await azJson<Array<{ id: string; name: string }>>(
      shellEnv,
      "network",
      "vnet",
      "list",
      "-g",
      resourceGroup,
      "--query",
      "[0].subnets[0].{id: id, name: name}",
    ).then((found) => [found].flat());
    const [vnetName] = subnet[0].id.split("/virtualNetworks/")[1].split("/");
    await azJson(
      shellEnv,
      "network",
      "public-ip",
      "create",
      "-g",
      resourceGroup,
      "-n",
      "nat-ip",
      "--sku",
      "Standard",
      "--allocation-method",
      "Static",
    );
    const nat = await azJson<{ id: string; sku: { name: string }; idleTimeoutInMinutes: number }>(
      shellEnv,
      "network",
      "nat",
      "gateway",
      "create",
      "-g",
      resourceGroup,
      "-n",
      "egress",
      "--public-ip-addresses",
      "nat-ip",
    );
    expect(nat).toMatchObject({ sku: { name: "Standard" }, idleTimeoutInMinutes: 4 });
    await azJson(
      shellEnv,
      "network",
      "vnet",
      "subnet",
      "update",
      "-g",
      resourceGroup,
      "--vnet-name",
      vnetName,
      "-n",
      subnet[0].name,
      "--nat-gateway",
      "egress",
    );
    const shown = await azJson<{ subnets: Array<{ id: string }> }>(
      shellEnv,
      "network",
      "nat",
      "gateway",
      "show",
      "-g",
      resourceGroup,
      "-n",
      "egress",
    );
    expect(shown.subnets.map((s) => s.id.toLowerCase())).toEqual([subnet[0].id.toLowerCase()]);
    const ip = await azJson<{ natGateway: { id: string } }>(
      shellEnv,
      "network",
      "public-ip",
      "show",
      "-g",
      resourceGroup,
      "-n",
      "nat-ip",
    );
    expect(ip.natGateway.id.toLowerCase()).toBe(nat.id.toLowerCase());
    const refused = await az(shellEnv, "network", "nat", "gateway", "delete", "-g", resourceGroup, "-n", "egress");
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(
      `(CannotDeleteNatGatewayAssociatedToSubnet) NAT Gateway ${nat.id} is still configured on 1 subnets. Remove NAT Gateway from all referenced subnets and then delete NAT Gateway.`,
    );
  });
});
