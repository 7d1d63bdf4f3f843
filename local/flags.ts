import type { Faults } from "../local-azure/index";

/**
 * Parsers for `npm run local` flag values: each returns the value or throws an Error whose message
 * says what is allowed (commander prefixes the flag and the value given).
 */

const IMDS_BURST_STATUSES = [404, 410, 429, 500, 503] as const;

function integer(text: string): number | null {
  return /^\d+$/.test(text.trim()) ? Number(text.trim()) : null;
}

function seconds(text: string): number | null {
  return /^\d+(\.\d+)?$/.test(text.trim()) ? Number(text.trim()) : null;
}

export function parseVmCount(text: string): number {
  const value = integer(text);
  if (value === null || value < 1 || value > 10) throw new Error("allowed: an integer from 1 to 10");
  return value;
}

export function parseTimeoutSeconds(text: string): number {
  const value = integer(text);
  if (value === null || value < 30 || value > 3600)
    throw new Error("allowed: an integer number of seconds from 30 to 3600");
  return value;
}

export function parseDelaySeconds(text: string): number {
  const value = seconds(text);
  if (value === null || value > 3600) throw new Error("allowed: a number of seconds from 0 to 3600, such as 2 or 0.5");
  return value;
}

export function parseCount(text: string): number {
  const value = integer(text);
  if (value === null || value < 1 || value > 1000) throw new Error("allowed: an integer count from 1 to 1000");
  return value;
}

export function parseImdsBurst(text: string): NonNullable<Faults["imdsBurst"]> {
  const match = /^(\d+):(\d+)$/.exec(text.trim());
  const status = match ? Number(match[1]) : Number.NaN;
  if (!match || !(IMDS_BURST_STATUSES as readonly number[]).includes(status)) {
    throw new Error(`allowed: STATUS:COUNT with STATUS one of ${IMDS_BURST_STATUSES.join(", ")} (e.g. 503:3)`);
  }
  return { status: status as NonNullable<Faults["imdsBurst"]>["status"], count: parseCount(match[2]) };
}

export function parseArmThrottle(text: string): Faults["armThrottle"] {
  const [count, retryAfter, ...rest] = text.trim().split(":");
  if (rest.length > 0 || integer(count ?? "") === null) {
    throw new Error("allowed: COUNT[:RETRY_AFTER_SECONDS] (e.g. 3 or 3:1)");
  }
  return {
    count: parseCount(count),
    retryAfterSeconds: retryAfter === undefined ? 1 : parseDelaySeconds(retryAfter),
  };
}
