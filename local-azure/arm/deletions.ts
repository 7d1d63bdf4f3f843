/**
 * ARM's long-running deletes, each ended by a timer of its own at the moment its operation ends
 * (`lroSeconds` after it began, as the faults say then), whether or not anyone polls it: a VM deleted
 * with `az vm delete --no-wait` loses its guest and its IMDS then, and a resource group's role
 * assignments are revoked as of then, not when ARM is next asked something.
 *
 * One deletion covers the resources that go together (a VNet and its subnets, a VM and its run
 * commands, a resource group and all it holds), each named by a key (its lower-cased ID). A poll that
 * finds the operation done waits for the deletion to have ended, what hangs on it (a VM's guest)
 * included, so Succeeded is never answered while the old guest is still being torn down.
 */

interface Deletion {
  keys: string[];
  /** When the delete began (epoch ms): it ends at `endOf(since)`. */
  since: number;
  finish: () => Promise<void>;
  timer?: NodeJS.Timeout;
  /** Set once it has begun to end; settles when it has ended (its errors reported, never thrown). */
  ended?: Promise<void>;
}

/** Node's timers take at most 2^31 - 1 ms; a later end is looked at again then. */
const LONGEST_TIMER_MS = 2 ** 31 - 1;

export class Deletions {
  /** By every key a deletion covers. */
  private readonly pending = new Map<string, Deletion>();
  private stopped = false;

  constructor(
    /** When a delete that began at `since` ends, as the faults say now. */
    private readonly endOf: (since: number) => number,
    private readonly report: (error: Error) => void,
    /** Told after each deletion has ended (what it removed has left the store). */
    private readonly onEnded: () => void = () => {},
  ) {}

  /**
   * Starts the deletion of `keys`, begun at `since`, which `finish` carries out when its time comes
   * (at once when that is now). A key another deletion already covers stays with it.
   */
  begin(keys: readonly string[], since: number, finish: () => Promise<void>): void {
    const fresh = keys.filter((key) => !this.pending.has(key));
    if (fresh.length === 0 || this.stopped) return;
    const deletion: Deletion = { keys: fresh, since, finish };
    for (const key of fresh) this.pending.set(key, deletion);
    this.arm(deletion);
  }

  /** Whether a deletion covers `key` (it is Deleting, or being torn down). */
  covers(key: string): boolean {
    return this.pending.has(key);
  }

  /** The faults changed: each pending deletion's end is read again, and one due now ends now. */
  faultsChanged(): void {
    for (const deletion of new Set(this.pending.values())) if (!deletion.ended) this.arm(deletion);
  }

  /**
   * Resolves once the deletion covering `key` has ended, ending it now if its time has come (its
   * timer may not have fired yet); at once when none covers it. One that is not due yet is left to
   * its timer, and so is the answer: nothing to wait for.
   */
  ended(key: string): Promise<void> {
    const deletion = this.pending.get(key);
    if (!deletion) return Promise.resolve();
    if (!deletion.ended && !this.stopped && this.endOf(deletion.since) <= Date.now()) this.end(deletion);
    return deletion.ended ?? Promise.resolve();
  }

  /** Local Azure stops: no deletion ends from now on (a kept cloud resumes them); those ending are awaited. */
  async stop(): Promise<void> {
    this.stopped = true;
    const all = [...new Set(this.pending.values())];
    for (const deletion of all) clearTimeout(deletion.timer);
    await Promise.all(all.map((deletion) => deletion.ended));
  }

  private arm(deletion: Deletion): void {
    clearTimeout(deletion.timer);
    if (this.stopped) return;
    const left = this.endOf(deletion.since) - Date.now();
    if (left <= 0) {
      this.end(deletion);
      return;
    }
    // Looked at again when it fires: the end may have moved meanwhile, or a timer fired a little early.
    deletion.timer = setTimeout(() => this.arm(deletion), Math.min(left, LONGEST_TIMER_MS));
    // A pending delete alone does not keep a process alive (stop() clears it anyway).
    deletion.timer.unref();
  }

  private end(deletion: Deletion): void {
    if (deletion.ended) return;
    clearTimeout(deletion.timer);
    let finishing: Promise<void>;
    try {
      // Called synchronously: what leaves the store leaves it before the caller goes on.
      finishing = deletion.finish();
    } catch (error) {
      finishing = Promise.reject(error);
    }
    deletion.ended = finishing
      .catch((error: Error) => this.report(error))
      .finally(() => {
        for (const key of deletion.keys) if (this.pending.get(key) === deletion) this.pending.delete(key);
        this.onEnded();
      });
  }
}
