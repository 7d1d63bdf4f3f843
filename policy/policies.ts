import type { Policies } from "@pulumi/policy";
import { privateFormNoInboundPath } from "./privateForm";
import { publicIpStandardStatic } from "./publicIp";
import { readerAtResourceGroup } from "./readerRoleAssignment";
import { remoteCommandPinned } from "./remoteCommand";
import { noSshFromInternet } from "./sshFromInternet";
import { linuxSshKeysOnly } from "./sshKeysOnly";
import { vmTrustedLaunch } from "./trustedLaunch";
import { stackVmCount } from "./vmCount";

/**
 * The pack's name and its policies, apart from index.ts: constructing a PolicyPack starts the
 * analyzer's gRPC server, so the local runner and the tests import the policies from here.
 */
export const POLICY_PACK_NAME = "vm-identity-access-security";

export const securityPolicies: Policies = [
  noSshFromInternet,
  linuxSshKeysOnly,
  vmTrustedLaunch,
  publicIpStandardStatic,
  readerAtResourceGroup,
  remoteCommandPinned,
  privateFormNoInboundPath,
  stackVmCount,
];
