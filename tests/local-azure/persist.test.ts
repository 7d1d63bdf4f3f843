import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ArmClient, LocalAzure, seedVm } from "../../local-azure/index";
import { CLOUD_FILE, clearCloud, readCloud } from "../../local-azure/persist";

/** A Local Azure that keeps its cloud between runs: what a second `pulumi up` meets is what the first made. */

const FAST = { rbacDelaySeconds: 0, identityAttachDelaySeconds: 0, sshNotReadySeconds: 0, lroSeconds: 0 };
const dir = mkdtempSync(join(tmpdir(), "kept-cloud-"));
const started: LocalAzure[] = [];
afterAll(async () => {
  for (const azure of started) await azure.stop();
});

async function start(): Promise<LocalAzure> {
  const azure = await LocalAzure.start({ faults: FAST, persistDir: dir });
  started.push(azure);
  return azure;
}

function sshBanner(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, host);
    socket.once("data", (data) => {
      socket.destroy();
      resolve(data.toString().trim());
    });
    socket.once("error", reject);
  });
}

describe("Local Azure keeps its cloud between runs (persistDir)", () => {
  it("comes back on the same endpoints, keys and VM addresses, with the resources, identities and grants", async () => {
    const first = await start();
    const vm = await seedVm(first, { identity: "user", resourceGroup: "rg-kept", vmName: "vm-kept" });
    const oldToken = await first.deployerToken();
    const before = {
      armEndpoint: first.armEndpoint,
      authorityHost: first.authorityHost,
      graphEndpoint: first.graphEndpoint,
      sshPort: first.sshPort,
      caCertPem: first.caCertPem,
      deployer: first.deployer,
      tenantId: first.tenantId,
      subscriptionId: first.subscriptionId,
    };
    await first.stop();
    // Let this process's HTTPS clients see the old connections close (a real second run is a new process).
    await new Promise((resolve) => setTimeout(resolve, 200));
    // Saved owner-only: it holds private keys and the deployer's secret.
    expect(statSync(join(dir, CLOUD_FILE)).mode & 0o777).toBe(0o600);

    const second = await start();
    expect({
      armEndpoint: second.armEndpoint,
      authorityHost: second.authorityHost,
      graphEndpoint: second.graphEndpoint,
      sshPort: second.sshPort,
      caCertPem: second.caCertPem,
      deployer: second.deployer,
      tenantId: second.tenantId,
      subscriptionId: second.subscriptionId,
    }).toEqual(before);
    expect(second.vmRuntime(vm.vmId)).toMatchObject({ imdsEndpoint: vm.imdsEndpoint, publicIp: vm.publicIp });

    // A token the first instance issued still verifies (same signing key), and the resources are there.
    const withOldToken = new ArmClient(second.armEndpoint, second.caCertPem, async () => oldToken);
    expect((await withOldToken.request("GET", `${vm.resourceGroupId}?api-version=2024-03-01`)).status).toBe(200);
    const vmBody = await second.arm.request("GET", `${vm.vmId}?api-version=2024-11-01`);
    expect(vmBody.status).toBe(200);

    // The VM rebooted: its IMDS gives the identity a token, and ARM lets it read (the grant is long propagated).
    const resource = encodeURIComponent(`${second.armEndpoint}/`);
    const token = await fetch(
      `${vm.imdsEndpoint}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=${resource}&client_id=${vm.userIdentity?.clientId}`,
      { headers: { Metadata: "true" } },
    );
    expect(token.status).toBe(200);
    // And its SSH guest answers on the same address and port.
    expect(await sshBanner(vm.publicIp, second.sshPort)).toMatch(/^SSH-2\.0-/);
  });

  it("a change is saved as soon as it is answered, and clearCloud empties the kept cloud", async () => {
    const azure = started[started.length - 1];
    const sub = `/subscriptions/${azure.subscriptionId}`;
    await azure.arm.putAndWait(`${sub}/resourceGroups/rg-later?api-version=2024-03-01`, { location: "eastus" });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(readCloud(dir)?.store.resourceGroups.map((group) => group.name)).toContain("rg-later");
    clearCloud(dir);
    expect(existsSync(join(dir, CLOUD_FILE))).toBe(false);
  });

  it("a delete that ends while only GETs poll it is saved when it ends, as a write is (a destroy's last poll is a GET)", async () => {
    const own = mkdtempSync(join(tmpdir(), "kept-deleted-"));
    const azure = await LocalAzure.start({ faults: { ...FAST, lroSeconds: 1 }, persistDir: own });
    started.push(azure);
    const group = `/subscriptions/${azure.subscriptionId}/resourceGroups/rg-going?api-version=2024-03-01`;
    await azure.arm.request("PUT", group, { location: "eastus" });
    const accepted = await azure.arm.request("DELETE", group);
    expect(accepted.status).toBe(202);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(readCloud(own)?.store.resourceGroups.map((g) => [g.name, g.deletingSince !== undefined])).toEqual([
      ["rg-going", true],
    ]);
    // Polled with GETs until the operation's end (Location: 202, then 200): no write is answered after it.
    for (let poll = 0; poll < 100; poll++) {
      if ((await azure.arm.request("GET", accepted.headers.location)).status === 200) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(readCloud(own)?.store.resourceGroups).toEqual([]);
    await azure.stop();
    rmSync(own, { recursive: true, force: true });
  });

  it("a delete running when Local Azure stopped is still Deleting when it comes back, and ends when its operation would have", async () => {
    const own = mkdtempSync(join(tmpdir(), "kept-deleting-"));
    const first = await LocalAzure.start({ faults: { ...FAST, lroSeconds: 3600 }, persistDir: own });
    started.push(first);
    const sub = `/subscriptions/${first.subscriptionId}`;
    const nsg = `${sub}/resourceGroups/rg-deleting/providers/Microsoft.Network/networkSecurityGroups/going?api-version=2024-05-01`;
    await first.arm.request("PUT", `${sub}/resourceGroups/rg-deleting?api-version=2024-03-01`, { location: "eastus" });
    expect((await first.arm.request("PUT", nsg, { location: "eastus", properties: {} })).status).toBe(201);
    expect((await first.arm.request("DELETE", nsg)).status).toBe(202);
    await first.stop();
    await new Promise((resolve) => setTimeout(resolve, 200));

    const second = await LocalAzure.start({ faults: { ...FAST, lroSeconds: 3600 }, persistDir: own });
    started.push(second);
    const still = await second.arm.request("GET", nsg);
    expect([still.status, (still.body as { properties: { provisioningState: string } }).properties]).toMatchObject([
      200,
      { provisioningState: "Deleting" },
    ]);
    // Its operation's end comes (the faults say so now): the NSG goes without being asked again.
    second.faults.lroSeconds = 0;
    expect((await second.arm.request("GET", nsg)).status).toBe(404);
    await second.stop();
    rmSync(own, { recursive: true, force: true });
  });

  it("without persistDir nothing is kept (today's default)", async () => {
    const plain = await LocalAzure.start({ faults: FAST });
    started.push(plain);
    expect(readFileSync(plain.caCertPath, "utf8")).toBe(plain.caCertPem);
    expect(existsSync(join(plain.caCertPath, "..", CLOUD_FILE))).toBe(false);
  });
});
