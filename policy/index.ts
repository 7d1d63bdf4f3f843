import { PolicyPack } from "@pulumi/policy";
import { POLICY_PACK_NAME, securityPolicies } from "./policies";

// The stack's security defaults as policy: `pulumi preview --policy-pack policy` loads this file
// (package.json main) and runs every policy on each resource's inputs before it is created.
new PolicyPack(POLICY_PACK_NAME, {
  description: "vm-identity-access security defaults",
  enforcementLevel: "mandatory",
  policies: securityPolicies,
});
