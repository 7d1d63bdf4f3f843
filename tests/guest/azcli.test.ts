import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalAzure, type ServedRequest } from "../../local-azure/index";
import { builtImage } from "../../local-azure/linuxGuest/image";
import { hostAzureCli, NET_AUDIT } from "./hostAzureCli";
import { bootVm, type GuestVm, leftovers, type Run, SshClient } from "./support";

/**
 * Microsoft's Azure CLI inside a real guest, as on an Azure VM (issue 19, point 5): az login --identity
 * over 169.254.169.254 with no IMDS override, for the VM's user-assigned identity and its
 * system-assigned one; then a read allowed and a write refused with AuthorizationFailed, ARM reached at
 * https://management.azure.com through the guest's own /etc/hosts and trust store. az is the Azure CLI
 * tier's venv (tests/azcli/install.sh, cached per machine) on the host's own Python (bound into the
 * guest read-only at its host path, or, the system's Python, a copy of it: hostAzureCli.ts): nothing
 * installed in the image, nothing downloaded in the guest. Inside a guest the public cloud's names are
 * Local Azure's, so az keeps its default cloud, AzureCloud: no az cloud register. Where it cannot run,
 * the file is skipped saying why; .ci/run's guest tier fails on that skip (every test of the tier must run).
 */

const image = builtImage();
const cli = image ? hostAzureCli(image.rootfs) : { unusable: "no guest image (npm run guest:build)" };
if ("unusable" in cli) {
  process.stderr.write(
    `tests/guest/azcli.test.ts skipped: ${cli.unusable}. The Azure CLI tier's venv is installed by bash tests/azcli/install.sh (npm run test:azcli).\n`,
  );
}

/** Where the guest's az writes its network audit (tests/azcli/netaudit). */
const AUDIT_LOG = "/tmp/az-net-audit.log";
/** The guest's trust store, with Local Azure's CA in it (machine.ts). */
const GUEST_TRUST_STORE = "/etc/ssl/certs/ca-certificates.crt";

let azure: LocalAzure;
let vm: GuestVm;
let ssh: SshClient;
const served: ServedRequest[] = [];

beforeAll(async () => {
  if ("unusable" in cli) return;
  azure = await LocalAzure.start({
    guests: "linux",
    // No propagation delays: this file checks what az sends and reads, not RBAC's timing.
    faults: { rbacDelaySeconds: 0, identityAttachDelaySeconds: 0 },
    linuxGuestBinds: cli.binds,
    onRequest: (entry) => served.push(entry),
  });
  vm = await bootVm(azure, { identity: "both", vmName: "az-vm" });
  ssh = new SshClient(vm);
  // From here on, only what az asks for.
  served.length = 0;
}, 120_000);

afterAll(async () => {
  ssh?.remove();
  await azure?.stop();
}, 60_000);

const quote = (arg: string) => `'${arg.replaceAll("'", `'\\''`)}'`;

/**
 * az in the guest, run by its admin user with sudo (the venv and its Python sit in root's cache
 * folder on the host, under /root, which is root's alone in the guest as on any Debian). Its environment is what a user would
 * set: a config folder per identity, the system trust store as the CA bundle of Python's requests
 * (REQUESTS_CA_BUNDLE: pip's certifi ignores the system's store, and az's own certificate error asks
 * for the CA to be added to "the trusted CA bundle"), telemetry off; plus the tier's network audit.
 * Nothing about IMDS or ARM.
 */
function az(identity: "user" | "system", ...args: string[]): Promise<Run> {
  if ("unusable" in cli) throw new Error(cli.unusable);
  const env = {
    AZURE_CONFIG_DIR: `/root/.azure-${identity}`,
    REQUESTS_CA_BUNDLE: GUEST_TRUST_STORE,
    AZURE_CORE_COLLECT_TELEMETRY: "false",
    PYTHONPATH: NET_AUDIT,
    NET_AUDIT_LOG: AUDIT_LOG,
  };
  const argv = [
    "sudo",
    "-n",
    "env",
    ...Object.entries(env).map(([name, value]) => `${name}=${value}`),
    cli.az,
    ...args,
  ];
  return ssh.exec(argv.map(quote).join(" "));
}

async function azJson<T>(identity: "user" | "system", ...args: string[]): Promise<T> {
  const run = await az(identity, ...args, "--output", "json");
  if (run.code !== 0) throw new Error(`az ${args.join(" ")} exited ${run.code}:\n${run.stderr}`);
  return JSON.parse(run.stdout) as T;
}

/** The AuthorizationFailed text ARM gives a principal that may not write the resource group. */
function writeRefused(clientId: string, principalId: string): string {
  return `(AuthorizationFailed) The client '${clientId}' with object id '${principalId}' does not have authorization to perform action 'Microsoft.Resources/subscriptions/resourceGroups/write' over scope '/subscriptions/${azure.subscriptionId}/resourcegroups/${vm.resourceGroup}' or the scope is invalid. If access was recently granted, please refresh your credentials.`;
}

describe.skipIf("unusable" in cli)("Microsoft's Azure CLI inside a real guest, with the VM's identities", () => {
  it("runs on the host's Python: ldd in the guest finds every library of the interpreter and of the venv's modules", async () => {
    if ("unusable" in cli) return;
    const script = [
      `for f in "$(readlink -f ${quote(cli.python)})" $(find ${quote(cli.venv)} -name '*.so*' -type f); do`,
      `  ldd "$f" | sed -n "s|^|$f: |; /not found/p"`,
      "done",
      "echo checked",
    ].join("\n");
    const check = await ssh.exec(["sudo", "-n", "sh", "-c", script].map(quote).join(" "));
    expect(check).toMatchObject({ code: 0, stdout: "checked\n" });
  });

  it("keeps its default cloud: AzureCloud, whose ARM name the guest resolves to Local Azure's", async () => {
    const cloud = await azJson<{ name: string; endpoints: Record<string, string> }>("user", "cloud", "show");
    expect(cloud.name).toBe("AzureCloud");
    expect(cloud.endpoints.resourceManager).toBe("https://management.azure.com/");
    expect(cloud.endpoints.activeDirectoryResourceId).toBe("https://management.core.windows.net/");
    const resolved = await ssh.exec("getent hosts management.azure.com");
    expect(resolved.stdout).toBe("127.0.2.1       management.azure.com\n");
  });

  /** The account `az login --identity` prints: Local Azure's one subscription, signed in as `user`. */
  const signedInAccount = (user: Record<string, string>) => ({
    environmentName: "AzureCloud",
    homeTenantId: azure.tenantId,
    id: azure.subscriptionId,
    isDefault: true,
    managedByTenants: [],
    name: "Local Azure",
    state: "Enabled",
    tenantId: azure.tenantId,
    user,
  });

  it("az login --identity --client-id signs in as the user-assigned identity through 169.254.169.254", async () => {
    const clientId = vm.userIdentity?.clientId as string;
    const accounts = await azJson<unknown[]>("user", "login", "--identity", "--client-id", clientId);
    // GET /subscriptions lists the subscription: the identity holds Reader on a resource group in it.
    expect(accounts).toEqual([
      signedInAccount({
        assignedIdentityInfo: `MSIClient-${clientId}`,
        name: "userAssignedIdentity",
        type: "servicePrincipal",
      }),
    ]);
  });

  it("az login --identity signs in as the system-assigned identity", async () => {
    const accounts = await azJson<unknown[]>("system", "login", "--identity");
    expect(accounts).toEqual([
      signedInAccount({ assignedIdentityInfo: "MSI", name: "systemAssignedIdentity", type: "servicePrincipal" }),
    ]);
  });

  it.each(["user", "system"] as const)(
    "as the %s-assigned identity, az group show is allowed and a write is refused with AuthorizationFailed",
    async (identity) => {
      const group = await azJson<Record<string, unknown>>(identity, "group", "show", "--name", vm.resourceGroup);
      expect(group).toMatchObject({
        id: `/subscriptions/${azure.subscriptionId}/resourceGroups/${vm.resourceGroup}`,
        name: vm.resourceGroup,
        properties: { provisioningState: "Succeeded" },
      });
      const write = await az(identity, "group", "update", "--name", vm.resourceGroup, "--tags", "probe=write");
      expect(write.code).toBe(1);
      if (identity === "user") {
        expect(write.stderr).toContain(
          writeRefused(vm.userIdentity?.clientId as string, vm.userIdentity?.principalId as string),
        );
      } else {
        // A system-assigned identity's client ID shows nowhere in the VM's resource: the object ID names it.
        expect(write.stderr).toMatch(/\(AuthorizationFailed\) The client '[0-9a-f-]{36}' with object id '/);
        expect(write.stderr).toContain(
          `with object id '${vm.systemIdentity?.principalId}' does not have authorization`,
        );
      }
    },
  );

  it("asked this VM's IMDS for AzureCloud's ARM audience, and no Entra at all", () => {
    const imds = served.filter((entry) => entry.service === "imds").map((entry) => `${entry.status} ${entry.url}`);
    const token =
      "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fmanagement.core.windows.net%2F";
    expect(new Set(imds)).toEqual(new Set([`200 ${token}&client_id=${vm.userIdentity?.clientId}`, `200 ${token}`]));
    expect(served.filter((entry) => entry.service === "entra")).toEqual([]);
    expect(served).toContainEqual({
      service: "arm",
      method: "GET",
      url: expect.stringMatching(/^\/subscriptions\?api-version=/),
      status: 200,
    });
  });

  it("reached only the guest's own addresses; its version check finds no resolver in the guest", async () => {
    const audit = (await ssh.exec(`sudo -n cat ${AUDIT_LOG}`)).stdout.trim().split("\n");
    const connected = new Set(audit.filter((line) => line.startsWith("socket.connect ")));
    expect(connected).toEqual(new Set(["socket.connect ('127.0.2.1', 443)", "socket.connect ('169.254.169.254', 80)"]));
    const looked = new Set(audit.filter((line) => line.startsWith("socket.getaddrinfo ")));
    expect(looked).toEqual(
      new Set([
        "socket.getaddrinfo ('management.azure.com', 443)",
        "socket.getaddrinfo ('169.254.169.254', 80)",
        // az's check for a newer version (azure/cli/core/util.py, check_connectivity), once per config folder.
        "socket.getaddrinfo ('azcliprod.blob.core.windows.net', 443)",
      ]),
    );
    const storage = await ssh.exec("getent hosts azcliprod.blob.core.windows.net; echo $?; ip -brief address");
    expect(storage.stdout).toMatch(/^2\nlo +UNKNOWN +127\.0\.0\.1\/8 169\.254\.169\.254\/32/);
  });

  it("leaves nothing of the guest once its VM is deleted", async () => {
    const id = vm.guest.id;
    await azure.arm.deleteAndWait(`${vm.vmId}?api-version=2024-11-01`);
    expect(leftovers({ ids: [id] })).toEqual([]);
  });
});
