import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { globalAgent } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { LocalAzure, seedVm } from "../../local-azure/index";
import { readCloud } from "../../local-azure/persist";
import { API, expanded, FAST, putRunCommand, settled } from "./runCommandSupport";

/** A kept cloud (persistDir, as `npm run local -- start` keeps one) keeps run commands and VM power states. */

const dir = mkdtempSync(join(tmpdir(), "kept-run-commands-"));
const started: LocalAzure[] = [];
afterAll(async () => {
  for (const azure of started) await azure.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function start(): Promise<LocalAzure> {
  const azure = await LocalAzure.start({ faults: FAST, persistDir: dir });
  started.push(azure);
  return azure;
}

describe("run commands in a kept cloud", () => {
  it("come back with their instance views, never run again unless changed, and a stopped VM stays stopped", async () => {
    const first = await start();
    const vm = await seedVm(first, { identity: "user", resourceGroup: "kept-rc-rg", vmName: "kept-rc-vm" });
    const stopped = await seedVm(first, { identity: "user", resourceGroup: "kept-off-rg", vmName: "kept-off-vm" });
    const script = 'n=$(cat "$HOME/count" 2>/dev/null || echo 0); n=$((n+1)); echo "$n" > "$HOME/count"; echo "run $n"';
    const id = `${vm.vmId}/runCommands/counted`;
    await putRunCommand(first, id, {
      source: { script },
      protectedParameters: [{ name: "TOKEN", value: "kept-secret" }],
    });
    const before = await expanded(first, id);
    expect(before.properties).toMatchObject({ instanceView: { executionState: "Succeeded", output: "run 1\n" } });
    const off = await first.arm.request("POST", `${stopped.vmId}/deallocate?${API}`);
    expect((await settled(first, off)).status).toBe("Succeeded");
    await first.stop();
    // A real second run is a new process: this one's pooled connections to the old server go.
    globalAgent.destroy();
    // Saved as every stored resource is, the secret with it (cloud.json is owner-only, as the deployer's secret).
    expect(readCloud(dir)?.identity.vms.map((saved) => saved.powerState)).toEqual(["running", "deallocated"]);

    const second = await start();
    expect(await expanded(second, id)).toEqual(before);
    const view = await second.arm.request("GET", `${stopped.vmId}/instanceView?${API}`);
    expect(JSON.stringify(view.body)).toContain('"code":"PowerState/deallocated"');
    const refused = await second.arm.request("PUT", `${stopped.vmId}/runCommands/any?${API}`, {
      location: second.location,
      properties: { source: { script: "true" } },
    });
    expect(refused.status).toBe(409);
    // The same configuration again (its protected parameter included) is not run again; a changed one is.
    const same = await putRunCommand(second, id, {
      source: { script },
      protectedParameters: [{ name: "TOKEN", value: "kept-secret" }],
    });
    expect(same.reply.status).toBe(200);
    expect((await expanded(second, id)).properties).toMatchObject({ instanceView: { output: "run 1\n" } });
    await putRunCommand(second, id, {
      source: { script },
      protectedParameters: [{ name: "TOKEN", value: "new-secret" }],
    });
    expect((await expanded(second, id)).properties).toMatchObject({ instanceView: { output: "run 2\n" } });
    expect(readFileSync(join(dir, "vms", "kept-rc-vm", "count"), "utf8")).toBe("2\n");
  });
});
