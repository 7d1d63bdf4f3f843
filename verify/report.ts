import type { AccessCheck } from "./contract";

/**
 * The three ways `npm run verify` shows a re-judged accessCheck: a readable report, JSON, and a
 * Markdown table for a CI job summary. Every string from the evidence is made printable first.
 */

export interface Rejudged {
  accessCheck: AccessCheck;
  /** The stored `verified` disagreed with what the evidence says. */
  storedVerdictMismatch: boolean;
  storedVerified: boolean | undefined;
  /** "vm (identity)" of each result whose stored `verified` disagrees with its re-judged one. */
  mismatchedResults: string[];
}

/** Control characters (ANSI escapes, newlines…) escaped, so evidence cannot drive the terminal. */
export function printable(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point here.
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

function verdictLine(result: Rejudged): string {
  const { accessCheck } = result;
  const total = accessCheck.results.length;
  const good = accessCheck.results.filter((r) => r.verified).length;
  const what = accessCheck.expectation === "granted" ? "access" : "denial";
  return accessCheck.verified
    ? `VERIFIED: ${good} of ${total} result(s) proved the expected ${what}`
    : `NOT VERIFIED: ${good} of ${total} result(s) proved the expected ${what}`;
}

function mismatchLine(result: Rejudged): string | undefined {
  if (!result.storedVerdictMismatch) return undefined;
  const parts: string[] = [];
  if (result.storedVerified !== undefined && result.storedVerified !== result.accessCheck.verified) {
    parts.push(
      `The stored verdict said ${result.storedVerified ? "verified" : "not verified"}; the evidence says ${result.accessCheck.verified ? "verified" : "not verified"}.`,
    );
  }
  if (result.mismatchedResults.length > 0) {
    parts.push(
      `Stored per-result verdicts disagree with the evidence for: ${printable(result.mismatchedResults.join(", "))}.`,
    );
  }
  return parts.join(" ");
}

export function textReport(result: Rejudged): string {
  const lines: string[] = [`Expectation: ${result.accessCheck.expectation}`];
  for (const r of result.accessCheck.results) {
    lines.push("", `${printable(r.vm)} (${r.identity}): ${r.verified ? "verified" : "NOT verified"}`);
    for (const c of r.checks) lines.push(`  ${c.ok ? "✓" : "✗"} ${c.name}: ${printable(c.detail)}`);
  }
  const mismatch = mismatchLine(result);
  if (mismatch) lines.push("", mismatch);
  lines.push("", verdictLine(result));
  return `${lines.join("\n")}\n`;
}

export function jsonReport(result: Rejudged): string {
  return `${JSON.stringify({ ...result.accessCheck, storedVerdictMismatch: result.storedVerdictMismatch }, null, 2)}\n`;
}

const cell = (text: string) => printable(text).replace(/\|/g, "\\|");

export function markdownReport(result: Rejudged): string {
  const lines = [
    `### Access check: ${verdictLine(result)}`,
    "",
    `Expectation: **${result.accessCheck.expectation}**`,
    "",
  ];
  const mismatch = mismatchLine(result);
  if (mismatch) lines.push(`> ⚠️ ${mismatch}`, "");
  lines.push("| VM | identity | check | result | detail |", "|---|---|---|---|---|");
  for (const r of result.accessCheck.results) {
    for (const c of r.checks)
      lines.push(`| ${cell(r.vm)} | ${r.identity} | ${c.name} | ${c.ok ? "✅" : "❌"} | ${cell(c.detail)} |`);
  }
  return `${lines.join("\n")}\n`;
}
