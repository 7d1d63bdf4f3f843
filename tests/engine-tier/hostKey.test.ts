import { afterAll, describe, expect, it } from "vitest";
import { renderHostKeyCloudConfig } from "../../components/cloudInit";
import { destroyWithEngine, upWithEngine } from "../../engine/localRun";
import { cloudDir } from "../../local/engineStack";
import { readCloud, writeCloud } from "../../local-azure/persist";
import { generatePrivateKey } from "../../local-azure/tlsKeys";
import { commandProviderInstalled, engineBuilt, isolatedStack } from "./support";

/**
 * The command provider's host-key pinning with the real engine, on a stack of the program against a
 * kept Local Azure: once deployed, the VM comes back with another host key than the one its
 * cloud-init pinned (a machine in the middle), and the check is refused at the handshake. The refused
 * run sets sshDialErrorLimit to 2 (three dials, refused within seconds) instead of the default 60, with
 * which the provider would dial for about four and a half minutes before it gives up.
 */

const { stateDir, stack } = isolatedStack("hostkey");
const options = { stateDir, accessCheckTimeoutSeconds: 30 };

describe.skipIf(!engineBuilt || !commandProviderInstalled)("host-key pinning under the real engine", () => {
  afterAll(async () => {
    await destroyWithEngine(stateDir, () => undefined, stack);
  }, 180_000);

  it("pulumi up verifies access through the pinned host key", async () => {
    const up = await upWithEngine(options, () => undefined, stack);
    expect(up.error).toBeNull();
    expect(up.verdict).toBe("VERIFIED: 1 of 1 check(s) proved access for identity user on 1 VM");
  }, 150_000);

  it("the command provider refuses a guest whose host key is not the pinned one", async () => {
    const cloud = readCloud(cloudDir(stateDir));
    if (!cloud) throw new Error("no kept cloud");
    for (const resource of cloud.store.resources.filter((r) => r.type === "Microsoft.Compute/virtualMachines")) {
      const key = generatePrivateKey("ED25519");
      const osProfile = (resource.body.properties as { osProfile: { customData?: string } }).osProfile;
      osProfile.customData = Buffer.from(
        renderHostKeyCloudConfig({ privateKey: key.privateKeyOpenssh, publicKey: key.publicKeyOpenssh }),
      ).toString("base64");
    }
    writeCloud(cloudDir(stateDir), cloud);
    const urn = `urn:pulumi:${stack}::vm-identity-access::vm-identity-access:index:VmAccessCheck$command:remote:Command::vmia-check-0-user`;
    const up = await upWithEngine({ ...options, config: { sshDialErrorLimit: "2" } }, () => undefined, stack, [
      "--replace",
      urn,
    ]);
    expect(up.ok).toBe(false);
    // Each of the 3 dials (dialErrorLimit 2) is refused at the handshake, before any command runs.
    // The real provider says: "after 2 failed attempts: ssh: handshake failed: ssh: host key mismatch".
    expect(up.error).toMatch(/^command:remote:Command vmia-check-0-user: after 2 failed attempts: .*host key mismatch/);
    expect(up.verdict).toMatch(/^NOT VERIFIED: .*host key mismatch/);
  }, 150_000);
});
