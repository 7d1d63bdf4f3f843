import { createHash } from "node:crypto";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { lock } from "proper-lockfile";

/**
 * A turn at the project's `local` stack, for the tests that do by hand what a user does: `npm run local
 * -- --engine` and `pulumi …` after `eval "$(npm run -s local -- env)"` work on stack `local`, whose
 * config is the one file Pulumi.local.yaml in the program's folder, whatever the state folder. The
 * engine tier's byHand.test.ts and the guest tier's service.test.ts each write it; when .ci/run ran the
 * two tiers side by side, each read the other's config ("validating stack config"). So they take
 * turns: a lock per clone (outside it, in the temporary folder), held for the whole file. The turn also
 * keeps a developer's own Pulumi.local.yaml: saved when it starts, put back when it ends.
 */

/** How long a turn is waited for: the longest of the two files, several times over. */
const WAIT_MS = 10 * 60_000;

export interface LocalStackTurn {
  /** Puts the developer's Pulumi.local.yaml back (or removes the test's), then lets the other file go. */
  end(): Promise<void>;
}

export async function takeLocalStackTurn(repo: string): Promise<LocalStackTurn> {
  const clone = createHash("sha256").update(repo).digest("hex").slice(0, 16);
  const release = await lock(repo, {
    realpath: false,
    lockfilePath: join(tmpdir(), `vm-identity-access-local-stack-${clone}.lock`),
    // A holder that died leaves the lock stale after a minute (proper-lockfile refreshes it meanwhile).
    stale: 60_000,
    retries: { retries: Math.ceil(WAIT_MS / 1000), factor: 1, minTimeout: 1000, maxTimeout: 1000 },
  });
  const stackConfig = join(repo, "Pulumi.local.yaml");
  const saved = existsSync(stackConfig) ? readFileSync(stackConfig, "utf8") : null;
  return {
    async end() {
      if (saved === null) rmSync(stackConfig, { force: true });
      else writeFileSync(stackConfig, saved);
      await release();
    },
  };
}
