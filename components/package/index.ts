/**
 * The entry of the `vm-identity-access` plugin package (PulumiPlugin.yaml beside it): Pulumi's Node.js
 * component provider host serves every ComponentResource this module exports, and derives the package's
 * schema from their TypeScript source. The component is the one in components/, re-exported, not a copy.
 * Its dependencies resolve from the repository's node_modules (`npm ci` at the root); this package
 * declares none, so no second @pulumi/pulumi is ever installed beside it.
 */
export { VmAccessCheck } from "../vmAccessCheck";
