/**
 * pulumi-resource-azure-native, the stand-in: serves the engine's ResourceProvider gRPC for the
 * azure-native types of this program, against Local Azure only (see localAzureTarget.ts). Started by
 * the launcher engine/plugins/install.ts writes; prints its port first, as every plugin does.
 */
import { main } from "@pulumi/pulumi/provider";
import { ArmClient } from "../../local-azure/armClient";
import { azureNativeProvider } from "./azureNativeProvider";
import { deployerToken, tokenObjectId } from "./deployerToken";
import { exitWithEngine, localAzureTarget, NotLocalAzureError } from "./localAzureTarget";

const PLUGIN = "pulumi-resource-azure-native";

function start(): void {
  let target: ReturnType<typeof localAzureTarget>;
  try {
    target = localAzureTarget(PLUGIN);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(error instanceof NotLocalAzureError ? 3 : 1);
  }
  const token = deployerToken(target);
  const arm = new ArmClient(target.armEndpoint, target.caPem, token);
  const provider = azureNativeProvider({
    arm,
    subscriptionId: target.subscriptionId,
    tenantId: target.tenantId,
    location: target.location,
    deployerClientId: target.deployer.clientId,
    deployerObjectId: async () => tokenObjectId(await token()),
  });
  void main(provider, process.argv.slice(2));
  exitWithEngine();
}

start();
