import { LocalAzure, seedVm } from "../../local-azure";
import { assignmentCreatedAt, probeVars, runProbeTimed } from "../../tests/matrix/probeHarness";
import type { Figure } from "../figures";
import { ratio } from "../stats";
import { runTutorialCheck, type SingleCheck } from "../tutorialCurl";

/**
 * Time to notice access: from the instant Local Azure records the Reader assignment to the probe's
 * first successful read, with RBAC propagation delayed by D seconds, side by side with the two
 * strategies people use instead. The probe runs directly against Local Azure (seedVm + probe.sh):
 * a full deploy would add only its own, unrelated time.
 */

/** The verified-module examples' fixed wait before their one check. */
export const FIXED_SLEEP_SECONDS = 60;

export interface NoticeResult {
  delaySeconds: number;
  /** Assignment created -> our probe's successful read (seconds), or null when it did not succeed. */
  oursSeconds: number | null;
  probeAttempts: number | null;
  /** The tutorial's single check run at once after the assignment: did it succeed? */
  tutorial: SingleCheck;
  /** One check run after access had propagated: the cost of the fixed-sleep strategy's one request. */
  singleCheckAfterPropagation: SingleCheck;
  /** 60 s + one check when that check lands after D; null (fails) otherwise. Computed, not slept. */
  fixedSleepSeconds: number | null;
}

export async function measureNotice(delaySeconds: number): Promise<NoticeResult> {
  const azure = await LocalAzure.start({ faults: { rbacDelaySeconds: delaySeconds, identityAttachDelaySeconds: 0 } });
  try {
    const seed = await seedVm(azure, { identity: "user", grant: true, vmName: `vm-notice-${delaySeconds}` });
    const base = {
      imdsEndpoint: seed.imdsEndpoint,
      armEndpoint: azure.armEndpoint,
      caCertPath: azure.caCertPath,
      subscriptionId: azure.subscriptionId,
      resourceGroup: seed.resourceGroup,
      clientId: seed.userIdentity?.clientId,
    };
    const tutorial = await runTutorialCheck(base);
    const logBefore = azure.requestLog.length;
    const deadline = Math.ceil(delaySeconds + 60);
    const run = await runProbeTimed(probeVars(azure, seed, "user", deadline), azure.caCertPath, (deadline + 10) * 1000);
    const createdAt = assignmentCreatedAt(azure);
    const success = azure.requestLog
      .slice(logBefore)
      .find((entry) => entry.service === "arm" && entry.status === 200 && /\/resourceGroups\/[^/]+$/i.test(entry.path));
    const oursSeconds = createdAt !== null && success ? (success.at - createdAt) / 1000 : null;
    const singleCheckAfterPropagation = await runTutorialCheck(base);
    // The one check lands FIXED_SLEEP_SECONDS after the assignment plus the token request's latency:
    // it succeeds only when propagation finished by then.
    const checkLandsAt = FIXED_SLEEP_SECONDS + singleCheckAfterPropagation.seconds;
    const fixedSleepSeconds =
      singleCheckAfterPropagation.succeeded && checkLandsAt >= delaySeconds ? checkLandsAt : null;
    return {
      delaySeconds,
      oursSeconds,
      probeAttempts: run.result?.resourceGroup?.attempts ?? null,
      tutorial,
      singleCheckAfterPropagation,
      fixedSleepSeconds,
    };
  } finally {
    await azure.stop();
  }
}

export function noticeFigures(results: NoticeResult[]): Figure[] {
  const section = "time to notice access";
  return results.flatMap((r) => {
    const d = `D=${r.delaySeconds}s`;
    const overshoot = r.oursSeconds === null ? null : r.oursSeconds - r.delaySeconds;
    return [
      {
        section,
        name: `${d} ours (probe, capped backoff)`,
        value: r.oursSeconds,
        unit: "s",
        how: `LocalAzure rbacDelaySeconds=${r.delaySeconds}; seedVm + verify/probe.sh; requestLog: assignment PUT -> first 200 RG read (${r.probeAttempts ?? "?"} read attempts)`,
      },
      {
        section,
        name: `${d} ours minus injected D`,
        value: overshoot,
        unit: "s",
        how: "the above minus Local Azure's injected delay D: the latency the probe's backoff adds",
      },
      {
        section,
        name: `${d} fixed ${FIXED_SLEEP_SECONDS} s sleep + one check`,
        value: r.fixedSleepSeconds === null ? "fails" : r.fixedSleepSeconds,
        unit: "s",
        how: `computed: ${FIXED_SLEEP_SECONDS} s + one real token+read (${r.singleCheckAfterPropagation.seconds.toFixed(3)} s, statuses ${r.singleCheckAfterPropagation.tokenStatus}/${r.singleCheckAfterPropagation.readStatus}); fails when D > ${FIXED_SLEEP_SECONDS} s + that`,
      },
      {
        section,
        name: `${d} tutorial single curl, no retry`,
        value: r.tutorial.succeeded
          ? r.tutorial.seconds
          : `fails (token ${r.tutorial.tokenStatus}, read ${r.tutorial.readStatus})`,
        unit: "s",
        how: "run for real right after the assignment: IMDS token curl, then one ARM read curl",
      },
      {
        section,
        name: `${d} ratio ours / fixed sleep`,
        value: ratio(r.oursSeconds, r.fixedSleepSeconds),
        unit: "ratio",
        how: "n/a where the fixed sleep fails (D beyond the sleep)",
      },
      {
        section,
        name: `${d} ratio ours / tutorial`,
        value: r.tutorial.succeeded ? ratio(r.oursSeconds, r.tutorial.seconds) : "tutorial never verifies",
        unit: "ratio",
        how: "the tutorial's one try fails while RBAC propagates: no time to compare with",
      },
    ] satisfies Figure[];
  });
}
