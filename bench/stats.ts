/** Small, pure statistics for the benchmark: no library needed for a median over a handful of runs. */

export interface Spread {
  runs: number;
  median: number;
  min: number;
  max: number;
}

/** Median, min and max of `samples` (seconds); throws on an empty list because a figure needs a sample. */
export function spread(samples: number[]): Spread {
  if (samples.length === 0) throw new Error("spread() needs at least one sample");
  const sorted = [...samples].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
  return { runs: sorted.length, median, min: sorted[0], max: sorted[sorted.length - 1] };
}

/** `a / b`, or null when either side is missing or `b` is zero (a ratio that cannot be stated). */
export function ratio(a: number | null, b: number | null): number | null {
  if (a === null || b === null || b === 0) return null;
  return a / b;
}

/** Seconds with two decimals, or "n/a". */
export function seconds(value: number | null | undefined): string {
  return value === null || value === undefined ? "n/a" : `${value.toFixed(2)} s`;
}

/** A ratio with two decimals, or "n/a". */
export function times(value: number | null | undefined): string {
  return value === null || value === undefined ? "n/a" : `${value.toFixed(2)}x`;
}

/** A share with one decimal as a percentage. */
export function percent(value: number | null | undefined): string {
  return value === null || value === undefined ? "n/a" : `${(value * 100).toFixed(1)} %`;
}

/**
 * Total length covered by possibly overlapping [start, end] intervals: time spent in at least one
 * of them, so concurrent waits are not counted twice.
 */
export function coveredLength(intervals: Array<[number, number]>): number {
  const sorted = intervals.filter(([a, b]) => b > a).sort((x, y) => x[0] - y[0]);
  let total = 0;
  let currentStart = Number.NEGATIVE_INFINITY;
  let currentEnd = Number.NEGATIVE_INFINITY;
  for (const [start, end] of sorted) {
    if (start > currentEnd) {
      if (currentEnd > currentStart) total += currentEnd - currentStart;
      currentStart = start;
      currentEnd = end;
    } else if (end > currentEnd) {
      currentEnd = end;
    }
  }
  if (currentEnd > currentStart) total += currentEnd - currentStart;
  return total;
}
