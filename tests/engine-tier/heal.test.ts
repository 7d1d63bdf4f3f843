import { afterAll, describe, expect, it } from "vitest";
import { destroyWithEngine, upWithEngine } from "../../engine/localRun";
import { commandProviderInstalled, engineBuilt, isolatedStack } from "./support";

/**
 * A check heals on the next `pulumi up` (issue 10, item 5), with the real engine, the real command
 * provider and a Local Azure kept between the runs: RBAC that takes longer than the probe's deadline
 * fails the first up; the next up, after propagation, runs the check again and verifies, no --replace.
 */

const { stateDir, stack } = isolatedStack("heal");
const lines: string[] = [];
const progress = (line: string) => void lines.push(line);

describe.skipIf(!engineBuilt || !commandProviderInstalled)("a failed check heals on the next pulumi up", () => {
  afterAll(async () => {
    await destroyWithEngine(stateDir, () => undefined, stack);
  }, 120_000);

  it("the first up fails: RBAC propagates in 45 s, the probe gives up after 30 s", async () => {
    const first = await upWithEngine(
      { stateDir, accessCheckTimeoutSeconds: 30, faults: { rbacDelaySeconds: 45 } },
      progress,
      stack,
    );
    expect(first.ok).toBe(false);
    // The remote command itself failed, with the probe's evidence: the engine will run it again.
    expect(first.error).toMatch(/^command:remote:Command vmia-check-0-user: Process exited with status 1/);
    expect(first.verdict).toMatch(/^NOT VERIFIED: vmia-check-0-user: the probe exited 1: arm 403 AuthorizationFailed/);
  }, 150_000);

  it("the second up, after propagation, runs the check again and verifies, without --replace", async () => {
    lines.length = 0;
    const second = await upWithEngine({ stateDir, accessCheckTimeoutSeconds: 30 }, progress, stack);
    expect(second.error).toBeNull();
    expect(second.ok).toBe(true);
    expect(second.verdict).toBe("VERIFIED: 1 of 1 check(s) proved access for identity user on 1 VM");
    // Only the check ran: every Azure resource and key was already there (a kept cloud, not a new one).
    expect(lines.some((line) => /command:remote:Command vmia-check-0-user created/.test(line))).toBe(true);
    expect(lines.some((line) => /17 unchanged/.test(line))).toBe(true);
  }, 150_000);
});
