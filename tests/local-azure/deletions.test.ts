import { describe, expect, it } from "vitest";
import { Deletions } from "../../local-azure/arm/deletions";

/**
 * Long-running deletes, each ended by a timer of its own (local-azure/arm/deletions.ts), called
 * directly: their end read from the faults as they are now, a poll waiting for the teardown, stop().
 */

/** A deletion clock whose operations last `lro.ms`, changed as a test changes lroSeconds. */
function deletions(lro: { ms: number }, reported: Error[] = []): Deletions {
  return new Deletions(
    (since) => since + lro.ms,
    (error) => reported.push(error),
  );
}

describe("Deletions", () => {
  it("ends a delete when its operation ends, nobody asking", async () => {
    const clock = deletions({ ms: 20 });
    const ended = new Promise<void>((resolve) => clock.begin(["a"], Date.now(), async () => resolve()));
    expect(clock.covers("a")).toBe(true);
    await ended;
    await clock.ended("a");
    expect(clock.covers("a")).toBe(false);
  });

  it("reads the faults again when they change: a stretched delete waits, one made due ends at once, in the call", async () => {
    const lro = { ms: 3_600_000 };
    const clock = deletions(lro);
    let finished = 0;
    clock.begin(["a", "a/child"], Date.now(), async () => {
      finished++;
    });
    clock.faultsChanged();
    expect(finished).toBe(0);
    lro.ms = 0;
    clock.faultsChanged();
    // Begun synchronously: what leaves the store has left it before the fault's setter returns.
    expect(finished).toBe(1);
    await clock.ended("a/child");
    expect(clock.covers("a")).toBe(false);
    expect(finished).toBe(1);
  });

  it("a poll that finds the delete due waits for its teardown to end; a key already covered stays with its deletion", async () => {
    const lro = { ms: 0 };
    const clock = deletions(lro);
    let release: () => void = () => undefined;
    const torn = new Promise<void>((resolve) => {
      release = resolve;
    });
    const events: string[] = [];
    clock.begin(["vm"], Date.now(), async () => {
      await torn;
      events.push("torn down");
    });
    clock.begin(["vm", "other"], Date.now(), async () => {
      events.push("other");
    });
    const poll = clock.ended("vm").then(() => events.push("poll answered"));
    await clock.ended("other");
    events.push("released");
    release();
    await poll;
    expect(events).toEqual(["other", "released", "torn down", "poll answered"]);
  });

  it("reports a teardown's failure instead of throwing it", async () => {
    const reported: Error[] = [];
    const clock = deletions({ ms: 0 }, reported);
    clock.begin(["x"], Date.now(), async () => {
      throw new Error("reap failed");
    });
    await clock.ended("x");
    expect(reported.map((error) => error.message)).toEqual(["reap failed"]);
  });

  it("stop() clears every pending delete (none ends afterwards) and waits for those ending", async () => {
    const lro = { ms: 3_600_000 };
    const clock = deletions(lro);
    let pendingEnded = false;
    clock.begin(["pending"], Date.now(), async () => {
      pendingEnded = true;
    });
    let release: () => void = () => undefined;
    let runningEnded = false;
    clock.begin(["running"], Date.now() - 3_600_000, async () => {
      await new Promise<void>((resolve) => {
        release = resolve;
      });
      runningEnded = true;
    });
    const stopped = clock.stop().then(() => runningEnded);
    release();
    expect(await stopped).toBe(true);
    lro.ms = 0;
    clock.faultsChanged();
    expect(await clock.ended("pending").then(() => pendingEnded)).toBe(false);
  });
});
