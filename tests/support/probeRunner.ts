/**
 * Runs verify/probe.sh the way the access check does on a VM: `VAR=… bash -s` with the script on
 * stdin and nothing inherited from this process's environment, with real curl.
 */

import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import type { ProbeResultV1 } from "../../verify/contract";
import { HANG_GUARD_MS } from "./hangGuard";
import { checkTimeSources, startVirtualClock, type VirtualClock } from "./probeClock";

export const PROBE_SCRIPT_PATH = path.join(__dirname, "..", "..", "verify", "probe.sh");

/** The variables of probe contract v1 (undefined leaves a variable unset). */
export interface ProbeEnv {
  AZURE_POD_IDENTITY_AUTHORITY_HOST?: string;
  ARM_ENDPOINT?: string;
  MI_CLIENT_ID?: string;
  MI_OBJECT_ID?: string;
  MI_RESOURCE_ID?: string;
  SUBSCRIPTION_ID?: string;
  RESOURCE_GROUP?: string;
  PROBE_DEADLINE_SECONDS?: string;
  /** Optional: "denied" waits for a refusal instead of access (DESIGN.md "Probe contract"). */
  PROBE_EXPECT?: string;
}

export interface ProbeRunOptions {
  /** PEM bundle curl trusts (CURL_CA_BUNDLE), as Local Azure's guest sets it. */
  caBundlePath?: string;
  /** Kill the probe after this long (a safety net, not an assertion). Defaults to 30 s. */
  killAfterMs?: number;
  /** Script text; defaults to verify/probe.sh. */
  script?: string;
  /** Prepended to PATH (end it with ":"), e.g. to pick an awk or to spy on commands. */
  pathPrefix?: string;
  /** Further variables outside the contract (TMPDIR, proxies). */
  extraEnv?: Record<string, string>;
  /**
   * The probe's clock (tests/support/probeClock.ts): "real" (the default) runs the script as it is;
   * "virtual" a clock of its own for this run, where the probe's waits take no time; or a clock the
   * test holds, to let a hung request's --max-time pass (timeOutCurl).
   */
  clock?: "real" | "virtual" | VirtualClock;
}

export interface ProbeRun {
  exitCode: number | null;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON; undefined when it is not exactly one JSON document. */
  result: ProbeResultV1 | undefined;
}

/** Only loopback is reachable from these tests; PATH keeps the VM's usual tools (bash, curl, awk). */
const GUEST_PATH = "/usr/local/bin:/usr/bin:/bin";

/**
 * A deadline long enough that no machine, however busy, lets it pass before the probe's first answer,
 * for the tests where the deadline must cut off what follows (a denial, a hang, refused connections):
 * with a short one, a busy machine changes which step the deadline cuts, and so the outcome.
 */
export const CUT_OFF_DEADLINE_SECONDS = 20;

/**
 * The waits the probe announced before retrying a stage ("probe: arm resourceGroup: retrying in 1.500s"),
 * in seconds, in order: the probe's own account of its pacing, which the machine's speed cannot change.
 */
export function announcedWaits(stderr: string, stage: string): number[] {
  const waits: number[] = [];
  for (const line of stderr.split("\n")) {
    const prefix = `probe: ${stage}: retrying in `;
    if (line.startsWith(prefix) && line.endsWith("s")) waits.push(Number(line.slice(prefix.length, -1)));
  }
  return waits;
}

export function probeScript(): string {
  return readFileSync(PROBE_SCRIPT_PATH, "utf8");
}

export async function runProbe(env: ProbeEnv, options: ProbeRunOptions = {}): Promise<ProbeRun> {
  const script = options.script ?? probeScript();
  if (options.clock === undefined || options.clock === "real") return spawnProbe(env, options, script);
  checkTimeSources(script);
  if (options.clock !== "virtual") return spawnProbe(env, options, `${options.clock.prelude}${script}`);
  const clock = startVirtualClock();
  try {
    return await spawnProbe(env, options, `${clock.prelude}${script}`);
  } finally {
    clock.remove();
  }
}

function spawnProbe(env: ProbeEnv, options: ProbeRunOptions, script: string): Promise<ProbeRun> {
  const childEnv: Record<string, string> = { ...options.extraEnv, PATH: `${options.pathPrefix ?? ""}${GUEST_PATH}` };
  if (options.caBundlePath !== undefined) childEnv.CURL_CA_BUNDLE = options.caBundlePath;
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined) childEnv[name] = value;
  }
  return new Promise((resolve, reject) => {
    const child = spawn("bash", ["-s"], { env: childEnv, stdio: ["pipe", "pipe", "pipe"] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
    const killer = setTimeout(() => child.kill("SIGKILL"), options.killAfterMs ?? HANG_GUARD_MS);
    child.on("error", (error) => {
      clearTimeout(killer);
      reject(error);
    });
    child.on("close", (exitCode) => {
      clearTimeout(killer);
      const out = Buffer.concat(stdout).toString("utf8");
      let result: ProbeResultV1 | undefined;
      try {
        result = JSON.parse(out) as ProbeResultV1;
      } catch {
        result = undefined;
      }
      resolve({
        exitCode,
        stdout: out,
        stderr: Buffer.concat(stderr).toString("utf8"),
        result,
      });
    });
    child.stdin.end(script);
  });
}
