import { isIP } from "node:net";
import type { AccessCheck } from "../../verify/contract";
import { judgeAccessCheck } from "../../verify/judge";

/**
 * Ephemeral test stacks: create a uniquely named stack, `up`, judge `accessCheck`, prove a second run
 * changes nothing, then destroy and remove the stack whatever failed on the way. The steps talk to a
 * narrow `StackDriver`, so the same logic drives real Azure (Automation API) and Local Azure, and
 * tests drive it with a fake.
 */

export interface ConfigValue {
  value: string;
  secret?: boolean;
}

/** The few Automation API operations the harness needs. */
export interface StackDriver {
  readonly stackName: string;
  setConfig(values: Record<string, ConfigValue>): Promise<void>;
  /** `signal` aborts the update (the CLI cancels it as on Ctrl-C, releasing the stack's lock). */
  up(onOutput: (line: string) => void, signal?: AbortSignal): Promise<{ outputs: Record<string, unknown> }>;
  /** What a second deployment would change: everything but `same`. */
  preview(): Promise<{ changes: number; summary: Record<string, number> }>;
  destroy(onOutput: (line: string) => void): Promise<void>;
  remove(): Promise<void>;
}

export type IdentityMode = "user" | "system" | "both";

/** The prefix every ephemeral stack carries, so the sweeper finds leftovers. */
export const EPHEMERAL_PREFIX = "e2e-";

/**
 * A stack name unique per run: `e2e-<run id>-<random>`, within Pulumi's rules (letters, digits,
 * `-`, `_`, `.`; at most 100 characters).
 */
export function ephemeralStackName(runId: string, random: string, label = ""): string {
  const clean = (text: string) => text.replace(/[^A-Za-z0-9_.-]+/g, "-").replace(/^-+|-+$/g, "");
  const parts = [clean(runId) || "local", clean(label), clean(random)].filter((part) => part !== "");
  if (clean(random) === "") throw new Error("ephemeralStackName needs a random suffix of letters or digits");
  const name = `${EPHEMERAL_PREFIX}${parts.join("-")}`;
  // Keep the random suffix, which makes the name unique, when the run ID is long.
  return name.length <= 100 ? name : `${name.slice(0, 99 - clean(random).length)}-${clean(random)}`;
}

/** The runner's own public address as the only network allowed to reach SSH. */
export function sshAllowedCidrFor(publicIp: string): string {
  const address = publicIp.trim();
  switch (isIP(address)) {
    case 4:
      return `${address}/32`;
    case 6:
      return `${address}/128`;
    default:
      throw new Error(`the runner's public address must be an IPv4 or IPv6 address; got ${JSON.stringify(publicIp)}`);
  }
}

/** How the check reaches the VM (the program's `accessCheckVia`). */
export type CheckVia = "ssh" | "runCommand";

/**
 * The transport of this run: E2E_CHECK_VIA (`ssh` or `runCommand`), ssh when unset. Through Run
 * Command the stack opens nothing, so the runner's own address is not needed at all.
 */
export function checkViaFrom(env: Record<string, string | undefined>): CheckVia {
  const via = env.E2E_CHECK_VIA ?? "ssh";
  if (via !== "ssh" && via !== "runCommand") {
    throw new Error(`E2E_CHECK_VIA must be ssh or runCommand; got ${JSON.stringify(via)}`);
  }
  return via;
}

/**
 * The transports a run covers: E2E_CHECK_VIA's when it is set (each job on Azure sets one); unset, both
 * offline, where a stack costs seconds and the suite proves each case through either way to the VM,
 * and SSH alone on Azure.
 */
export function checkViasFor(
  env: Record<string, string | undefined>,
  target: "local" | "azure" | "engine",
): CheckVia[] {
  if (env.E2E_CHECK_VIA !== undefined || target === "azure") return [checkViaFrom(env)];
  return ["ssh", "runCommand"];
}

/**
 * The stack settings the harness sets, from the environment: over SSH, SSH open to the runner's own
 * public address only (`publicIp`, required then); through Run Command, `accessCheckVia: runCommand`
 * and no sshAllowedCidr (the program refuses one there: nothing is opened). The transport is `via`
 * when given, else E2E_CHECK_VIA's.
 */
export function harnessSettings(
  env: Record<string, string | undefined>,
  identity: IdentityMode,
  publicIp?: string,
  via: CheckVia = checkViaFrom(env),
): Record<string, ConfigValue> {
  if (via === "ssh" && publicIp === undefined) {
    throw new Error("over SSH the harness needs the runner's public address, the only one SSH is opened to");
  }
  return {
    "azure-native:location": { value: env.E2E_LOCATION ?? "westeurope" },
    "vm-identity-access:identity": { value: identity },
    ...(via === "ssh"
      ? { "vm-identity-access:sshAllowedCidr": { value: sshAllowedCidrFor(publicIp as string) } }
      : { "vm-identity-access:accessCheckVia": { value: "runCommand" } }),
    "vm-identity-access:accessCheckTimeoutSeconds": { value: env.E2E_ACCESS_CHECK_TIMEOUT ?? "900" },
  };
}

export type TargetDecision = { target: "local" } | { target: "azure" } | { skip: string };

/**
 * Which cloud the end-to-end suite runs against: Local Azure unless `E2E_TARGET=azure`, and real
 * Azure only when the CLI and the credentials it needs are there (otherwise a skip that says why).
 */
export function decideTarget(env: Record<string, string | undefined>, hasPulumiCli: boolean): TargetDecision {
  const target = env.E2E_TARGET ?? "local";
  if (target === "local") return { target: "local" };
  if (target !== "azure") return { skip: `E2E_TARGET must be local or azure; got ${JSON.stringify(target)}` };
  if (!hasPulumiCli) return { skip: "E2E_TARGET=azure needs the Pulumi CLI on PATH (pulumi/actions sets it up)" };
  const missing = ["ARM_CLIENT_ID", "ARM_TENANT_ID", "ARM_SUBSCRIPTION_ID"].filter((name) => !env[name]);
  if (missing.length > 0)
    return { skip: `E2E_TARGET=azure needs ${missing.join(", ")} (the Azure login to deploy with)` };
  if (env.ARM_USE_OIDC !== "true" && !env.ARM_CLIENT_SECRET && env.ARM_USE_MSI !== "true") {
    return {
      skip: "E2E_TARGET=azure needs a login: ARM_USE_OIDC=true (preferred), ARM_USE_MSI=true or ARM_CLIENT_SECRET",
    };
  }
  if (!env.PULUMI_BACKEND_URL && !env.PULUMI_ACCESS_TOKEN) {
    return { skip: "E2E_TARGET=azure needs a Pulumi backend: PULUMI_BACKEND_URL or PULUMI_ACCESS_TOKEN" };
  }
  if (env.PULUMI_BACKEND_URL && !env.PULUMI_ACCESS_TOKEN && env.PULUMI_CONFIG_PASSPHRASE === undefined) {
    return { skip: "a self-managed backend needs PULUMI_CONFIG_PASSPHRASE for the stack's secrets" };
  }
  return { target: "azure" };
}

export interface EphemeralReport {
  stackName: string;
  accessCheck?: AccessCheck;
  /** The re-judged verdict (never the stored one). */
  verified: boolean;
  secondRunChanges?: number;
  /** Every step that failed, in order; the first is the cause. */
  errors: Array<{ step: string; message: string }>;
  cleanedUp: boolean;
}

/** Re-judges a stack's accessCheck from its evidence, as `npm run verify` does. */
export function rejudge(outputs: Record<string, unknown>): AccessCheck {
  const stored = outputs.accessCheck as AccessCheck | undefined;
  if (!stored || !Array.isArray(stored.results)) throw new Error("the stack has no accessCheck output to judge");
  return judgeAccessCheck(
    stored.expectation,
    stored.results.map(({ vm, identity, expected, probe }) => ({ vm, identity, expected, probe })),
  );
}

export interface SignalHooks {
  on(signal: NodeJS.Signals, handler: () => void): void;
  off(signal: NodeJS.Signals, handler: () => void): void;
}

/**
 * The whole life of one ephemeral stack. Cleanup (destroy, then remove) runs in `finally`: after a
 * failure, after a failure of destroy itself (remove is still tried, and every error is reported,
 * the first one first), and on SIGINT/SIGTERM. `inspect`, when given, looks at what the stack made
 * once its evidence is judged and before the second run (a failure is recorded as the step `inspect`).
 */
export async function runEphemeral(
  driver: StackDriver,
  plan: {
    settings: Record<string, ConfigValue>;
    log?: (line: string) => void;
    signals?: SignalHooks;
    inspect?: (outputs: Record<string, unknown>) => Promise<void>;
  },
): Promise<EphemeralReport> {
  const log = plan.log ?? (() => undefined);
  const report: EphemeralReport = { stackName: driver.stackName, verified: false, errors: [], cleanedUp: false };
  // The step in flight: cleanup waits for it (an aborted up releases the stack's lock as it ends).
  let inFlight: Promise<unknown> = Promise.resolve();
  const abort = new AbortController();
  const step = async <T>(name: string, action: () => Promise<T>): Promise<T> => {
    log(`[${driver.stackName}] ${name}`);
    // Started after inFlight is set, so a signal arriving while the step starts still waits for it.
    const running = Promise.resolve().then(action);
    inFlight = running.catch(() => undefined);
    try {
      return await running;
    } catch (error) {
      report.errors.push({ step: name, message: (error as Error).message });
      throw error;
    }
  };

  let cleanup: Promise<void> | undefined;
  const cleanUp = () => {
    cleanup ??= (async () => {
      await inFlight;
      await step("destroy", () => driver.destroy(log)).catch(() => undefined);
      try {
        await step("remove", () => driver.remove());
        report.cleanedUp = !report.errors.some((e) => e.step === "destroy");
      } catch {
        // Already recorded; the sweeper is the last line of defence.
      }
    })();
    return cleanup;
  };
  const onSignal = () => {
    report.errors.push({ step: "signal", message: "interrupted: cleaning up before exit" });
    abort.abort();
    void cleanUp();
  };
  plan.signals?.on("SIGINT", onSignal);
  plan.signals?.on("SIGTERM", onSignal);

  try {
    await step("config", () => driver.setConfig(plan.settings));
    const { outputs } = await step("up", () => driver.up(log, abort.signal));
    const accessCheck = await step("judge", async () => rejudge(outputs));
    report.accessCheck = accessCheck;
    report.verified = accessCheck.verified;
    if (!accessCheck.verified) {
      report.errors.push({ step: "judge", message: "the re-judged evidence does not verify the expected access" });
    }
    const inspect = plan.inspect;
    if (inspect) await step("inspect", () => inspect(outputs));
    const preview = await step("second run", () => driver.preview());
    report.secondRunChanges = preview.changes;
    if (preview.changes !== 0) {
      report.errors.push({
        step: "second run",
        message: `a second run would change ${preview.changes} resource(s): ${JSON.stringify(preview.summary)}`,
      });
    }
  } catch {
    // Recorded by step(); cleanup follows.
  } finally {
    await cleanUp();
    plan.signals?.off("SIGINT", onSignal);
    plan.signals?.off("SIGTERM", onSignal);
  }
  return report;
}

/** Parses an age such as 90m, 6h or 2d into milliseconds. */
export function parseAge(text: string): number {
  const match = /^(\d+)([mhd])$/.exec(text.trim());
  if (!match)
    throw new Error(`an age must be a whole number followed by m, h or d (90m, 6h, 2d); got ${JSON.stringify(text)}`);
  const unit = { m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as "m" | "h" | "d"];
  return Number(match[1]) * unit;
}

export interface StackListing {
  name: string;
  lastUpdate?: string;
  updateInProgress?: boolean;
}

/** Named with the ephemeral prefix (the last part of an org/project/stack name). */
function isEphemeral(stack: StackListing): boolean {
  return (stack.name.split("/").pop() ?? stack.name).startsWith(EPHEMERAL_PREFIX);
}

/** The ephemeral stacks staleStacks leaves alone because the backend lists an update in progress. */
export function stacksInProgress(stacks: StackListing[]): StackListing[] {
  return stacks.filter((stack) => isEphemeral(stack) && stack.updateInProgress);
}

/**
 * The leftover ephemeral stacks to sweep: named with the ephemeral prefix and last updated longer ago
 * than `maxAgeMs`; one that never finished an update (no lastUpdate) is swept: a killed run leaves
 * exactly that. A stack the backend lists with an update in progress (Pulumi Cloud does, and then gives
 * no time) is left alone, since nothing says how old that update is. The file backends list no
 * progress: their lastUpdate is when the last update began, so a killed run's lock is swept once it is
 * older than `maxAgeMs` (sweepStack.ts cancels it).
 */
export function staleStacks(stacks: StackListing[], now: Date, maxAgeMs: number): StackListing[] {
  return stacks.filter((stack) => {
    if (!isEphemeral(stack) || stack.updateInProgress) return false;
    if (!stack.lastUpdate) return true;
    const updated = Date.parse(stack.lastUpdate);
    return Number.isNaN(updated) || now.getTime() - updated > maxAgeMs;
  });
}
