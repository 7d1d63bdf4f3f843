import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { destroyWithEngine, upWithEngine } from "../../engine/localRun";
import { engineMissing } from "../../local/engineBridge";
import type { AccessCheck } from "../../verify/contract";
import { leftovers } from "./support";

/**
 * The real `pulumi up` (npm run engine:build) of the program with its production settings against
 * Local Azure with booted guests, kept between runs: a check that fails because RBAC propagates
 * after the probe's deadline heals on the next up, the guest rebooted from the kept cloud.
 */

const REPO = join(__dirname, "..", "..");
const missing = engineMissing(REPO);
const stateDir = mkdtempSync(join(tmpdir(), "guest-engine-"));
const stack = `guest-tier-${process.pid}`;
const lines: string[] = [];
const progress = (line: string) => void lines.push(line);

// Not built: the engine tier's own setup (npm run engine:build, Go needed) has not run on this machine.
describe.skipIf(missing !== null)(`pulumi up with real guests${missing ? ` (skipped: ${missing})` : ""}`, () => {
  afterAll(async () => {
    await destroyWithEngine(stateDir, () => undefined, stack);
    rmSync(stateDir, { recursive: true, force: true });
    rmSync(join(REPO, `Pulumi.${stack}.yaml`), { force: true });
  }, 120_000);

  it("the first up fails: RBAC propagates in 45 s, the probe gives up after 30 s", async () => {
    const first = await upWithEngine(
      { guest: "linux", stateDir, accessCheckTimeoutSeconds: 30, faults: { rbacDelaySeconds: 45 } },
      progress,
      stack,
    );
    expect(first.ok).toBe(false);
    expect(first.error).toMatch(/^command:remote:Command vmia-check-0-user: Process exited with status 1/);
    expect(first.verdict).toMatch(/^NOT VERIFIED: vmia-check-0-user: the probe exited 1: arm 403 AuthorizationFailed/);
    // The stack's config holds none of the emulator's settings.
    const config = parse(readFileSync(join(REPO, `Pulumi.${stack}.yaml`), "utf8")) as { config: object };
    expect(Object.keys(config.config).sort()).toEqual([
      "vm-identity-access:accessCheckTimeoutSeconds",
      "vm-identity-access:sshAllowedCidr",
    ]);
  }, 150_000);

  it("the next up heals: the check runs again in the rebooted guest and verifies", async () => {
    lines.length = 0;
    const second = await upWithEngine({ guest: "linux", stateDir, accessCheckTimeoutSeconds: 30 }, progress, stack);
    expect(second.error).toBeNull();
    expect(second.verdict).toBe("VERIFIED: 1 of 1 check(s) proved access for identity user on 1 VM");
    const [entry] = (second.outputs.accessCheck as AccessCheck).results;
    expect(entry.expected.resource).toBe("https://management.azure.com/");
    expect(lines.some((line) => /command:remote:Command vmia-check-0-user created/.test(line))).toBe(true);
    expect(leftovers()).toEqual([]);
  }, 150_000);
});
