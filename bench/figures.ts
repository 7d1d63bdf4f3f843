import { percent, seconds, times } from "./stats";

/**
 * One measured figure and how it was obtained. The table and the JSON both come from these, so a
 * number never appears without the method that produced it.
 */
export interface Figure {
  section: string;
  name: string;
  /** The raw value (seconds, a ratio, a count, a share 0..1, a yes/no), or null when not measurable. */
  value: number | boolean | string | null;
  unit: "s" | "ratio" | "count" | "share" | "verdict" | "text";
  /** How the figure was obtained: the command or API call, the runs, and what was subtracted. */
  how: string;
}

export function formatValue(figure: Figure): string {
  const { value, unit } = figure;
  if (value === null) return "n/a";
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (typeof value === "string") return value;
  switch (unit) {
    case "s":
      return seconds(value);
    case "ratio":
      return times(value);
    case "share":
      return percent(value);
    case "count":
      return String(value);
    default:
      return String(value);
  }
}

/** A plain-text table: section, figure, value, how (wrapped into its own column). */
export function renderTable(figures: Figure[]): string {
  const rows = figures.map((f) => [f.section, f.name, formatValue(f), f.how]);
  const header = ["section", "figure", "value", "how it was obtained"];
  const widths = [0, 1, 2].map((i) => Math.max(header[i].length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i < 3 ? cell.padEnd(widths[i]) : cell))
      .join("  ")
      .trimEnd();
  return [line(header), line(widths.map((w) => "-".repeat(w)).concat("-".repeat(18))), ...rows.map(line)].join("\n");
}
