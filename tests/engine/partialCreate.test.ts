import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as provrpc from "@pulumi/pulumi/proto/provider_grpc_pb";
import * as provproto from "@pulumi/pulumi/proto/provider_pb";
import * as statusproto from "@pulumi/pulumi/proto/status_pb";
import * as structproto from "google-protobuf/google/protobuf/struct_pb";
import { afterAll, describe, expect, it } from "vitest";
import { HANG_GUARD_MS } from "../support/hangGuard";

/**
 * A partial create as the engine receives it from the azure-native stand-in: the provider's error
 * carries `id`, `properties` and `reasons`, and @pulumi/pulumi/provider's gRPC server sends it as
 * pulumirpc.ErrorResourceInitFailed in `grpc-status-details-bin`, which the engine reads as "created,
 * failed to initialize" (StatusPartialFailure) and records, so the next `pulumi up` updates it.
 */

const ID =
  "/subscriptions/00000000-0000-4000-8000-000000000001/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm0/runCommands/probe";
const URN =
  "urn:pulumi:local::vm-identity-access::azure-native:compute:VirtualMachineRunCommandByVirtualMachine::probe";

let server: ChildProcess | undefined;
afterAll(() => {
  if (server && server.exitCode === null) server.kill("SIGKILL");
});

/** Starts the fixture provider and resolves to the port it prints. */
function startProvider(): Promise<number> {
  const child = spawn(process.execPath, ["--import", "tsx", join(__dirname, "fixtures", "partialCreateProvider.ts")], {
    cwd: join(__dirname, "..", ".."),
    stdio: ["ignore", "pipe", "pipe"],
  });
  server = child;
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const line = /^(\d+)\s*$/m.exec(out);
      if (line) resolve(Number(line[1]));
    });
    child.on("exit", (code) => reject(new Error(`the provider exited (${code}) before printing its port`)));
  });
}

describe("the azure-native stand-in's partial create, over gRPC", () => {
  it(
    "answers Create with ErrorResourceInitFailed: the ID, what ARM holds (with the inputs), and the reason",
    async () => {
      const port = await startProvider();
      const client = new provrpc.ResourceProviderClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
      const request = new provproto.CreateRequest();
      request.setUrn(URN);
      const inputs = {
        resourceGroupName: "rg",
        vmName: "vm0",
        runCommandName: "probe",
        location: "eastus",
        source: { script: "exit 3" },
        treatFailureAsDeploymentFailure: true,
      };
      request.setProperties(structproto.Struct.fromJavaScript(inputs));
      const error = await new Promise<grpc.ServiceError>((resolve, reject) =>
        client.create(request, (err: grpc.ServiceError | null) =>
          err ? resolve(err) : reject(new Error("Create succeeded; the operation was to fail")),
        ),
      );
      client.close();
      const reason = `creating azure-native:compute:VirtualMachineRunCommandByVirtualMachine probe: Status=200 Code="VMExtensionProvisioningError" Message="exit status=3"`;
      expect(error.details).toBe(reason);
      const [packed] = error.metadata.get("grpc-status-details-bin") as Buffer[];
      const status = statusproto.Status.deserializeBinary(new Uint8Array(packed));
      const [detail] = status.getDetailsList();
      expect(detail.getTypeName()).toBe("pulumirpc.ErrorResourceInitFailed");
      const initFailed = provproto.ErrorResourceInitFailed.deserializeBinary(detail.getValue_asU8());
      expect(initFailed.getId()).toBe(ID);
      expect(initFailed.getReasonsList()).toEqual([reason]);
      const properties = initFailed.getProperties()?.toJavaScript() as Record<string, unknown>;
      // What a plain GET reads back (no $expand: no instanceView), and the inputs the next Diff compares.
      expect(properties).toMatchObject({ id: ID, provisioningState: "Failed", source: { script: "exit 3" } });
      expect(properties.instanceView).toBeUndefined();
      expect(properties.__inputs).toEqual(inputs);
    },
    HANG_GUARD_MS,
  );
});
