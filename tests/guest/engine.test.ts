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
 * after the probe's deadline heals on the next up, the guest rebooted from the kept cloud; over SSH
 * and through Run Command (the script run inside the guest), one stack each.
 */

const REPO = join(__dirname, "..", "..");
const missing = engineMissing(REPO);

/**
 * Each way to the VM: its setting, the keys the stack's config holds (none of the emulator's), and how
 * the first up fails: over SSH the remote command itself (its probe's JSON in the error), through Run
 * Command the program, judging the run command's instance view (the run command records cleanly).
 */
const TRANSPORTS = [
  {
    via: "ssh",
    configKeys: ["vm-identity-access:accessCheckTimeoutSeconds", "vm-identity-access:sshAllowedCidr"],
    error: /^command:remote:Command vmia-check-0-user: Process exited with status 1/,
    verdict: /^NOT VERIFIED: vmia-check-0-user: the probe exited 1: arm 403 AuthorizationFailed/,
    healed: /command:remote:Command vmia-check-0-user created/,
  },
  {
    via: "runCommand",
    configKeys: ["vm-identity-access:accessCheckTimeoutSeconds", "vm-identity-access:accessCheckVia"],
    error:
      /^pulumi:pulumi:Stack \S+: The access check did not verify the expected access \(granted\):\n {2}vmia-vm0[0-9a-f]{8} \(user\): probe-output: the probe should report ok true, reported ok false with error \{"stage":"arm","status":403,"code":"AuthorizationFailed"/,
    verdict: /^NOT VERIFIED: .*The access check did not verify the expected access \(granted\)/,
    healed:
      /azure-native:compute:VirtualMachineRunCommandByVirtualMachine vmia-check-0-user updated .*\[diff: ~parameters\]/,
  },
] as const;

// Not built: the engine tier's own setup (npm run engine:build, Go needed) has not run on this machine.
describe.skipIf(missing !== null).each(TRANSPORTS)(
  `pulumi up with real guests, check via $via${missing ? ` (skipped: ${missing})` : ""}`,
  (transport) => {
    const stateDir = mkdtempSync(join(tmpdir(), `guest-engine-${transport.via}-`));
    const stack = `guest-tier-${transport.via.toLowerCase()}-${process.pid}`;
    // Over SSH the default (no accessCheckVia in the stack's config), as a user runs it.
    const options = {
      guest: "linux" as const,
      stateDir,
      accessCheckTimeoutSeconds: 30,
      ...(transport.via === "runCommand" ? { accessCheckVia: transport.via } : {}),
    };
    const lines: string[] = [];
    const progress = (line: string) => void lines.push(line);

    afterAll(async () => {
      await destroyWithEngine(stateDir, () => undefined, stack);
      rmSync(stateDir, { recursive: true, force: true });
      rmSync(join(REPO, `Pulumi.${stack}.yaml`), { force: true });
    }, 120_000);

    it("the first up fails: RBAC propagates in 45 s, the probe gives up after 30 s", async () => {
      const first = await upWithEngine({ ...options, faults: { rbacDelaySeconds: 45 } }, progress, stack);
      expect(first.ok).toBe(false);
      expect(first.error).toMatch(transport.error);
      expect(first.verdict).toMatch(transport.verdict);
      // The stack's config holds none of the emulator's settings.
      const config = parse(readFileSync(join(REPO, `Pulumi.${stack}.yaml`), "utf8")) as { config: object };
      expect(Object.keys(config.config).sort()).toEqual(transport.configKeys);
    }, 150_000);

    it("the next up heals: the check runs again in the rebooted guest and verifies", async () => {
      lines.length = 0;
      const second = await upWithEngine(options, progress, stack);
      expect(second.error).toBeNull();
      expect(second.verdict).toBe("VERIFIED: 1 of 1 check(s) proved access for identity user on 1 VM");
      const [entry] = (second.outputs.accessCheck as AccessCheck).results;
      expect(entry.expected.resource).toBe("https://management.azure.com/");
      if (transport.via === "runCommand")
        expect((entry.probe as { runAs?: unknown }).runAs).toEqual({ user: "nobody", uid: 65534 });
      expect(lines.some((line) => transport.healed.test(line))).toBe(true);
      expect(leftovers()).toEqual([]);
    }, 150_000);
  },
);
