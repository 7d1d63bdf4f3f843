import { natGatewayMapping } from "./natGateway";
import { networkInterfaceMapping } from "./networkInterface";
import { networkSecurityGroupMapping } from "./networkSecurityGroup";
import { publicIpAddressMapping } from "./publicIpAddress";
import { resourceGroupMapping } from "./resourceGroup";
import { roleAssignmentMapping } from "./roleAssignment";
import { subnetMapping } from "./subnet";
import type { ResourceMapping } from "./types";
import { userAssignedIdentityMapping } from "./userAssignedIdentity";
import { virtualMachineMapping } from "./virtualMachine";
import { virtualMachineRunCommandMapping } from "./virtualMachineRunCommand";
import { virtualNetworkMapping } from "./virtualNetwork";

export { armRequest, autoname, azureNativeOutputs } from "./convert";
export type { ArmContext, ArmRequest, ResourceMapping } from "./types";

/** Every azure-native type the program creates, by type token; in the order ARM needs them. */
export const resourceMappings: readonly ResourceMapping[] = [
  resourceGroupMapping,
  virtualNetworkMapping,
  publicIpAddressMapping,
  natGatewayMapping,
  subnetMapping,
  networkSecurityGroupMapping,
  networkInterfaceMapping,
  userAssignedIdentityMapping,
  virtualMachineMapping,
  virtualMachineRunCommandMapping,
  roleAssignmentMapping,
];

const byType = new Map(resourceMappings.map((mapping) => [mapping.type, mapping]));

/** The table for an azure-native type, or undefined when Local Azure does not model it. */
export function mappingFor(type: string): ResourceMapping | undefined {
  return byType.get(type);
}
