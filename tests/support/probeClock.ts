/**
 * The frozen virtual clock the probe tests run verify/probe.sh on (local-azure/virtualClock.ts): its
 * time moves only when the probe sleeps or the test moves it, so every announced wait, attempt count
 * and deadline comes out as on a real clock, exactly and on any machine, and no second of it is waited
 * for. The probe is run unchanged, with the clock's bash definitions prepended (`prelude`).
 */
import { checkTimeSources, startVirtualClock as startClock, type VirtualClock } from "../../local-azure/virtualClock";

export { checkTimeSources, type VirtualClock };

/** A frozen clock starting at the real time now; remove() deletes its folder. */
export function startVirtualClock(): VirtualClock {
  return startClock({ frozen: true });
}
