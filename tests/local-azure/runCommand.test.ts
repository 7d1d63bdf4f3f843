import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalAzure, type SeededVm, seedVm } from "../../local-azure/index";
import {
  API,
  expanded,
  FAST,
  instanceView,
  putRunCommand,
  running,
  settled,
  untilFile,
  untilState,
  vmFolder,
} from "./runCommandSupport";

/**
 * Managed run commands (…/virtualMachines/{vm}/runCommands/{name}) through ARM's wire, on portable
 * guests: what ARM answers, what the instance view says, and what the script saw inside the VM.
 */

let azure: LocalAzure;
let vm: SeededVm;
let home: string;
const rc = (name: string) => `${vm.vmId}/runCommands/${name}`;

beforeAll(async () => {
  azure = await LocalAzure.start({ faults: FAST });
  vm = await seedVm(azure, { identity: "user", resourceGroup: "rc-rg", vmName: "rc-vm" });
  home = vmFolder(azure, "rc-vm");
});
afterAll(() => azure.stop());

describe("PUT …/runCommands/{name}", () => {
  it("answers 201 Creating with Azure-AsyncOperation, Location and Retry-After, and runs the script once", async () => {
    const reply = await azure.arm.request("PUT", `${rc("hello")}?${API}`, {
      location: azure.location,
      properties: { source: { script: "echo hello from $(hostname -s >/dev/null; echo the VM)" } },
    });
    expect(reply.status).toBe(201);
    expect(reply.headers["azure-asyncoperation"]).toMatch(/\/operationStatuses\/[0-9a-f-]{36}\?api-version=/);
    expect(reply.headers.location).toMatch(/\/operationResults\/[0-9a-f-]{36}\?api-version=/);
    expect(reply.headers["retry-after"]).toBe("1");
    expect(reply.body).toEqual({
      name: "hello",
      id: rc("hello"),
      type: "Microsoft.Compute/virtualMachines/runCommands",
      location: azure.location,
      properties: {
        source: { script: "echo hello from $(hostname -s >/dev/null; echo the VM)" },
        asyncExecution: false,
        timeoutInSeconds: 0,
        treatFailureAsDeploymentFailure: false,
        provisioningState: "Creating",
      },
    });
    expect(await settled(azure, reply)).toMatchObject({ status: "Succeeded" });
    // Its Location answers the run command as it ended (final-state-via location, as az reads it).
    const final = await azure.arm.request("GET", reply.headers.location);
    expect([final.status, (final.body as { properties: Record<string, unknown> }).properties]).toEqual([
      200,
      expect.objectContaining({ provisioningState: "Succeeded" }),
    ]);
    expect((final.body as { properties: Record<string, unknown> }).properties).not.toHaveProperty("instanceView");
    const plain = await azure.arm.request("GET", `${rc("hello")}?${API}`);
    expect((plain.body as { properties: Record<string, unknown> }).properties).not.toHaveProperty("instanceView");
    expect((plain.body as { properties: { provisioningState: string } }).properties.provisioningState).toBe(
      "Succeeded",
    );
    const view = await instanceView(azure, rc("hello"));
    expect(view).toEqual({
      executionState: "Succeeded",
      executionMessage: "Execution completed",
      exitCode: 0,
      output: "hello from the VM\n",
      error: "",
      startTime: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$/),
      endTime: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$/),
    });
  });

  it("gives named parameters as environment variables and unnamed ones as arguments, protected ones too, and never shows the protected ones or runAsPassword", async () => {
    // The secret's digest, not the secret: the output is shown, and must not carry it.
    const script =
      'printf "%s|%s|%s|%s|%s\\n" "$GREETING" "$(printf %s "$SECRET" | sha256sum | cut -c1-64)" "$1" "$2" "$#"';
    const { reply } = await putRunCommand(azure, rc("params"), {
      source: { script },
      parameters: [{ name: "GREETING", value: "hi there" }, { value: "first" }, { name: "EMPTY", value: "" }],
      protectedParameters: [{ name: "SECRET", value: "s3cr3t-value" }, { value: "second" }],
      runAsPassword: "p4ssw0rd-value",
    });
    expect(reply.status).toBe(201);
    const view = await instanceView(azure, rc("params"));
    const digest = createHash("sha256").update("s3cr3t-value").digest("hex");
    expect(view.output).toBe(`hi there|${digest}|first|second|2\n`);
    const answers = [
      JSON.stringify(reply.body),
      JSON.stringify(await expanded(azure, rc("params"))),
      JSON.stringify((await azure.arm.request("GET", `${vm.vmId}/runCommands?${API}&$expand=instanceView`)).body),
    ];
    for (const answer of answers) {
      expect(answer).not.toContain("s3cr3t-value");
      expect(answer).not.toContain("p4ssw0rd-value");
      expect(answer).not.toContain("protectedParameters");
      expect(answer).not.toContain("runAsPassword");
    }
    // An unnamed value is joined to the command line as the handler joins it: the shell splits it.
    await putRunCommand(azure, rc("split"), { source: { script: 'echo "$#:$1:$2"' }, parameters: [{ value: "a b" }] });
    expect((await instanceView(azure, rc("split"))).output).toBe("2:a:b\n");
  });

  it("reports a failing script as Failed with its exit code, output and error, and still Succeeded provisioning", async () => {
    const { operation } = await putRunCommand(azure, rc("fails"), {
      source: { script: "echo some output; echo some error >&2; exit 3" },
    });
    expect(operation.status).toBe("Succeeded");
    const body = await expanded(azure, rc("fails"));
    expect(body.properties).toMatchObject({
      provisioningState: "Succeeded",
      instanceView: {
        executionState: "Failed",
        executionMessage: "Execution failed: failed to execute command: command terminated with exit status=3",
        exitCode: 3,
        output: "some output\n",
        error: "some error\n",
      },
    });
  });

  it("with treatFailureAsDeploymentFailure, a failing script fails the operation and leaves provisioningState Failed", async () => {
    const { operation } = await putRunCommand(azure, rc("strict"), {
      source: { script: "exit 5" },
      treatFailureAsDeploymentFailure: true,
    });
    expect(operation).toMatchObject({
      status: "Failed",
      error: {
        code: "VMExtensionProvisioningError",
        message:
          "VM has reported a failure when processing extension 'strict' (publisher 'Microsoft.CPlat.Core' and type 'RunCommandHandlerLinux'). Error message: 'Execution failed: failed to execute command: command terminated with exit status=5'.",
      },
    });
    const body = await expanded(azure, rc("strict"));
    expect(body.properties).toMatchObject({
      provisioningState: "Failed",
      instanceView: { executionState: "Failed", exitCode: 5 },
    });
    // The same configuration again is not run again: its operation ends as the last run's did.
    const again = await putRunCommand(azure, rc("strict"), {
      source: { script: "exit 5" },
      treatFailureAsDeploymentFailure: true,
    });
    expect(again.reply.status).toBe(200);
    expect((again.reply.body as { properties: { provisioningState: string } }).properties.provisioningState).toBe(
      "Updating",
    );
    expect(again.operation).toMatchObject({ status: "Failed", error: { code: "VMExtensionProvisioningError" } });
  });

  it("does not run an identical PUT again, and runs a changed one", async () => {
    const counter = join(home, "count");
    const script =
      'n=$(cat "$HOME/count" 2>/dev/null || echo 0); n=$((n+1)); echo "$n" > "$HOME/count"; echo "run $n $LABEL"';
    await putRunCommand(azure, rc("once"), { source: { script }, parameters: [{ name: "LABEL", value: "a" }] });
    expect((await instanceView(azure, rc("once"))).output).toBe("run 1 a\n");
    const same = await putRunCommand(
      azure,
      rc("once"),
      { source: { script }, parameters: [{ name: "LABEL", value: "a" }] },
      { tags: { only: "tags changed" } },
    );
    expect(same.reply.status).toBe(200);
    expect(same.operation.status).toBe("Succeeded");
    expect((await instanceView(azure, rc("once"))).output).toBe("run 1 a\n");
    expect(readFileSync(counter, "utf8")).toBe("1\n");
    await putRunCommand(azure, rc("once"), { source: { script }, parameters: [{ name: "LABEL", value: "b" }] });
    expect((await instanceView(azure, rc("once"))).output).toBe("run 2 b\n");
    // PATCH merges into the stored configuration: a changed timeout is a new configuration.
    const patch = await azure.arm.request("PATCH", `${rc("once")}?${API}`, { properties: { timeoutInSeconds: 60 } });
    expect(patch.status).toBe(200);
    expect((patch.body as { properties: Record<string, unknown> }).properties).toMatchObject({
      provisioningState: "Updating",
      timeoutInSeconds: 60,
      parameters: [{ name: "LABEL", value: "b" }],
    });
    expect(patch.headers.location).toBeDefined();
    expect((await settled(azure, patch)).status).toBe("Succeeded");
    expect((await instanceView(azure, rc("once"))).output).toBe("run 3 b\n");
    // A PUT that leaves out a member it had is a changed configuration too: the member is gone, and the script runs again.
    const without = await putRunCommand(azure, rc("once"), { source: { script }, timeoutInSeconds: 60 });
    expect((without.reply.body as { properties: Record<string, unknown> }).properties.parameters).toBeUndefined();
    expect((await instanceView(azure, rc("once"))).output).toBe("run 4 \n");
    await putRunCommand(azure, rc("once"), { source: { script }, timeoutInSeconds: 60, runAsUser: "azureuser" });
    expect((await instanceView(azure, rc("once"))).output).toBe("run 5 \n");
    await putRunCommand(azure, rc("once"), { source: { script }, timeoutInSeconds: 60 });
    expect((await instanceView(azure, rc("once"))).output).toBe("run 6 \n");
    expect(readFileSync(counter, "utf8")).toBe("6\n");
  });

  it("keeps the last 4,096 bytes of output and of error", async () => {
    const script =
      "head -c 5000 /dev/zero | tr '\\0' a; echo END; head -c 6000 /dev/zero | tr '\\0' b >&2; echo ERR >&2";
    await putRunCommand(azure, rc("long"), { source: { script } });
    const view = await instanceView(azure, rc("long"));
    expect(view.output).toBe(`${"a".repeat(4092)}END\n`);
    expect(view.error).toBe(`${"b".repeat(4092)}ERR\n`);
  });

  it("kills a script that outlives timeoutInSeconds, as the handler does (Failed, exit status -1)", async () => {
    await putRunCommand(azure, rc("slow"), {
      source: { script: 'echo started; echo "$$" > "$HOME/slow.pid"; sleep 600; echo never' },
      timeoutInSeconds: 1,
    });
    const view = await instanceView(azure, rc("slow"));
    expect(view).toMatchObject({
      executionState: "Failed",
      executionMessage: "Execution failed: failed to execute command: command terminated with exit status=-1",
      exitCode: -1,
      output: "started\n",
    });
    const pid = Number(readFileSync(join(home, "slow.pid"), "utf8"));
    expect(running(pid)).toBe(false);
  });

  it("with asyncExecution, provisioning ends once the script started, and the instance view follows it", async () => {
    const gate = join(home, "async-go");
    const { operation } = await putRunCommand(azure, rc("async"), {
      source: { script: 'echo waiting; while [ ! -e "$HOME/async-go" ]; do sleep 0.02; done; echo done' },
      asyncExecution: true,
    });
    expect(operation.status).toBe("Succeeded");
    expect(await instanceView(azure, rc("async"))).toMatchObject({
      executionState: "Running",
      executionMessage: "Execution in progress",
    });
    writeFileSync(gate, "");
    expect(await untilState(azure, rc("async"), "Succeeded")).toMatchObject({ output: "waiting\ndone\n", exitCode: 0 });
  });

  it("runs two run commands of one VM side by side (each waits for the other)", async () => {
    const first = azure.arm.request("PUT", `${rc("left")}?${API}`, {
      location: azure.location,
      properties: {
        source: { script: 'touch "$HOME/left-up"; while [ ! -e "$HOME/right-up" ]; do sleep 0.02; done; echo left' },
      },
    });
    const second = azure.arm.request("PUT", `${rc("right")}?${API}`, {
      location: azure.location,
      properties: {
        source: { script: 'touch "$HOME/right-up"; while [ ! -e "$HOME/left-up" ]; do sleep 0.02; done; echo right' },
      },
    });
    const [left, right] = await Promise.all([first, second]);
    expect([left.status, right.status]).toEqual([201, 201]);
    expect((await Promise.all([settled(azure, left), settled(azure, right)])).map((o) => o.status)).toEqual([
      "Succeeded",
      "Succeeded",
    ]);
    expect((await instanceView(azure, rc("left"))).output).toBe("left\n");
    expect((await instanceView(azure, rc("right"))).output).toBe("right\n");
  });

  it("reports what the handler reports for a missing script and for a runAsUser the VM does not have", async () => {
    await putRunCommand(azure, rc("empty"), { source: {} });
    expect(await instanceView(azure, rc("empty"))).toMatchObject({
      executionState: "Failed",
      exitCode: -202,
      executionMessage:
        "Execution failed: failed to get configuration: invalid configuration: Either 'source.script' or 'source.scriptUri' has to be specified",
    });
    await putRunCommand(azure, rc("nobody"), { source: { script: "id" }, runAsUser: "no-such-user" });
    expect(await instanceView(azure, rc("nobody"))).toMatchObject({
      executionState: "Failed",
      exitCode: -102,
      executionMessage: expect.stringMatching(
        /^Execution failed: failed to execute command: Failed to lookup RunAs user 'no-such-user'\. Looks like user does not exist\..*: user: unknown user no-such-user$/,
      ),
    });
    // The VM's admin exists (on the portable guest the script still runs as whoever runs Local Azure).
    await putRunCommand(azure, rc("admin"), { source: { script: "echo as admin" }, runAsUser: "azureuser" });
    expect(await instanceView(azure, rc("admin"))).toMatchObject({ executionState: "Succeeded", output: "as admin\n" });
  });

  it.each([
    [{ source: { scriptUri: "https://example.invalid/s.sh" } }, "properties.source.scriptUri"],
    [{ source: { commandId: "RunShellScript" } }, "properties.source.commandId"],
    [{ source: { script: "true" }, outputBlobUri: "https://example.invalid/o" }, "properties.outputBlobUri"],
    [{ source: { script: "true" }, timeoutInSeconds: -1 }, "properties.timeoutInSeconds"],
    [{ source: { script: "true" }, parameters: [{ name: "A", value: 1 }] }, "properties.parameters"],
    [{ source: { script: "true" }, protectedParameters: [null] }, "properties.protectedParameters"],
  ])("refuses what it cannot run with 400 InvalidParameter naming it: %j", async (properties, target) => {
    const reply = await azure.arm.request("PUT", `${rc("refused")}?${API}`, { location: azure.location, properties });
    expect(reply.status).toBe(400);
    expect(reply.body).toMatchObject({ error: { code: "InvalidParameter", target } });
    expect((reply.body as { error: { message: string } }).error.message).toMatch(/\S{10,}/);
    expect((await azure.arm.request("GET", `${rc("refused")}?${API}`)).status).toBe(404);
  });
});

describe("GET, list and DELETE", () => {
  it("lists a VM's run commands, with instance views only when asked", async () => {
    const plain = await azure.arm.request("GET", `${vm.vmId}/runCommands?${API}`);
    const items = (plain.body as { value: Array<{ name: string; properties: Record<string, unknown> }> }).value;
    expect(items.map((item) => item.name)).toContain("hello");
    expect(items.every((item) => !("instanceView" in item.properties))).toBe(true);
    const full = await azure.arm.request("GET", `${vm.vmId}/runCommands?${API}&$expand=instanceView`);
    const hello = (
      full.body as { value: Array<{ name: string; properties: { instanceView: { output: string } } }> }
    ).value.find((item) => item.name === "hello");
    expect(hello?.properties.instanceView.output).toBe("hello from the VM\n");
  });

  it("answers 404 ResourceNotFound for a missing one, and ParentResourceNotFound under a missing VM", async () => {
    const missing = await azure.arm.request("GET", `${rc("nope")}?${API}`);
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual({
      error: {
        code: "ResourceNotFound",
        message:
          "The Resource 'Microsoft.Compute/virtualMachines/rc-vm/runCommands/nope' under resource group 'rc-rg' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
      },
    });
    const orphan = await azure.arm.request(
      "PUT",
      `${vm.resourceGroupId}/providers/Microsoft.Compute/virtualMachines/ghost/runCommands/x?${API}`,
      {
        location: azure.location,
        properties: { source: { script: "true" } },
      },
    );
    expect([orphan.status, (orphan.body as { error: { code: string } }).error.code]).toEqual([
      404,
      "ParentResourceNotFound",
    ]);
  });

  it("DELETE answers 202 with Azure-AsyncOperation and Location, kills the running script, and 204 once gone", async () => {
    const reply = await azure.arm.request("PUT", `${rc("doomed")}?${API}`, {
      location: azure.location,
      properties: { source: { script: 'echo "$$" > "$HOME/doomed.pid"; sleep 600' } },
    });
    const pid = Number(await untilFile(join(home, "doomed.pid")));
    const deleted = await azure.arm.request("DELETE", `${rc("doomed")}?${API}`);
    expect(deleted.status).toBe(202);
    expect(deleted.headers["azure-asyncoperation"]).toBeDefined();
    expect(deleted.headers.location).toBeDefined();
    expect((await settled(azure, deleted)).status).toBe("Succeeded");
    // The PUT's operation was overtaken by the DELETE.
    expect(await settled(azure, reply)).toMatchObject({ status: "Failed", error: { code: "OperationPreempted" } });
    expect(running(pid)).toBe(false);
    expect((await azure.arm.request("GET", `${rc("doomed")}?${API}`)).status).toBe(404);
    expect((await azure.arm.request("DELETE", `${rc("doomed")}?${API}`)).status).toBe(204);
    expect(existsSync(join(home, "var/lib/waagent/run-command-handler/download/doomed/0/script.sh"))).toBe(true);
  });
});
