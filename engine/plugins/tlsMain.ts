/**
 * pulumi-resource-tls, the stand-in: serves tls:index/privateKey:PrivateKey for the engine, and, like
 * the azure-native stand-in, only next to a kept Local Azure (see localAzureTarget.ts).
 */
import { main } from "@pulumi/pulumi/provider";
import { generatePrivateKey } from "../../local-azure/tlsKeys";
import { exitWithEngine, localAzureTarget, NotLocalAzureError } from "./localAzureTarget";
import { tlsProvider } from "./tlsProvider";

const PLUGIN = "pulumi-resource-tls";

try {
  localAzureTarget(PLUGIN);
} catch (error) {
  process.stderr.write(`${(error as Error).message}\n`);
  process.exit(error instanceof NotLocalAzureError ? 3 : 1);
}
void main(tlsProvider(generatePrivateKey), process.argv.slice(2));
exitWithEngine();
