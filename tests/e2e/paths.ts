import { resolve } from "node:path";

/** The project directory: Pulumi.yaml, index.ts. */
export const REPO_ROOT = resolve(__dirname, "..", "..");
