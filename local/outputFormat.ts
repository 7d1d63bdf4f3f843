/**
 * Stack outputs printed the way `pulumi stack output` prints them. The values come from outputs.json,
 * where secrets are already "[secret]".
 */

/** A value on one line: strings as they are, everything else as compact JSON. */
export function outputValueText(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** `pulumi stack output`: "Current stack outputs (N):", then an OUTPUT / VALUE table sorted by name. */
export function outputsTable(outputs: Record<string, unknown>): string {
  const names = Object.keys(outputs).sort();
  if (names.length === 0) return "Current stack outputs (0):\n    No output values currently in this stack\n";
  const width = Math.max("OUTPUT".length, ...names.map((name) => name.length));
  const row = (name: string, value: string) => `    ${name.padEnd(width)}  ${value}`.trimEnd();
  const lines = [`Current stack outputs (${names.length}):`, row("OUTPUT", "VALUE")];
  for (const name of names) lines.push(row(name, outputValueText(outputs[name])));
  return `${lines.join("\n")}\n`;
}

/** `pulumi stack output --json`: all outputs as one JSON object (2-space indent), keys sorted. */
export function outputsJson(outputs: Record<string, unknown>): string {
  const sorted = Object.fromEntries(
    Object.keys(outputs)
      .sort()
      .map((name) => [name, outputs[name]]),
  );
  return `${JSON.stringify(sorted, null, 2)}\n`;
}

/** `pulumi stack output NAME [--json]`; throws naming the outputs that exist when NAME is not one. */
export function singleOutput(outputs: Record<string, unknown>, name: string, json: boolean): string {
  if (!Object.hasOwn(outputs, name)) {
    const known = Object.keys(outputs).sort();
    throw new Error(
      `current stack does not have output property '${name}' (outputs: ${known.length ? known.join(", ") : "none"})`,
    );
  }
  return json ? `${JSON.stringify(outputs[name], null, 2)}\n` : `${outputValueText(outputs[name])}\n`;
}
